/* SPDX-License-Identifier: MIT */
/* libyaml events → a tree of YamlNode in a bump arena, every node with its
 * line and column. Plain scalars are typed as Envoy's YAML loader types
 * them; aliases share the anchored node and are charged against a budget,
 * so a "billion laughs" document is refused after a bounded amount of work. */
#include <sys/stat.h>
#include <yaml.h>

#include "hashmap.h"
#include "sha256.h"
#include "yamltree.h"

const YamlLimits yaml_default_limits = {
        .max_file_size = 128u << 20,
        .max_depth = 128,
        .max_alias_nodes = 1000000,
};

/* ---- arena ---- */

#define ARENA_CHUNK_SIZE ((size_t) 64 << 10)

typedef struct ArenaChunk {
        struct ArenaChunk *prev;
        size_t size, used;
        max_align_t data[];
} ArenaChunk;

struct YamlArena {
        ArenaChunk *top;
        size_t n_chunks;
        ArenaChunk *spare; /* one released chunk kept: streaming resets often */
};

typedef struct ArenaMark {
        ArenaChunk *chunk;
        size_t used;
} ArenaMark;

YamlArena *yaml_arena_new(void) {
        return xcalloc(1, sizeof(YamlArena));
}

static void arena_release_to(YamlArena *a, ArenaMark m) {
        /* a release to the very start keeps one chunk for reuse */
        if (!m.chunk && a->top && a->n_chunks == 1) {
                a->top->used = 0;
                return;
        }
        while (a->top && a->top != m.chunk) {
                ArenaChunk *p = a->top->prev;
                if (!a->spare && a->top->size == ARENA_CHUNK_SIZE)
                        a->spare = a->top;
                else
                        free(a->top);
                a->top = p;
                a->n_chunks--;
        }
        if (a->top)
                a->top->used = m.used;
}

YamlArena *yaml_arena_free(YamlArena *a) {
        if (!a)
                return NULL;
        while (a->top) {
                ArenaChunk *p = a->top->prev;
                free(a->top);
                a->top = p;
        }
        free(a->spare);
        free(a);
        return NULL;
}

static ArenaMark arena_mark(YamlArena *a) {
        return (ArenaMark) { a->top, a->top ? a->top->used : 0 };
}

static void *arena_alloc(YamlArena *a, size_t n) {
        n = (n + 7) & ~(size_t) 7;
        if (!a->top || a->top->size - a->top->used < n) {
                size_t size = MAX(ARENA_CHUNK_SIZE, n);
                ArenaChunk *c;
                if (a->spare && size == ARENA_CHUNK_SIZE)
                        c = TAKE_PTR(a->spare);
                else
                        c = xmalloc(sizeof(ArenaChunk) + size);
                c->prev = a->top;
                c->size = size;
                c->used = 0;
                a->top = c;
                a->n_chunks++;
        }
        void *p = (char *) a->top->data + a->top->used;
        a->top->used += n;
        return p;
}

char *yaml_arena_strdup(YamlArena *a, const char *s) {
        size_t n = strlen(s);
        char *p = arena_alloc(a, n + 1);
        memcpy(p, s, n + 1);
        return p;
}

/* ---- scalar typing (Envoy's YAML dialect) ---- */

static bool scalar_in(const char *s, const char *const *list) {
        for (; *list; list++)
                if (streq(s, *list))
                        return true;
        return false;
}

static bool is_int_text(const char *s) {
        const char *p = s;
        if (*p == '-' || *p == '+')
                p++;
        if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
                p += 2;
                if (!*p)
                        return false;
                for (; *p; p++)
                        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f') || (*p >= 'A' && *p <= 'F')))
                                return false;
                return true;
        }
        if (!*p)
                return false;
        bool octal = p[0] == '0' && p[1];
        for (; *p; p++)
                if (*p < '0' || *p > (octal ? '7' : '9'))
                        return false;
        return true;
}

