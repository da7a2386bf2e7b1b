/* SPDX-License-Identifier: MIT */
/* YAML → node tree with line and column on every node, typed the way
 * Envoy's YAML loader types plain scalars. Bounded: file size, nesting
 * depth and alias expansion. The top-level `resources:` sequence of a
 * document is streamed item by item so a large file never has to be held
 * as one tree. */
#pragma once

#include "diag.h"
#include "util.h"

typedef enum YamlKind {
        YAML_KIND_NULL,
        YAML_KIND_BOOL,
        YAML_KIND_INT,
        YAML_KIND_FLOAT,
        YAML_KIND_STRING,
        YAML_KIND_MAP,
        YAML_KIND_SEQ,
        YAML_KIND_ENCODED, /* a subtree already encoded (str, n: its wire bytes) */
        _YAML_KIND_MAX,
} YamlKind;

typedef struct YamlNode YamlNode;
struct YamlNode {
        uint8_t kind;   /* YamlKind */
        uint8_t quoted; /* scalar was quoted or tagged as a string */
        uint16_t flags;
        uint32_t line;   /* 1-based */
        uint32_t column; /* 1-based */
        uint32_t n;      /* scalar: byte length; map: pairs; seq: items */
        union {
                const char *str;  /* scalars, NUL-terminated */
                YamlNode **items; /* seq: n items; map: 2n (key, value, ...) */
        };
};

#define YAML_FLAG_STREAMED 0x1u /* seq whose items went to the resource callback */

typedef struct YamlLimits {
        size_t max_file_size;   /* bytes */
        unsigned max_depth;     /* nesting of collections */
        size_t max_alias_nodes; /* nodes reachable through aliases, per document */
} YamlLimits;

extern const YamlLimits yaml_default_limits;

typedef struct YamlArena YamlArena;

/* One step from a resource's root to a node inside it: a key or an index. */
typedef struct YamlPathSegment {
        const char *key; /* NULL for a sequence index */
        size_t index;
} YamlPathSegment;

typedef struct YamlCallbacks {
        /* An item of a document's top-level `resources:` sequence, complete.
         * The item's memory is reused after the call unless it defines an
         * anchor. Return <0 to stop. May be NULL: then nothing is streamed. */
        int (*resource)(void *userdata, YamlArena *arena, YamlNode *item, size_t doc_index,
                        size_t item_index);
        /* A whole document; a streamed `resources:` is an empty sequence
         * flagged YAML_FLAG_STREAMED. Return <0 to stop. */
        int (*document)(void *userdata, YamlArena *arena, YamlNode *root, size_t doc_index);
        /* A mapping that is an item of a sequence inside a streamed resource
         * is complete (path: from the resource's root to it; type: the
         * resource's "@type" when it came first, else NULL). Returning true
         * with its encoding in ret replaces the subtree by a
         * YAML_KIND_ENCODED node and reuses its memory, so one huge resource
         * is not held as a tree either. May be NULL. */
        bool (*encode_early)(void *userdata, const char *type, const YamlPathSegment *path, size_t n_path,
                             const YamlNode *node, size_t item_index, Buf *ret);
} YamlCallbacks;

/* Parses data (file_name is for diagnostics). Returns 0 when the YAML was
 * well formed (diagnostics may still hold warnings), -EBADMSG after syntax
 * or limit errors (in diags), or a callback's negative return. */
int yaml_parse(const char *file_name, const char *data, size_t len, const YamlLimits *limits,
               DiagList *diags, const YamlCallbacks *cb, void *userdata);

/* The same, reading the file in chunks (no copy of it in memory), and
 * hashing what it reads into ret_sha256 (hex, optional). Returns -errno
 * when the file cannot be opened. */
int yaml_parse_file(const char *path, const YamlLimits *limits, DiagList *diags, const YamlCallbacks *cb,
                    void *userdata, char ret_sha256[65]);

/* Map lookup by exact key; NULL when absent or not a map. */
YamlNode *yaml_map_get(const YamlNode *map, const char *key);
/* Map lookup accepting snake_case or its lowerCamelCase. */
YamlNode *yaml_map_get_field(const YamlNode *map, const char *snake_name);
static inline bool yaml_is_scalar(const YamlNode *n) {
        return n && n->kind < YAML_KIND_MAP;
}
const char *yaml_kind_to_string(YamlKind k);
/* Human form of what a node is: "a mapping", "the number 12", "the string \"x\"". */
char *yaml_describe(const YamlNode *n);

/* Building nodes (for expansions and rewrites); memory lives in the arena. */
YamlNode *yaml_new_scalar(YamlArena *a, YamlKind kind, const char *str, const YamlNode *at);
YamlNode *yaml_new_collection(YamlArena *a, YamlKind kind, const YamlNode *at);
/* Appends to a seq, or a key/value pair to a map (keys are strings). */
void yaml_seq_append(YamlArena *a, YamlNode *seq, YamlNode *item);
void yaml_map_set(YamlArena *a, YamlNode *map, const char *key, YamlNode *value);
/* Removes a key (and its camelCase twin); returns whether one was there. */
bool yaml_map_remove_field(YamlNode *map, const char *snake_name);
char *yaml_arena_strdup(YamlArena *a, const char *s);

/* Standalone arena for trees built by hand. */
YamlArena *yaml_arena_new(void);
YamlArena *yaml_arena_free(YamlArena *a);
DEFINE_TRIVIAL_CLEANUP_FUNC(YamlArena *, yaml_arena_free);
