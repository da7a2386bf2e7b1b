/* SPDX-License-Identifier: MIT */
/* libFuzzer target for the YAML reader alone: yaml_parse() with both
 * callbacks, walking every tree it hands out (the streamed `resources:`
 * items and each document) the way the compiler does, so a node with a bad
 * kind, length or item pointer is touched while its arena is still live.
 * Inputs over 64 KiB are skipped. */
#include "diag.h"
#include "yamltree.h"

#define FUZZ_MAX_INPUT (64u * 1024u)
#define FUZZ_MAX_WALK 200000u

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct Walk {
        size_t nodes;
        size_t bytes;
} Walk;

static void walk(Walk *w, const YamlNode *n, unsigned depth) {
        /* aliases make a DAG: bound the visit, not just the depth */
        if (!n || w->nodes >= FUZZ_MAX_WALK || depth > 1000)
                return;
        w->nodes++;
        switch (n->kind) {
        case YAML_KIND_MAP:
                for (uint32_t i = 0; i < n->n; i++) {
                        const YamlNode *k = n->items[2 * i];
                        if (yaml_is_scalar(k))
                                (void) yaml_map_get_field(n, k->str);
                        walk(w, k, depth + 1);
                        walk(w, n->items[2 * i + 1], depth + 1);
                }
                break;
        case YAML_KIND_SEQ:
                for (uint32_t i = 0; i < n->n; i++)
                        walk(w, n->items[i], depth + 1);
                break;
        default:
                /* a scalar's n is its length and str is NUL-terminated there */
                w->bytes += strlen(n->str);
                if (n->str[n->n] != '\0')
                        abort();
                break;
        }
        if (w->nodes % 64 == 0)
                free(yaml_describe(n));
}

static int on_resource(void *userdata, YamlArena *arena, YamlNode *item, size_t doc_index, size_t item_index) {
        walk(userdata, item, 0);
        return 0;
}

static int on_document(void *userdata, YamlArena *arena, YamlNode *root, size_t doc_index) {
        walk(userdata, root, 0);
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        if (size > FUZZ_MAX_INPUT)
                return 0;

        static const YamlCallbacks cb = { .resource = on_resource, .document = on_document };
        DiagList diags = {};
        Walk w = {};
        (void) yaml_parse("fuzz.yaml", (const char *) data, size, NULL, &diags, &cb, &w);
        for (size_t i = 0; i < diags.n; i++)
                free(diag_format(&diags.items[i]));
        diag_list_clear(&diags);
        return 0;
}