static bool is_float_text(const char *s) {
        static const char *const special[] = { ".inf", ".Inf", ".INF", "-.inf", "-.Inf", "-.INF",
                                               "+.inf", "+.Inf", "+.INF", ".nan", ".NaN", ".NAN", NULL };
        if (scalar_in(s, special))
                return true;
        const char *p = s;
        if (*p == '-' || *p == '+')
                p++;
        bool digits = false;
        while (*p >= '0' && *p <= '9')
                p++, digits = true;
        if (*p == '.') {
                p++;
                while (*p >= '0' && *p <= '9')
                        p++, digits = true;
        }
        if (!digits)
                return false;
        if (*p == 'e' || *p == 'E') {
                p++;
                if (*p == '-' || *p == '+')
                        p++;
                if (!(*p >= '0' && *p <= '9'))
                        return false;
                while (*p >= '0' && *p <= '9')
                        p++;
        }
        return *p == 0;
}

static YamlKind type_plain_scalar(const char *s, size_t len) {
        static const char *const nulls[] = { "~", "null", "Null", "NULL", NULL };
        static const char *const bools[] = { "y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE",
                                             "on", "On", "ON", "n", "N", "no", "No", "NO", "false",
                                             "False", "FALSE", "off", "Off", "OFF", NULL };
        if (len == 0)
                return YAML_KIND_NULL;
        char c = s[0];
        /* most scalars are names and addresses: decide on the first byte */
        if (len <= 5 && strchr("~nNyYtTfFoO", c)) {
                if (scalar_in(s, nulls))
                        return YAML_KIND_NULL;
                if (scalar_in(s, bools))
                        return YAML_KIND_BOOL;
        }
        if ((c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.') {
                if (is_int_text(s))
                        return YAML_KIND_INT;
                if (is_float_text(s))
                        return YAML_KIND_FLOAT;
        }
        return YAML_KIND_STRING;
}

/* ---- parser ---- */

typedef struct Anchor {
        YamlNode *node;
        size_t weight;
} Anchor;

typedef struct Frame {
        YamlNode *node;
        size_t items_start;
        size_t weight;
        char *anchor;
        bool skip_value;  /* the key just read was tagged !ignore */
        bool streaming;   /* top-level resources: items go to the callback */
        bool early;       /* a candidate for encode_early */
        ArenaMark item_mark;
        size_t anchors_at_item;
} Frame;

typedef struct Parser {
        const char *file;
        const YamlLimits *limits;
        DiagList *diags;
        const YamlCallbacks *cb;
        void *userdata;
        YamlArena *arena;
        yaml_parser_t yp;

        Frame *frames;
        size_t n_frames, cap_frames;
        YamlNode **items;
        size_t n_items, cap_items;
        Hashmap anchors;
        char **anchor_names;
        size_t n_anchor_names, cap_anchor_names;
        size_t alias_nodes;
        size_t doc_index;
        size_t n_streamed;
        bool seen_type_key; /* "@type" at document top level */
        int error;
} Parser;

static void parser_error(Parser *p, const yaml_mark_t *m, const char *fmt, ...) _printf_(3, 4);
static void parser_error(Parser *p, const yaml_mark_t *m, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        diag_addv(p->diags, DIAG_ERROR, p->file, m ? (unsigned) m->line + 1 : 0,
                  m ? (unsigned) m->column + 1 : 0, NULL, fmt, ap);
        va_end(ap);
        if (p->error == 0)
                p->error = -EBADMSG;
}

static void push_item(Parser *p, YamlNode *n) {
        if (p->n_items == p->cap_items) {
                p->cap_items = p->cap_items ? p->cap_items * 2 : 256;
                p->items = xrealloc(p->items, p->cap_items * sizeof(YamlNode *));
        }
        p->items[p->n_items++] = n;
}

static YamlNode *new_node(YamlArena *a, YamlKind kind, const yaml_mark_t *m) {
        YamlNode *n = arena_alloc(a, sizeof(YamlNode));
        *n = (YamlNode) { .kind = kind, .line = (uint32_t) m->line + 1, .column = (uint32_t) m->column + 1 };
        return n;
}

static bool is_string_tag(const yaml_char_t *tag) {
        return tag && (streq((const char *) tag, "!") || streq((const char *) tag, YAML_STR_TAG));
}

static bool is_ignore_tag(const yaml_char_t *tag) {
        return tag && streq((const char *) tag, "!ignore");
}

static void register_anchor(Parser *p, const yaml_char_t *name, YamlNode *n, size_t weight) {
        if (!name)
                return;
        if (p->n_anchor_names == p->cap_anchor_names) {
                p->cap_anchor_names = p->cap_anchor_names ? p->cap_anchor_names * 2 : 16;
                p->anchor_names = xrealloc(p->anchor_names, p->cap_anchor_names * sizeof(char *));
        }
        char *key = xstrdup((const char *) name);
        p->anchor_names[p->n_anchor_names++] = key;
        Anchor *a = xmalloc(sizeof(Anchor));
        *a = (Anchor) { n, weight };
        free(hashmap_put(&p->anchors, key, strlen(key), a));
}

static void clear_anchors(Parser *p) {
        for (size_t i = 0; i < p->anchors.cap; i++)
                if (p->anchors.entries && p->anchors.entries[i].key)
                        free(p->anchors.entries[i].value);
        hashmap_free(&p->anchors);
        for (size_t i = 0; i < p->n_anchor_names; i++)
                free(p->anchor_names[i]);
        p->n_anchor_names = 0;
}

/* A key of the map being built is complete: the map's pending items are
 * (k0, v0, ..., k) — check k against the earlier keys. */
static void check_duplicate_key(Parser *p, Frame *f, YamlNode *key) {
        /* keys sit at items_start, items_start+2, ...; the new one is last */
        for (size_t i = f->items_start; i + 1 < p->n_items; i += 2) {
                YamlNode *k = p->items[i];
                if (yaml_is_scalar(k) && k->n == key->n && memcmp(k->str, key->str, k->n) == 0) {
                        yaml_mark_t m = { .line = key->line - 1, .column = key->column - 1 };
                        parser_error(p, &m, "duplicate key '%s' (first given at line %u, column %u)",
                                     key->str, k->line, k->column);
                        return;
                }
        }
}

/* A finished node becomes an item of the enclosing collection. */
static int add_to_parent(Parser *p, YamlNode *n, size_t weight) {
        if (p->n_frames == 0) {
                push_item(p, n);
                return 0;
        }
        Frame *f = &p->frames[p->n_frames - 1];
        bool is_key = f->node->kind == YAML_KIND_MAP && ((p->n_items - f->items_start) % 2 == 0);
        if (f->skip_value && !is_key) {
                /* drop the !ignore key and this value */
                f->skip_value = false;
                p->n_items--;
                return 0;
        }
        if (f->streaming) {
                int r = p->cb->resource(p->userdata, p->arena, n, p->doc_index, p->n_streamed++);
                if (r < 0)
                        return r;
                if (p->n_anchor_names == f->anchors_at_item)
                        arena_release_to(p->arena, f->item_mark);
                f->item_mark = arena_mark(p->arena);
                f->anchors_at_item = p->n_anchor_names;
                return 0;
        }
        f->weight += weight;
        push_item(p, n);
        if (is_key) {
                if (!yaml_is_scalar(n)) {
                        yaml_mark_t m = { .line = n->line - 1, .column = n->column - 1 };
                        parser_error(p, &m, "mapping keys must be scalars");
                } else
                        check_duplicate_key(p, f, n);
                if (p->n_frames == 1 && yaml_is_scalar(n) && streq(n->str, "@type"))
                        p->seen_type_key = true;
        }
        return 0;
}

static int handle_scalar(Parser *p, yaml_event_t *e) {
        const char *value = (const char *) e->data.scalar.value;
        size_t len = e->data.scalar.length;
        if (memchr(value, 0, len)) {
                parser_error(p, &e->start_mark, "scalar contains a NUL character");
                return 0;
        }
        YamlNode *n = new_node(p->arena, YAML_KIND_STRING, &e->start_mark);
        char *s = arena_alloc(p->arena, len + 1);
        memcpy(s, value, len);
        s[len] = 0;
        n->str = s;
        n->n = (uint32_t) len;
        if (e->data.scalar.style != YAML_PLAIN_SCALAR_STYLE || is_string_tag(e->data.scalar.tag))
                n->quoted = 1;
        else
                n->kind = type_plain_scalar(s, len);

        if (p->n_frames > 0) {
                Frame *f = &p->frames[p->n_frames - 1];
                bool is_key = f->node->kind == YAML_KIND_MAP && ((p->n_items - f->items_start) % 2 == 0);
                if (is_key && is_ignore_tag(e->data.scalar.tag)) {
                        push_item(p, n); /* placeholder, removed with the value */
                        f->skip_value = true;
                        return 0;
                }
        }
        register_anchor(p, e->data.scalar.anchor, n, 1);
        return add_to_parent(p, n, 1);
}

static int handle_start(Parser *p, yaml_event_t *e, YamlKind kind) {
        if (p->n_frames >= p->limits->max_depth) {
                parser_error(p, &e->start_mark, "nesting deeper than %u levels", p->limits->max_depth);
                return -EBADMSG;
        }
        const yaml_char_t *anchor = kind == YAML_KIND_MAP ? e->data.mapping_start.anchor : e->data.sequence_start.anchor;
        if (p->n_frames == p->cap_frames) {
                p->cap_frames = p->cap_frames ? p->cap_frames * 2 : 32;
                p->frames = xrealloc(p->frames, p->cap_frames * sizeof(Frame));
        }
        Frame *parent = p->n_frames > 0 ? &p->frames[p->n_frames - 1] : NULL;
        bool streaming = false;
        if (kind == YAML_KIND_SEQ && p->cb && p->cb->resource && p->n_frames == 1 && parent &&
            parent->node->kind == YAML_KIND_MAP && !parent->skip_value && !p->seen_type_key &&
            p->n_items > parent->items_start && (p->n_items - parent->items_start) % 2 == 1 && !anchor) {
                YamlNode *key = p->items[p->n_items - 1];
                streaming = yaml_is_scalar(key) && streq(key->str, "resources");
        }
        Frame *f = &p->frames[p->n_frames++];
        *f = (Frame) {
                .node = new_node(p->arena, kind, &e->start_mark),
                .items_start = p->n_items,
                .weight = 1,
                .anchor = anchor ? xstrdup((const char *) anchor) : NULL,
                .streaming = streaming,
        };
        if (streaming) {
                f->node->flags |= YAML_FLAG_STREAMED;
                f->item_mark = arena_mark(p->arena);
                f->anchors_at_item = p->n_anchor_names;
        }
        /* frames: 0 document, 1 resources (streamed), 2 a resource, 3+ inside */
        if (kind == YAML_KIND_MAP && p->cb->encode_early && p->n_frames >= 5 && p->frames[1].streaming &&
            parent->node->kind == YAML_KIND_SEQ) {
                f->early = true;
                f->item_mark = arena_mark(p->arena);
                f->anchors_at_item = p->n_anchor_names;
        }
        return 0;
}

/* The path from the streamed resource (frame 2) to frame k, and the
 * resource's "@type" if it came before. */
static YamlNode *early_encode(Parser *p, Frame *f, YamlNode *n) {
        size_t k = p->n_frames - 1;
        YamlPathSegment path[64];
        if (k - 2 > ELEMENTSOF(path) || p->error < 0 || f->anchor)
                return NULL;
        for (size_t j = 3; j <= k; j++) {
                Frame *parent = &p->frames[j - 1];
                if (parent->node->kind == YAML_KIND_MAP) {
                        YamlNode *key = p->items[p->frames[j].items_start - 1];
                        if (!yaml_is_scalar(key))
                                return NULL;
                        path[j - 3] = (YamlPathSegment) { .key = key->str };
                } else
                        path[j - 3] = (YamlPathSegment) { .index = p->frames[j].items_start - parent->items_start };
        }
        const char *type = NULL;
        Frame *res = &p->frames[2];
        for (size_t i = res->items_start; i + 1 < p->frames[3].items_start; i += 2)
                if (yaml_is_scalar(p->items[i]) && streq(p->items[i]->str, "@type") && p->items[i + 1]->kind == YAML_KIND_STRING)
                        type = p->items[i + 1]->str;
        Buf bytes = {};
        if (!p->cb->encode_early(p->userdata, type, path, k - 2, n, p->n_streamed, &bytes))
                return NULL;
        uint32_t line = n->line, column = n->column;
        if (p->n_anchor_names == f->anchors_at_item)
                arena_release_to(p->arena, f->item_mark);
        YamlNode *e = arena_alloc(p->arena, sizeof(YamlNode));
        char *data = arena_alloc(p->arena, MAX(bytes.len, 1));
        if (bytes.len)
                memcpy(data, bytes.data, bytes.len);
        *e = (YamlNode) { .kind = YAML_KIND_ENCODED, .line = line, .column = column, .n = (uint32_t) bytes.len, .str = data };
        buf_free(&bytes);
        return e;
}

static int handle_end(Parser *p) {
        Frame *f = &p->frames[p->n_frames - 1];
        YamlNode *n = f->node;
        size_t count = p->n_items - f->items_start;
        if (f->skip_value) /* "!ignore" key with no value */
                count--, p->n_items--;
        n->items = arena_alloc(p->arena, MAX(count, 1) * sizeof(YamlNode *));
        if (count > 0)
                memcpy(n->items, p->items + f->items_start, count * sizeof(YamlNode *));
        n->n = (uint32_t) (n->kind == YAML_KIND_MAP ? count / 2 : count);
        if (f->early) {
                YamlNode *e = early_encode(p, f, n);
                if (e)
                        n = e;
        }
        p->n_items = f->items_start;
        size_t weight = f->weight;
        _cleanup_free_ char *anchor = f->anchor;
        p->n_frames--;
        if (anchor)
                register_anchor(p, (const yaml_char_t *) anchor, n, weight);
        return add_to_parent(p, n, weight);
}

static int handle_alias(Parser *p, yaml_event_t *e) {
        const char *name = (const char *) e->data.alias.anchor;
        Anchor *a = hashmap_get(&p->anchors, name, strlen(name));
        if (!a) {
                parser_error(p, &e->start_mark, "alias *%s refers to no anchor", name);
                return 0;
        }
        p->alias_nodes += a->weight;
        if (p->alias_nodes > p->limits->max_alias_nodes) {
                parser_error(p, &e->start_mark,
                             "aliases expand to more than %zu nodes (a \"billion laughs\" document?)",
                             p->limits->max_alias_nodes);
                return -EBADMSG;
        }
        if (p->n_frames > 0) {
                Frame *f = &p->frames[p->n_frames - 1];
                bool is_key = f->node->kind == YAML_KIND_MAP && ((p->n_items - f->items_start) % 2 == 0);
                if (is_key && !yaml_is_scalar(a->node)) {
                        parser_error(p, &e->start_mark, "mapping keys must be scalars");
                        return 0;
                }
        }
        return add_to_parent(p, a->node, a->weight);
}

static void reader_error(Parser *p, const char *data, size_t len, FILE *f) {
        yaml_parser_t *yp = &p->yp;
        const char *what = yp->problem ? yp->problem : "malformed YAML";
        if (yp->error == YAML_READER_ERROR) {
                /* libyaml reports encoding problems with a byte offset only */
                unsigned line = 1, column = 1;
                if (f)
                        rewind(f);
                for (size_t i = 0; i < yp->problem_offset; i++) {
                        int c = f ? getc(f) : i < len ? (unsigned char) data[i] : EOF;
                        if (c == EOF)
                                break;
                        if (c == '\n')
                                line++, column = 1;
                        else if ((c & 0xc0) != 0x80)
                                column++;
                }
                diag_add(p->diags, DIAG_ERROR, p->file, line, column, NULL, "%s (files must be UTF-8)", what);
        } else if (yp->context)
                diag_add(p->diags, DIAG_ERROR, p->file, (unsigned) yp->problem_mark.line + 1,
                         (unsigned) yp->problem_mark.column + 1, NULL, "%s %s", yp->context, what);
        else
                diag_add(p->diags, DIAG_ERROR, p->file, (unsigned) yp->problem_mark.line + 1,
                         (unsigned) yp->problem_mark.column + 1, NULL, "%s", what);
        p->error = -EBADMSG;
}

typedef struct HashingReader {
        FILE *f;
        Sha256 md;
        bool hashing;
} HashingReader;
static int read_and_hash(void *data, unsigned char *buffer, size_t size, size_t *size_read);

static int parse_input(const char *file_name, const char *data, size_t len, HashingReader *f, const YamlLimits *limits,
                       DiagList *diags, const YamlCallbacks *cb, void *userdata) {
        static const YamlCallbacks no_callbacks = {};
        Parser p = {
                .file = file_name,
                .limits = limits ? limits : &yaml_default_limits,
                .diags = diags,
                .cb = cb ? cb : &no_callbacks,
                .userdata = userdata,
        };
        if (len > p.limits->max_file_size) {
                char limit[FORMAT_BYTES_MAX];
                diag_add(diags, DIAG_ERROR, file_name, 0, 0, NULL, "file is larger than %s",
                         format_bytes(p.limits->max_file_size, limit));
                return -EBADMSG;
        }
        if (!yaml_parser_initialize(&p.yp))
                abort();
        if (f)
                yaml_parser_set_input(&p.yp, read_and_hash, f);
        else
                yaml_parser_set_input_string(&p.yp, (const unsigned char *) data, len);
        p.arena = yaml_arena_new();
        size_t diags_start = diags->n;
        int r = 0;
        bool done = false;
        while (!done && r >= 0) {
                yaml_event_t e;
                if (!yaml_parser_parse(&p.yp, &e)) {
                        /* a file that is not UTF-8 is not source: what the
                         * callbacks said of its first part, quoting it, goes */
                        if (p.yp.error == YAML_READER_ERROR)
                                diag_list_truncate(diags, diags_start);
                        reader_error(&p, data, len, f ? f->f : NULL);
                        break;
                }
                switch (e.type) {
                case YAML_STREAM_END_EVENT:
                        done = true;
                        break;
                case YAML_DOCUMENT_START_EVENT:
                        p.n_items = 0;
                        p.alias_nodes = 0;
                        p.n_streamed = 0;
                        p.seen_type_key = false;
                        break;
                case YAML_DOCUMENT_END_EVENT:
                        if (p.n_items == 1 && p.error == 0 && p.cb->document)
                                r = p.cb->document(userdata, p.arena, p.items[0], p.doc_index);
                        p.doc_index++;
                        p.n_items = 0;
                        clear_anchors(&p);
                        arena_release_to(p.arena, (ArenaMark) {});
                        break;
                case YAML_SCALAR_EVENT:
                        r = handle_scalar(&p, &e);
                        break;
                case YAML_SEQUENCE_START_EVENT:
                        r = handle_start(&p, &e, YAML_KIND_SEQ);
                        break;
                case YAML_MAPPING_START_EVENT:
                        r = handle_start(&p, &e, YAML_KIND_MAP);
                        break;
                case YAML_SEQUENCE_END_EVENT:
                case YAML_MAPPING_END_EVENT:
                        r = handle_end(&p);
                        break;
                case YAML_ALIAS_EVENT:
                        r = handle_alias(&p, &e);
                        break;
                default:
                        break;
                }
                yaml_event_delete(&e);
        }
        for (size_t i = 0; i < p.n_frames; i++)
                free(p.frames[i].anchor);
        clear_anchors(&p);
        free(p.anchor_names);
        free(p.frames);
        free(p.items);
        yaml_parser_delete(&p.yp);
        yaml_arena_free(p.arena);
        if (r < 0)
                return r;
        return p.error;
}

int yaml_parse(const char *file_name, const char *data, size_t len, const YamlLimits *limits,
               DiagList *diags, const YamlCallbacks *cb, void *userdata) {
        return parse_input(file_name, data, len, NULL, limits, diags, cb, userdata);
}

static int read_and_hash(void *data, unsigned char *buffer, size_t size, size_t *size_read) {
        HashingReader *h = data;
        *size_read = fread(buffer, 1, size, h->f);
        if (*size_read > 0 && h->hashing)
                sha256_update(&h->md, buffer, *size_read);
        return !ferror(h->f);
}

int yaml_parse_file(const char *path, const YamlLimits *limits, DiagList *diags, const YamlCallbacks *cb,
                    void *userdata, char ret_sha256[65]) {
        int fd = open_regular(path);
        if (fd < 0)
                return fd;
        _cleanup_fclose_ FILE *f = fdopen(fd, "re");
        if (!f) {
                int r = -errno;
                close(fd);
                return r;
        }
        struct stat st;
        if (fstat(fd, &st) < 0)
                return -errno;
        HashingReader h = { .f = f };
        if (ret_sha256) {
                sha256_init(&h.md);
                h.hashing = true;
        }
        /* the size check of parse_input happens before anything is read */
        int r = parse_input(path, NULL, (size_t) st.st_size, &h, limits, diags, cb, userdata);
        if (h.hashing) {
                /* the digest covers the whole file even when parsing stopped early */
                unsigned char buf[65536];
                size_t n;
                while ((n = fread(buf, 1, sizeof buf, f)) > 0)
                        sha256_update(&h.md, buf, n);
                sha256_final_hex(&h.md, ret_sha256, 64);
        }
        return r;
}

/* ---- tree access and construction ---- */

YamlNode *yaml_map_get(const YamlNode *map, const char *key) {
        if (!map || map->kind != YAML_KIND_MAP)
                return NULL;
        for (uint32_t i = 0; i < map->n; i++) {
                YamlNode *k = map->items[2 * i];
                if (yaml_is_scalar(k) && streq(k->str, key))
                        return map->items[2 * i + 1];
        }
        return NULL;
}

static bool key_matches_field(const char *key, const char *snake) {
        /* key equals snake, or equals its lowerCamelCase */
        if (streq(key, snake))
                return true;
        const char *k = key;
        for (const char *s = snake; *s; s++) {
                if (*s == '_' && s[1]) {
                        s++;
                        char up = *s >= 'a' && *s <= 'z' ? (char) (*s - 'a' + 'A') : *s;
                        if (*k++ != up)
                                return false;
                } else if (*k++ != *s)
                        return false;
        }
        return *k == 0;
}

YamlNode *yaml_map_get_field(const YamlNode *map, const char *snake_name) {
        if (!map || map->kind != YAML_KIND_MAP)
                return NULL;
        for (uint32_t i = 0; i < map->n; i++) {
                YamlNode *k = map->items[2 * i];
                if (yaml_is_scalar(k) && key_matches_field(k->str, snake_name))
                        return map->items[2 * i + 1];
        }
        return NULL;
}

static const char *const yaml_kind_table[_YAML_KIND_MAX] = {
        [YAML_KIND_NULL] = "null",     [YAML_KIND_BOOL] = "boolean", [YAML_KIND_INT] = "integer",
        [YAML_KIND_FLOAT] = "number",  [YAML_KIND_STRING] = "string", [YAML_KIND_MAP] = "mapping",
        [YAML_KIND_SEQ] = "sequence",  [YAML_KIND_ENCODED] = "message",
};

const char *yaml_kind_to_string(YamlKind k) {
        return k < _YAML_KIND_MAX ? yaml_kind_table[k] : NULL;
}

char *yaml_describe(const YamlNode *n) {
        switch (n->kind) {
        case YAML_KIND_MAP:
                return xstrdup("a mapping");
        case YAML_KIND_SEQ:
                return xstrdup("a list");
        case YAML_KIND_NULL:
                return xstrdup("null");
        case YAML_KIND_ENCODED:
                return xstrdup("a mapping");
        case YAML_KIND_STRING: {
                /* an excerpt: the value may be a secret of a file that is no source */
                _cleanup_free_ char *shown = diag_shown(n->str, 40);
                return xasprintf("the string \"%s\"", shown);
        }
        default: {
                _cleanup_free_ char *shown = diag_shown(n->str, 40);
                return xasprintf("the %s %s", yaml_kind_to_string(n->kind), shown);
        }
        }
}

YamlNode *yaml_new_scalar(YamlArena *a, YamlKind kind, const char *str, const YamlNode *at) {
        YamlNode *n = arena_alloc(a, sizeof(YamlNode));
        *n = (YamlNode) {
                .kind = kind,
                .quoted = kind == YAML_KIND_STRING,
                .line = at ? at->line : 0,
                .column = at ? at->column : 0,
                .n = (uint32_t) strlen(str),
                .str = yaml_arena_strdup(a, str),
        };
        return n;
}

YamlNode *yaml_new_collection(YamlArena *a, YamlKind kind, const YamlNode *at) {
        YamlNode *n = arena_alloc(a, sizeof(YamlNode));
        *n = (YamlNode) { .kind = kind, .line = at ? at->line : 0, .column = at ? at->column : 0 };
        return n;
}

static void grow_items(YamlArena *a, YamlNode *n, size_t want) {
        /* arena memory is not reallocated: copy into a larger array */
        YamlNode **items = arena_alloc(a, want * sizeof(YamlNode *));
        size_t have = n->kind == YAML_KIND_MAP ? 2 * (size_t) n->n : n->n;
        if (have)
                memcpy(items, n->items, have * sizeof(YamlNode *));
        n->items = items;
}

void yaml_seq_append(YamlArena *a, YamlNode *seq, YamlNode *item) {
        grow_items(a, seq, (size_t) seq->n + 1);
        seq->items[seq->n++] = item;
}

void yaml_map_set(YamlArena *a, YamlNode *map, const char *key, YamlNode *value) {
        yaml_map_remove_field(map, key);
        grow_items(a, map, 2 * ((size_t) map->n + 1));
        map->items[2 * map->n] = yaml_new_scalar(a, YAML_KIND_STRING, key, value);
        map->items[2 * map->n + 1] = value;
        map->n++;
}

bool yaml_map_remove_field(YamlNode *map, const char *snake_name) {
        bool found = false;
        for (uint32_t i = 0; i < map->n;) {
                YamlNode *k = map->items[2 * i];
                if (yaml_is_scalar(k) && key_matches_field(k->str, snake_name)) {
                        memmove(&map->items[2 * i], &map->items[2 * i + 2], 2 * (map->n - i - 1) * sizeof(YamlNode *));
                        map->n--;
                        found = true;
                } else
                        i++;
        }
        return found;
}
