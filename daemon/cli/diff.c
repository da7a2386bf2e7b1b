/* SPDX-License-Identifier: MIT */
/* diff: what the source tree would change against what is live, the
 * "plan" before an edit lands and a CI gate. Each node is built as fsxdsd
 * builds it (one source cache, its config sources wired for output_dir
 * and publish_mode) and compared with what its directory in output_dir
 * holds, file by file and, in a changed file, resource by resource, with
 * a unified diff of each changed resource decoded to YAML. The comparison
 * works on two sets of files of a node (DiffSide), whichever their source. */
#include <dirent.h>
#include <inttypes.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/stat.h>
#include <time.h>

#include "build.h"
#include "cli.h"
#include "decode.h"
#include "guard.h"
#include "hashmap.h"
#include "history.h"
#include "liveread.h"
#include "statedir.h"
#include "textdiff.h"

const char usage_diff[] =
        "Usage: fsxds diff [--config FILE] [--json] [-v] [--from REF] [--to REF] [NODE...]\n"
        "\n"
        "Builds every node of fsxdsd's source tree (or the NODEs given) as fsxdsd\n"
        "would, with the configuration's source_dir, nodes:, schema:, envoy_version:\n"
        "and publish_mode:, writes nothing, and compares each build with what is\n"
        "live in output_dir/NODE/: which files would be added (+), removed (-) or\n"
        "changed (~), and in a changed file which resources, by name, with a\n"
        "unified diff (3 lines of context) of each changed resource decoded to YAML\n"
        "as 'fsxds decode' prints it. lds/lds.pb and cds/cds.pb are never removed.\n"
        "A node whose build has errors is not published (its live output stays):\n"
        "its diagnostics are printed. A node directory of output_dir that is no\n"
        "longer in the tree nor in nodes: keeps its output until 'fsxds forget'.\n"
        "A line starting with ! says that the removal guard would hold a node back\n"
        "(more than max_removal of its listeners or clusters removed).\n"
        "\n"
        "Each node starts with a line such as \"node web: no change\" or \"node web:\n"
        "3 files would change: 1 added, 1 changed, 1 removed\"; a summary goes to\n"
        "stderr. --json prints one document instead:\n"
        "  {\"version\":1,\"from\":REF,\"to\":REF,\"changes\":N,\"errors\":N,\"problems\":[DIAG...],\"nodes\":[\n"
        "  {\"node\":ID,\"status\":\"unchanged\"|\"changed\"|\"errors\"|\"gone\",\"live_output\",\n"
        "   \"removal_guard\",\n"
        "   \"files\":[{\"path\",\"status\":\"added\"|\"removed\"|\"changed\",\"note\",\n"
        "     \"resources\":[{\"name\",\"status\",\"diff\",\"note\"}]}],\"diagnostics\":[DIAG...]}]}\n"
        "where changes counts the nodes that would change and DIAG is as in\n"
        "'fsxds check --json'.\n"
        "\n"
        "--from and --to pick what is compared: REF is live (output_dir/NODE/, the\n"
        "default of --from), tree (the source tree's build, the default of --to)\n"
        "or a generation number from the node's history in state_dir ('fsxds\n"
        "history NODE'; then exactly one NODE): --to 37 shows what 'fsxds rollback\n"
        "NODE 37' would change, --from 36 --to 37 what generation 37 changed.\n"
        "\n"
        "Options:\n"
        "      --config FILE   the fsxds.yaml of the fsxdsd to compare with\n"
        "                      (default: " CONFIG_DEFAULT_PATH ")\n"
        "      --json          print one JSON document on stdout\n"
        "      --from REF      the old side: live (default), tree or a generation\n"
        "      --to REF        the new side: tree (default), live or a generation\n"
        "  -v, --verbose       say which configuration file was read\n"
        "  -h, --help          show this help\n"
        "\n"
        "Exit status: 0 nothing would change, 3 something would, 1 a node has errors\n"
        "or a NODE is unknown, 2 usage or I/O error.\n";

/* One side of a comparison: a set of files of a node (path → bytes),
 * whatever holds them (the live directory, a build, a generation). */
typedef struct DiffSide {
        const char *label;      /* "live", "tree": the diff's ---/+++ lines and notes */
        const NodeOutput *files; /* sorted by path */
        char *const *odd;       /* per file, or NULL: why its bytes are unknown (data NULL) */
} DiffSide;

typedef enum DiffStatus {
        DIFF_SAME,
        DIFF_ADDED,
        DIFF_REMOVED,
        DIFF_CHANGED,
        _DIFF_STATUS_MAX,
} DiffStatus;

