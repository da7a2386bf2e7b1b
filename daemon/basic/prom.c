/* SPDX-License-Identifier: MIT */
/* Prometheus text format pieces (prom.h). */
#include "prom.h"

void prom_family(Buf *b, const char *name, const char *type, const char *help) {
        buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void prom_put_label(Buf *b, const char *v) {
        for (; *v; v++)
                if (*v == '\\' || *v == '"')
                        buf_printf(b, "\\%c", *v);
                else if (*v == '\n')
                        buf_printf(b, "\\n");
                else
                        buf_putc(b, (uint8_t) *v);
}
