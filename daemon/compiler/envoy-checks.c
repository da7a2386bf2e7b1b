/* SPDX-License-Identifier: MIT */
/* Runs Envoy's load-time checks (envoy-checks.h): the families' tables
 * joined into one index by message name, and what the checks share. */
#include "envoy-checks.h"

#include <stdarg.h>

#include "hashmap.h"

/* A message's checks: the index's values, chained when several families
 * check one message. */
typedef struct CheckList {
        CheckFunction run;
        struct CheckList *next;
} CheckList;

static const Check *const families[] = {
        envoy_checks_address, envoy_checks_cluster, envoy_checks_extension, envoy_checks_listener,
        envoy_checks_route,   envoy_checks_tls,     envoy_checks_hcm,
};

static Hashmap index_by_message;
static CheckList *index_storage;

static void build_index(void) {
        size_t n = 0;
        for (size_t f = 0; f < ELEMENTSOF(families); f++)
                for (const Check *c = families[f]; c->message; c++)
                        n++;
        index_storage = xcalloc(n ? n : 1, sizeof(CheckList));
        size_t i = 0;
        for (size_t f = 0; f < ELEMENTSOF(families); f++)
                for (const Check *c = families[f]; c->message; c++) {
                        CheckList *l = &index_storage[i++];
                        l->run = c->run;
                        l->next = hashmap_get(&index_by_message, c->message, strlen(c->message));
                        hashmap_put(&index_by_message, c->message, strlen(c->message), l);
                }
}

void envoy_checks_run(CheckContext *c, const SchemaMessage *m, const YamlNode *node) {
        if (!index_storage)
                build_index();
        for (const CheckList *l = hashmap_get(&index_by_message, m->full_name, strlen(m->full_name)); l; l = l->next)
                l->run(c, node);
}

_printf_(6, 0) static void check_vdiag(CheckContext *c, DiagLevel level, const YamlNode *at, const char *field,
                                      const char *rule, const char *fmt, va_list ap) {
        size_t saved = c->report->path.len;
        if (field && *field) {
                if (c->report->path.len > 0 && field[0] != '[')
                        buf_putc(&c->report->path, '.');
                buf_append(&c->report->path, field, strlen(field));
        }
        _cleanup_free_ char *text = xvasprintf(fmt, ap);
        reporter_rule_diag(c->report, level, at, rule, "%s", text);
        reporter_pop(c->report, saved);
}

void check_error(CheckContext *c, const YamlNode *at, const char *field, const char *rule, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        check_vdiag(c, DIAG_ERROR, at, field, rule, fmt, ap);
        va_end(ap);
}

void check_warning(CheckContext *c, const YamlNode *at, const char *field, const char *rule, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        check_vdiag(c, DIAG_WARNING, at, field, rule, fmt, ap);
        va_end(ap);
}

const char *check_scalar(const YamlNode *map, const char *field) {
        const YamlNode *v = map && map->kind == YAML_KIND_MAP ? yaml_map_get_field(map, field) : NULL;
        return v && yaml_is_scalar(v) ? v->str : NULL;
}

const YamlNode *check_map(const YamlNode *map, const char *field) {
        const YamlNode *v = map && map->kind == YAML_KIND_MAP ? yaml_map_get_field(map, field) : NULL;
        return v && v->kind == YAML_KIND_MAP ? v : NULL;
}

const YamlNode *check_seq(const YamlNode *map, const char *field) {
        const YamlNode *v = map && map->kind == YAML_KIND_MAP ? yaml_map_get_field(map, field) : NULL;
        return v && v->kind == YAML_KIND_SEQ ? v : NULL;
}

bool check_enum_is(const YamlNode *map, const char *field, const char *name, int number, bool is_default) {
        const char *v = check_scalar(map, field);
        if (!v)
                return is_default;
        if (streq(v, name))
                return true;
        char *end;
        long x = strtol(v, &end, 10);
        return *v && !*end && x == number;
}

bool check_true(const YamlNode *map, const char *field) {
        const YamlNode *v = map && map->kind == YAML_KIND_MAP ? yaml_map_get_field(map, field) : NULL;
        if (v && v->kind == YAML_KIND_MAP)
                v = yaml_map_get_field(v, "value");
        if (!v || !yaml_is_scalar(v))
                return false;
        static const char *const truthy[] = { "y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON" };
        if (v->kind == YAML_KIND_STRING)
                return streq(v->str, "true");
        if (v->kind != YAML_KIND_BOOL)
                return false;
        for (size_t i = 0; i < ELEMENTSOF(truthy); i++)
                if (streq(v->str, truthy[i]))
                        return true;
        return false;
}