static const char *const diff_status_words[_DIFF_STATUS_MAX] = {
        [DIFF_SAME] = "unchanged",
        [DIFF_ADDED] = "added",
        [DIFF_REMOVED] = "removed",
        [DIFF_CHANGED] = "changed",
};
static const char diff_marks[_DIFF_STATUS_MAX] = { ' ', '+', '-', '~' };

typedef struct ResourceDiff {
        char *name;
        DiffStatus status;
        char *diff; /* changed: the hunks, headers included */
        char *note; /* changed: why there are no hunks */
        bool escaped; /* name is already as a diagnostic shows it (not UTF-8, or a NUL) */
} ResourceDiff;

typedef struct FileDiff {
        char *path;
        DiffStatus status;
        char *note;
        ResourceDiff *resources; /* by name */
        size_t n_resources;
        size_t counts[_DIFF_STATUS_MAX]; /* of resources */
} FileDiff;

typedef struct NodeDiff {
        FileDiff *files; /* by path; only those that differ */
        size_t n_files;
        size_t counts[_DIFF_STATUS_MAX]; /* of files */
} NodeDiff;

static void node_diff_done(NodeDiff *d) {
        for (size_t i = 0; i < d->n_files; i++) {
                FileDiff *f = &d->files[i];
                for (size_t j = 0; j < f->n_resources; j++) {
                        free(f->resources[j].name);
                        free(f->resources[j].diff);
                        free(f->resources[j].note);
                }
                free(f->resources);
                free(f->path);
                free(f->note);
        }
        free(d->files);
        *d = (NodeDiff) {};
}

/* ---- resources ---- */

typedef struct Res {
        char *name;
        size_t name_len;
        const uint8_t *any;
        size_t any_len;
        size_t index;
} Res;

typedef struct ResList {
        Res *items;
        size_t n;
} ResList;

static void res_add(void *userdata, const char *name, size_t name_len, const uint8_t *any, size_t any_len) {
        ResList *l = userdata;
        l->items = xrealloc(l->items, (l->n + 1) * sizeof(Res));
        l->items[l->n] = (Res) { xstrndup(name, name_len), name_len, any, any_len, l->n };
        l->n++;
}

static int cmp_res(const void *a, const void *b) {
        const Res *x = a, *y = b;
        size_t n = MIN(x->name_len, y->name_len);
        int c = memcmp(x->name, y->name, n);
        if (c != 0)
                return c;
        if (x->name_len != y->name_len)
                return x->name_len < y->name_len ? -1 : 1;
        return x->index < y->index ? -1 : x->index > y->index;
}

static void res_list_load(const NodeFile *f, ResList *ret) {
        *ret = (ResList) {};
        if (f && f->data)
                response_resources(f->data, f->len, res_add, ret);
        if (ret->n > 1)
                qsort(ret->items, ret->n, sizeof(Res), cmp_res);
}

static void res_list_done(ResList *l) {
        for (size_t i = 0; i < l->n; i++)
                free(l->items[i].name);
        free(l->items);
}

/* A resource (its Any) as 'fsxds decode' prints it, ending in a newline;
 * NULL with *ret_error when it does not decode. */
static char *decode_any(const Schema *schema, const Res *r, char **ret_error) {
        const SchemaMessage *m = schema_message(schema, "google.protobuf.Any");
        if (!m) {
                *ret_error = xstrdup("the schema has no google.protobuf.Any");
                return NULL;
        }
        Buf b = {};
        if (decode_message(schema, m, r->any, r->any_len, DECODE_FORMAT_YAML, &b, ret_error) < 0) {
                buf_free(&b);
                return NULL;
        }
        if (b.len > 0 && b.data[b.len - 1] != '\n')
                buf_putc(&b, '\n');
        return buf_steal_str(&b);
}

static char *shown_name(const Res *r) {
        _cleanup_free_ char *s = diag_shown_len(r->name, r->name_len, 0);
        return xasprintf("\"%s\"", s);
}

static void diff_resource(const Schema *schema, const DiffSide *from, const DiffSide *to, const char *path, const Res *a,
                          const Res *b, ResourceDiff *ret) {
        _cleanup_free_ char *error_a = NULL, *error_b = NULL;
        _cleanup_free_ char *ya = decode_any(schema, a, &error_a), *yb = decode_any(schema, b, &error_b);
        if (!ya || !yb) {
                ret->note = xasprintf("the %s side does not decode: %s", ya ? to->label : from->label,
                                      ya ? error_b : error_a);
                return;
        }
        _cleanup_free_ char *name = shown_name(a);
        Buf out = {};
        buf_printf(&out, "--- %s %s %s\n+++ %s %s %s\n", from->label, path, name, to->label, path, name);
        if (textdiff_unified(ya, strlen(ya), yb, strlen(yb), 3, &out) == 0) {
                buf_free(&out);
                ret->note = xstrdup("the bytes differ, not the decoded YAML");
                return;
        }
        ret->diff = buf_steal_str(&out);
}

static void file_add_resource(FileDiff *f, const Res *r, DiffStatus s) {
        f->resources = xrealloc(f->resources, (f->n_resources + 1) * sizeof(ResourceDiff));
        /* a name that is not UTF-8 or holds a NUL (a live file altered) is
         * kept escaped, as a diagnostic shows it, so that it stays whole
         * and --json stays valid */
        bool plain = utf8_valid_prefix(r->name, r->name_len) == r->name_len && !memchr(r->name, 0, r->name_len);
        char *name = plain ? xstrndup(r->name, r->name_len) : diag_shown_len(r->name, r->name_len, 0);
        f->resources[f->n_resources++] = (ResourceDiff) { .name = name, .status = s, .escaped = !plain };
        f->counts[s]++;
}

/* The resources of a and b (either may be NULL: every resource of the
 * other added or removed), paired by name (and order, for a name twice). */
static void diff_file_resources(const Schema *schema, const DiffSide *from, const DiffSide *to, const NodeFile *a,
                                const NodeFile *b, FileDiff *f) {
        ResList la, lb;
        res_list_load(a, &la);
        res_list_load(b, &lb);
        size_t i = 0, j = 0;
        while (i < la.n || j < lb.n) {
                int c = i == la.n ? 1 : j == lb.n ? -1 : 0;
                if (c == 0) {
                        const Res *x = &la.items[i], *y = &lb.items[j];
                        size_t n = MIN(x->name_len, y->name_len);
                        c = memcmp(x->name, y->name, n);
                        if (c == 0 && x->name_len != y->name_len)
                                c = x->name_len < y->name_len ? -1 : 1;
                }
                if (c < 0)
                        file_add_resource(f, &la.items[i++], DIFF_REMOVED);
                else if (c > 0)
                        file_add_resource(f, &lb.items[j++], DIFF_ADDED);
                else {
                        const Res *x = &la.items[i++], *y = &lb.items[j++];
                        if (x->any_len == y->any_len && memcmp(x->any, y->any, x->any_len) == 0)
                                continue;
                        file_add_resource(f, x, DIFF_CHANGED);
                        diff_resource(schema, from, to, f->path, x, y, &f->resources[f->n_resources - 1]);
                }
        }
        res_list_done(&la);
        res_list_done(&lb);
}

/* ---- files ---- */

static FileDiff *node_add_file(NodeDiff *d, const char *path, DiffStatus s) {
        d->files = xrealloc(d->files, (d->n_files + 1) * sizeof(FileDiff));
        FileDiff *f = &d->files[d->n_files++];
        *f = (FileDiff) { .path = xstrdup(path), .status = s };
        d->counts[s]++;
        return f;
}

static bool bytes_equal(const NodeFile *a, const NodeFile *b) {
        return a->data && b->data && a->len == b->len && memcmp(a->data, b->data, a->len) == 0;
}

/* The comparison of two file sets of one node, file by file (by path)
 * and, in a file that differs, resource by resource: what --from/--to
 * of generations would call too. keep_sotw: lds.pb and cds.pb missing
 * from `to` stay, as fsxdsd publishes (to is a build, from what is live). */
static void diff_node_files(const Schema *schema, const DiffSide *from, const DiffSide *to, bool keep_sotw, NodeDiff *ret) {
        NodeDiff d = {};
        const NodeOutput *a = from->files, *b = to->files;
        size_t i = 0, j = 0;
        while (i < a->n || j < b->n) {
                int c = i == a->n ? 1 : j == b->n ? -1 : strcmp(a->files[i].path, b->files[j].path);
                const NodeFile *x = c <= 0 ? &a->files[i] : NULL, *y = c >= 0 ? &b->files[j] : NULL;
                const char *odd_x = x && from->odd ? from->odd[i] : NULL, *odd_y = y && to->odd ? to->odd[j] : NULL;
                i += c <= 0;
                j += c >= 0;
                if (x && y && !odd_x && !odd_y && bytes_equal(x, y))
                        continue;
                /* what fsxdsd never removes: a bootstrap names it */
                if (!y && keep_sotw && (streq(x->path, LAYOUT_LDS_FILE) || streq(x->path, LAYOUT_CDS_FILE)))
                        continue;
                FileDiff *f = node_add_file(&d, x ? x->path : y->path, !x ? DIFF_ADDED : !y ? DIFF_REMOVED : DIFF_CHANGED);
                if (odd_x || odd_y)
                        f->note = odd_x && odd_y ? xasprintf("%s: %s; %s: %s", from->label, odd_x, to->label, odd_y)
                                                 : xasprintf("%s: %s", odd_x ? from->label : to->label, odd_x ? odd_x : odd_y);
                /* an odd entry's bytes are not known */
                diff_file_resources(schema, from, to, odd_x ? NULL : x, odd_y ? NULL : y, f);
        }
        *ret = d;
}

/* ---- printing ---- */

/* What a side of the comparison is: what is live, the tree's build, or
 * a generation from the node's history (--from, --to). */
typedef enum DiffRefKind {
        REF_LIVE,
        REF_TREE,
        REF_GENERATION,
} DiffRefKind;

typedef struct DiffRef {
        DiffRefKind kind;
        uint64_t generation;
        char label[32]; /* "live", "tree", "generation 37" */
} DiffRef;

typedef struct DiffRun {
        const Schema *schema;
        const Config *config;
        DiffRef from, to;
        bool json;
        Buf out;
        Hashmap shown; /* diagnostics printed (text): the next nodes' copies are counted, not printed */
        char **shown_keys;
        size_t n_shown;
        size_t n_nodes, n_changed, n_errors, n_gone;
        bool first_node;
} DiffRun;

/* "1 added, 2 changed", the first count followed by noun when given
 * ("1 resource added"). */
static void put_count_list(Buf *b, const size_t counts[_DIFF_STATUS_MAX], const char *noun) {
        static const DiffStatus order[] = { DIFF_ADDED, DIFF_CHANGED, DIFF_REMOVED };
        bool first = true;
        for (size_t k = 0; k < ELEMENTSOF(order); k++)
                if (counts[order[k]] > 0) {
                        size_t n = counts[order[k]];
                        buf_printf(b, "%s%zu", first ? "" : ", ", n);
                        if (first && noun)
                                buf_printf(b, " %s%s", noun, n == 1 ? "" : "s");
                        buf_printf(b, " %s", diff_status_words[order[k]]);
                        first = false;
                }
}

static void put_indented(Buf *b, const char *indent, const char *text) {
        for (const char *p = text; *p;) {
                const char *nl = strchr(p, '\n');
                size_t len = nl ? (size_t) (nl - p) + 1 : strlen(p);
                buf_printf(b, "%s", indent);
                buf_append(b, p, len);
                p += len;
        }
        if (b->len > 0 && b->data[b->len - 1] != '\n')
                buf_putc(b, '\n');
}

static void print_node_text(Buf *b, const char *node, const NodeDiff *d, bool had_output) {
        size_t n = d->n_files;
        if (n == 0) {
                buf_printf(b, "node %s: no change\n", node);
                return;
        }
        buf_printf(b, "node %s: %zu file%s would change: ", node, n, n == 1 ? "" : "s");
        put_count_list(b, d->counts, NULL);
        buf_printf(b, "%s\n", had_output ? "" : " (no output yet)");
        for (size_t i = 0; i < n; i++) {
                const FileDiff *f = &d->files[i];
                buf_printf(b, "  %c %s", diff_marks[f->status], f->path);
                size_t nr = f->n_resources;
                if (f->status == DIFF_CHANGED && (f->counts[DIFF_ADDED] || f->counts[DIFF_REMOVED] || f->counts[DIFF_CHANGED])) {
                        buf_printf(b, ": ");
                        put_count_list(b, f->counts, "resource");
                } else if (f->status != DIFF_CHANGED)
                        buf_printf(b, " (%zu resource%s)", nr, nr == 1 ? "" : "s");
                if (f->note)
                        buf_printf(b, " (%s)", f->note);
                buf_putc(b, '\n');
                for (size_t j = 0; j < nr; j++) {
                        const ResourceDiff *r = &f->resources[j];
                        _cleanup_free_ char *shown = r->escaped ? xstrdup(r->name) : diag_shown(r->name, 0);
                        buf_printf(b, "    %c \"%s\"%s%s%s\n", diff_marks[r->status], shown, r->note ? " (" : "",
                                   r->note ? r->note : "", r->note ? ")" : "");
                        if (r->diff)
                                put_indented(b, "      ", r->diff);
                }
        }
}

static void put_json_node_files(Buf *b, const NodeDiff *d) {
        buf_printf(b, ",\"files\":[");
        for (size_t i = 0; i < d->n_files; i++) {
                const FileDiff *f = &d->files[i];
                buf_printf(b, "%s\n {\"path\":", i > 0 ? "," : "");
                buf_put_json_string(b, f->path);
                buf_printf(b, ",\"status\":\"%s\",\"note\":", diff_status_words[f->status]);
                json_put_string_or_null(b, f->note);
                buf_printf(b, ",\"resources\":[");
                for (size_t j = 0; j < f->n_resources; j++) {
                        const ResourceDiff *r = &f->resources[j];
                        buf_printf(b, "%s{\"name\":", j > 0 ? "," : "");
                        buf_put_json_string(b, r->name);
                        buf_printf(b, ",\"status\":\"%s\",\"diff\":", diff_status_words[r->status]);
                        json_put_string_or_null(b, r->diff);
                        buf_printf(b, ",\"note\":");
                        json_put_string_or_null(b, r->note);
                        buf_putc(b, '}');
                }
                buf_printf(b, "]}");
        }
        buf_printf(b, "]");
}

static void json_node_start(DiffRun *k, const char *node, const char *status, bool live, const char *guard) {
        buf_printf(&k->out, "%s\n{\"node\":", k->first_node ? "" : ",");
        k->first_node = false;
        buf_put_json_string(&k->out, node);
        buf_printf(&k->out, ",\"status\":\"%s\",\"live_output\":%s,\"removal_guard\":", status, live ? "true" : "false");
        json_put_string_or_null(&k->out, guard);
}

static void json_put_diags(Buf *b, const DiagList *l) {
        size_t n = 0;
        for (size_t i = 0; i < l->n; i++)
                if (l->items[i].level != DIAG_NOTE) {
                        buf_printf(b, "%s\n ", n++ > 0 ? "," : "");
                        json_put_diag(b, &l->items[i]);
                }
}

/* A node's diagnostics, each printed once in a run (common/'s errors are
 * every node's): those printed before are counted. */
static void print_diags_text(DiffRun *k, const DiagList *l) {
        size_t again = 0;
        for (size_t i = 0; i < l->n; i++) {
                if (l->items[i].level == DIAG_NOTE)
                        continue;
                char *s = diag_format(&l->items[i]);
                if (hashmap_get(&k->shown, s, strlen(s))) {
                        again++;
                        free(s);
                        continue;
                }
                size_t len = strlen(s);
                buf_append(&k->out, "  ", 2);
                buf_append(&k->out, s, len);
                buf_putc(&k->out, '\n');
                hashmap_put(&k->shown, s, len, s);
                k->shown_keys = xrealloc(k->shown_keys, (k->n_shown + 1) * sizeof(char *));
                k->shown_keys[k->n_shown++] = s;
        }
        if (again > 0)
                buf_printf(&k->out, "  (and %zu diagnostic%s printed above)\n", again, again == 1 ? "" : "s");
}

/* ---- the nodes ---- */

typedef struct NodeIds {
        char **ids; /* sorted, unique */
        size_t n;
} NodeIds;

static void ids_add(NodeIds *v, const char *id) {
        v->ids = xrealloc(v->ids, (v->n + 1) * sizeof(char *));
        v->ids[v->n++] = xstrdup(id);
}

static int cmp_str_ptr(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

static bool ids_contains(const NodeIds *v, const char *id) {
        return v->n > 0 && bsearch(&id, v->ids, v->n, sizeof(char *), cmp_str_ptr);
}

static void ids_sort(NodeIds *v) {
        if (v->n > 1)
                qsort(v->ids, v->n, sizeof(char *), cmp_str_ptr);
        size_t k = 0;
        for (size_t i = 0; i < v->n; i++) {
                if (k > 0 && streq(v->ids[k - 1], v->ids[i])) {
                        free(v->ids[i]);
                        continue;
                }
                v->ids[k++] = v->ids[i];
        }
        v->n = k;
}

static void ids_done(NodeIds *v) {
        for (size_t i = 0; i < v->n; i++)
                free(v->ids[i]);
        free(v->ids);
        *v = (NodeIds) {};
}

/* The node directories of output_dir (directories named by a node id,
 * never through a symlink); -ENOENT is no output yet. */
static int list_output_nodes(const char *output_dir, NodeIds *ret) {
        _cleanup_closedir_ DIR *d = opendir(output_dir);
        if (!d)
                return errno == ENOENT ? 0 : -errno;
        struct dirent *de;
        while ((de = readdir(d))) {
                struct stat st;
                if (!node_id_is_valid(de->d_name) || fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
                    !S_ISDIR(st.st_mode))
                        continue;
                ids_add(ret, de->d_name);
        }
        ids_sort(ret);
        return 0;
}

static const NodeFile *find_file(const NodeOutput *o, const char *path) {
        for (size_t i = 0; i < o->n; i++)
                if (streq(o->files[i].path, path))
                        return &o->files[i];
        return NULL;
}

/* What fsxdsd's removal guard would say of this build: NULL when it
 * lets it through, else why it would not (or that an allowance would). */
static char *removal_guard(const Config *config, const char *id, const NodeOutput *live, const NodeOutput *next) {
        static const char *const files[_GUARD_KIND_MAX] = {
                [GUARD_LISTENERS] = LAYOUT_LDS_FILE,
                [GUARD_CLUSTERS] = LAYOUT_CDS_FILE,
        };
        GuardDelta delta = {};
        for (GuardKind k = 0; k < _GUARD_KIND_MAX; k++) {
                const NodeFile *l = find_file(live, files[k]), *n = find_file(next, files[k]);
                if (l && l->data)
                        guard_count(&delta, k, l->data, l->len, n ? n->data : NULL, n ? n->len : 0);
        }
        char *why = NULL;
        if (guard_check(&delta, config->max_removal, NULL) != 0) {
                _cleanup_free_ char *what = guard_describe(&delta, config->max_removal);
                _cleanup_free_ char *allowance = statedir_allowance_path(config->state_dir, id);
                if (statedir_allowance_armed(config->state_dir, id, now_usec(CLOCK_REALTIME)) > 0)
                        why = xasprintf("it removes %s, more than max_removal %.2f, which the allowance %s lets "
                                        "through once", what, config->max_removal, allowance);
                else
                        why = xasprintf("the removal guard would hold it back: it removes %s (more than max_removal "
                                        "%.2f); 'fsxds allow-removal %s' lets it through once", what,
                                        config->max_removal, id);
        }
        guard_delta_done(&delta);
        return why;
}

/* One side of a comparison, loaded. */
typedef struct SideData {
        NodeOutput out;     /* the tree's build, a generation */
        LiveNode live;      /* what is live */
        bool exists;        /* live: the node has an output directory */
} SideData;

static const NodeOutput *side_files(const DiffRef *ref, const SideData *sd) {
        return ref->kind == REF_LIVE ? &sd->live.out : &sd->out;
}

static void side_done(SideData *sd) {
        node_output_done(&sd->out);
        live_node_done(&sd->live);
}

/* The tree's build of node id into sd: 0, or EXIT_BAD_INPUT with its
 * diagnostics printed. */
static int load_tree(DiffRun *k, const SourceCache *c, const char *id, SideData *sd) {
        _cleanup_free_ char *dir = xasprintf("%s/%s", k->config->output_dir, id);
        BuildOptions opts = { .output_dir = dir, .skip_notes = true };
        DiagList diags = {};
        int r = build_node_from_cache(c, id, &opts, &diags, &sd->out);
        if (r >= 0) {
                diag_list_clear(&diags);
                return 0;
        }
        k->n_errors++;
        struct stat st;
        bool live = fstatat(AT_FDCWD, dir, &st, AT_SYMLINK_NOFOLLOW) >= 0 && S_ISDIR(st.st_mode);
        if (k->json) {
                json_node_start(k, id, "errors", live, NULL);
                buf_printf(&k->out, ",\"files\":[],\"diagnostics\":[");
                json_put_diags(&k->out, &diags);
                buf_printf(&k->out, "]}");
        } else {
                buf_printf(&k->out, "node %s: %zu error%s; would not be published (%s)\n", id, diags.n_errors,
                           diags.n_errors == 1 ? "" : "s", live ? "its live output stays" : "it has no output yet");
                print_diags_text(k, &diags);
        }
        diag_list_clear(&diags);
        return EXIT_BAD_INPUT;
}

/* Loads one side: 0, or an exit code (errors printed). */
static int load_side(DiffRun *k, const SourceCache *c, const char *id, const DiffRef *ref, SideData *sd) {
        _cleanup_free_ char *error = NULL;
        int r;
        switch (ref->kind) {
        case REF_TREE:
                return load_tree(k, c, id, sd);
        case REF_LIVE:
                r = live_read_node(k->config->output_dir, id, &sd->live, &error);
                if (r < 0 && r != -ENOENT && r != -ENOTDIR) {
                        fprintf(stderr, "fsxds: cannot read %s\n", error ? error : k->config->output_dir);
                        return EXIT_USAGE;
                }
                if (r == -ENOTDIR)
                        fprintf(stderr, "fsxds: %s/%s is not a directory (a symlink is never followed): fsxdsd replaces it\n",
                                k->config->output_dir, id);
                sd->exists = r >= 0;
                return 0;
        case REF_GENERATION:
                r = history_load_output(k->config->state_dir, id, ref->generation, &sd->out, &error);
                if (r < 0) {
                        k->n_errors++;
                        fprintf(stderr, "fsxds: %s\n", error ? error : strerror(-r));
                        return r == -ENOENT || r == -EBADMSG ? EXIT_BAD_INPUT : EXIT_USAGE;
                }
                return 0;
        }
        return EXIT_USAGE;
}

/* Compares node id's two sides (k->from, k->to). Returns an exit code's
 * part: 0, 3 (they differ), 1 (errors) or 2 (I/O). */
static int diff_one(DiffRun *k, const SourceCache *c, const char *id) {
        SideData a = {}, b = {};
        k->n_nodes++;
        /* the tree first: a node whose build fails says so and nothing more */
        bool tree_first = k->to.kind == REF_TREE;
        int r = load_side(k, c, id, tree_first ? &k->to : &k->from, tree_first ? &b : &a);
        if (r == 0)
                r = load_side(k, c, id, tree_first ? &k->from : &k->to, tree_first ? &a : &b);
        if (r != 0) {
                side_done(&a);
                side_done(&b);
                return r;
        }
        bool had_output = k->from.kind != REF_LIVE || a.exists;
        DiffSide from = { k->from.label, side_files(&k->from, &a), k->from.kind == REF_LIVE ? a.live.odd : NULL };
        DiffSide to = { k->to.label, side_files(&k->to, &b), k->to.kind == REF_LIVE ? b.live.odd : NULL };
        NodeDiff d;
        /* lds.pb and cds.pb are never removed from a live directory */
        diff_node_files(k->schema, &from, &to, k->from.kind == REF_LIVE, &d);
        bool changed = d.n_files > 0;
        k->n_changed += changed;
        /* the removal guard stands between what is live and a new generation */
        _cleanup_free_ char *guard = changed && k->from.kind == REF_LIVE && k->to.kind != REF_LIVE
                                             ? removal_guard(k->config, id, from.files, to.files)
                                             : NULL;
        if (k->json) {
                json_node_start(k, id, changed ? "changed" : "unchanged", had_output, guard);
                put_json_node_files(&k->out, &d);
                buf_printf(&k->out, ",\"diagnostics\":[]}");
        } else {
                print_node_text(&k->out, id, &d, had_output);
                if (guard)
                        buf_printf(&k->out, "  ! %s\n", guard);
        }
        node_diff_done(&d);
        side_done(&a);
        side_done(&b);
        return changed ? EXIT_CHANGED : EXIT_OK;
}

static void diff_gone(DiffRun *k, const char *id) {
        k->n_nodes++;
        k->n_gone++;
        k->n_changed++;
        if (k->json) {
                json_node_start(k, id, "gone", true, NULL);
                buf_printf(&k->out, ",\"files\":[],\"diagnostics\":[]}");
        } else
                buf_printf(&k->out, "node %s: not in the tree any more; its output stays until `fsxds forget %s`\n", id, id);
}

/* The worse of two exit codes: usage or I/O, then bad input, then a change. */
static int worse(int a, int b) {
        static const int rank[] = { [EXIT_OK] = 0, [EXIT_CHANGED] = 1, [EXIT_BAD_INPUT] = 2, [EXIT_USAGE] = 3 };
        return rank[a] >= rank[b] ? a : b;
}

/* --from/--to REF: "live", "tree" or a generation number. */
static int parse_ref(const char *option, const char *s, DiffRefKind def, DiffRef *ret) {
        *ret = (DiffRef) { .kind = def };
        if (!s)
                ;
        else if (streq(s, "live"))
                ret->kind = REF_LIVE;
        else if (streq(s, "tree"))
                ret->kind = REF_TREE;
        else {
                char *end;
                errno = 0;
                unsigned long long g = strtoull(s, &end, 10);
                if (!*s || *end || errno || g == 0 || s[0] == '-' || s[0] == '+' || s[0] == ' ') {
                        fprintf(stderr, "fsxds: %s: expected live, tree or a generation number, got \"%s\"\n", option, s);
                        return -EINVAL;
                }
                ret->kind = REF_GENERATION;
                ret->generation = g;
        }
        if (ret->kind == REF_GENERATION)
                snprintf(ret->label, sizeof ret->label, "generation %" PRIu64, ret->generation);
        else
                snprintf(ret->label, sizeof ret->label, "%s", ret->kind == REF_LIVE ? "live" : "tree");
        return 0;
}

int verb_diff(int argc, char **argv, const Options *o) {
        DiffRef from, to;
        if (parse_ref("--from", o->from, REF_LIVE, &from) < 0 || parse_ref("--to", o->to, REF_TREE, &to) < 0)
                return EXIT_USAGE;
        bool generations = from.kind == REF_GENERATION || to.kind == REF_GENERATION;
        if (generations && argc != 1) {
                fprintf(stderr, "fsxds diff: a generation (--from, --to) is one node's: give exactly one NODE\n");
                return EXIT_USAGE;
        }
        _cleanup_(config_freep) Config *config = NULL;
        if (load_config(o->config, &config) < 0)
                return EXIT_USAGE;
        _cleanup_(schema_freep) Schema *schema = NULL;
        if (load_schema(o, &schema) < 0)
                return EXIT_USAGE;
        _cleanup_(source_cache_freep) SourceCache *c = NULL;
        bool uses_tree = from.kind == REF_TREE || to.kind == REF_TREE;
        int r = source_cache_new(schema, config->publish_mode, &c);
        if (r >= 0 && uses_tree)
                r = source_cache_refresh(c, config->source_dir, NULL);
        if (r < 0) {
                fprintf(stderr, "fsxds: cannot read the source tree %s: %s\n", config->source_dir, strerror(-r));
                return EXIT_USAGE;
        }
        /* the nodes fsxdsd builds (the tree's and nodes:), and those whose output it keeps */
        NodeIds built = {}, output = {};
        for (const char *const *p = source_cache_nodes(c); *p; p++)
                ids_add(&built, *p);
        for (size_t i = 0; i < config->n_nodes; i++)
                ids_add(&built, config->nodes[i]);
        ids_sort(&built);
        r = list_output_nodes(config->output_dir, &output);
        if (r < 0) {
                fprintf(stderr, "fsxds: cannot list %s: %s\n", config->output_dir, strerror(-r));
                ids_done(&built);
                return EXIT_USAGE;
        }
        NodeIds all = {}, asked = {};
        for (size_t i = 0; i < built.n; i++)
                ids_add(&all, built.ids[i]);
        for (size_t i = 0; i < output.n; i++)
                ids_add(&all, output.ids[i]);
        ids_sort(&all);
        int ret = EXIT_OK;
        for (int i = 0; i < argc; i++) {
                /* a generation's node may have no output and no tree any
                 * more: its history says */
                if (ids_contains(&all, argv[i]) || (generations && node_id_is_valid(argv[i]))) {
                        ids_add(&asked, argv[i]);
                        continue;
                }
                const char *hint = closest_match(argv[i], (const char *const *) all.ids, all.n);
                _cleanup_free_ char *nodes = path_join(config->source_dir, "nodes");
                fprintf(stderr, "fsxds: unknown node \"%s\": no %s/%s/, not in nodes: of %s, no %s/%s/%s%s%s\n", argv[i],
                        nodes, argv[i], config->path ? config->path : "the built-in configuration", config->output_dir,
                        argv[i], hint ? " (did you mean \"" : "", hint ? hint : "", hint ? "\"?)" : "");
                ret = EXIT_BAD_INPUT;
        }
        ids_sort(&asked);
        const NodeIds *nodes = argc > 0 ? &asked : &all;

        DiffRun k = { .schema = schema, .config = config, .from = from, .to = to, .json = o->json, .first_node = true };
        DiagList problems = {};
        for (const char *const *b = source_cache_bad_node_dirs(c); uses_tree && *b; b++) {
                _cleanup_free_ char *path = xasprintf("%s/nodes/%s", config->source_dir, *b);
                diag_add(&problems, DIAG_ERROR, path, 0, 0, NULL,
                         "not a node id (1 to 128 of A-Z a-z 0-9 . _ -, not starting with '.'); not built");
        }
        if (problems.n > 0)
                ret = worse(ret, EXIT_BAD_INPUT);
        if (!k.json)
                print_diags_text(&k, &problems);
        for (size_t i = 0; i < nodes->n && ret != EXIT_USAGE; i++) {
                const char *id = nodes->ids[i];
                if (!uses_tree || ids_contains(&built, id))
                        ret = worse(ret, diff_one(&k, c, id));
                else {
                        diff_gone(&k, id);
                        ret = worse(ret, EXIT_CHANGED);
                }
        }
        if (ret == EXIT_USAGE) {
                /* an I/O error says nothing of the nodes after it */
        } else if (k.json) {
                Buf head = {};
                buf_printf(&head, "{\"version\":1,\"from\":\"%s\",\"to\":\"%s\",\"changes\":%zu,\"errors\":%zu,\"problems\":[",
                           from.label, to.label, k.n_changed, k.n_errors);
                json_put_diags(&head, &problems);
                buf_printf(&head, "],\"nodes\":[");
                fwrite(head.data, 1, head.len, stdout);
                if (k.out.len > 0)
                        fwrite(k.out.data, 1, k.out.len, stdout);
                printf("%s]}\n", k.n_nodes > 0 ? "\n" : "");
                buf_free(&head);
        } else if (k.out.len > 0)
                fwrite(k.out.data, 1, k.out.len, stdout);
        if (fflush(stdout) != 0)
                ret = EXIT_USAGE;
        if (ret != EXIT_USAGE)
                fprintf(stderr, "fsxds diff: %zu of %zu node%s would change; %zu with errors%s\n", k.n_changed, k.n_nodes,
                        k.n_nodes == 1 ? "" : "s", k.n_errors, problems.n > 0 ? "; the tree has errors" : "");
        buf_free(&k.out);
        for (size_t i = 0; i < k.n_shown; i++)
                free(k.shown_keys[i]);
        free(k.shown_keys);
        hashmap_free(&k.shown);
        diag_list_clear(&problems);
        ids_done(&built);
        ids_done(&output);
        ids_done(&all);
        ids_done(&asked);
        return ret;
}
