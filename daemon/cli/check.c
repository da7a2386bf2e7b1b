/* SPDX-License-Identifier: MIT */
/* check: every diagnostic of a source tree or of files, compiled as fsxdsd
 * or 'fsxds compile' would, grouped by node (the diagnostics several nodes
 * share once, under "common"), as text or one JSON document. */
#include <sys/stat.h>

#include "build.h"
#include "cli.h"
#include "hashmap.h"

const char usage_check[] =
        "Usage: fsxds check [--schema DESC] [--envoy-version X.Y] [--config FILE] [--json] [--allow-empty] [-v]\n"
        "                   DIR|FILE...\n"
        "\n"
        "Compiles each argument as fsxdsd or 'fsxds compile' would, writes nothing,\n"
        "and prints every diagnostic, not only the first, grouped by node.\n"
        "\n"
        "A source tree (a directory with common/ or nodes/) is built for every\n"
        "node nodes/ID/ with the daemon's own code; a tree without nodes/ is\n"
        "built as one node made of common/ alone. Diagnostics about a file of\n"
        "common/, or that several nodes share, are printed once, under\n"
        "\"common\". Duplicate resources are reported even when other errors stop\n"
        "a node's build before the merge. A FILE, and each file of any other\n"
        "directory, is compiled on its own as 'fsxds compile FILE' does.\n"
        "Symbolic links are followed inside the directory only: a link out of it,\n"
        "a dangling link, a link loop, a FIFO, socket or device with a source\n"
        "name, and a name that is not UTF-8 are each an error at that path, as\n"
        "in fsxdsd.\n"
        "\n"
        "Each group starts with a line such as \"node edge: 2 errors, 1 warning\",\n"
        "\"node edge: ok\", \"common: 1 error\" or \"file x.yaml: ok\", followed by\n"
        "its diagnostics (FILE:LINE:COLUMN: error: FIELD: MESSAGE [RULE]); a\n"
        "summary line goes to stderr. --json prints one document instead:\n"
        "  {\"version\":1,\"errors\":N,\"warnings\":N,\"groups\":[{\"node\":ID or\n"
        "  \"file\":PATH,\"errors\":N,\"warnings\":N,\"diagnostics\":[{\"level\",\n"
        "  \"file\",\"line\",\"column\",\"path\",\"message\",\"rule\"}]}]}\n"
        "where the shared group's node is \"(common)\", node groups also name\n"
        "their \"tree\", and path and rule may be null.\n"
        "\n"
        "Options:\n"
        "      --json          print one JSON document on stdout\n"
        "      --schema DESC   compile against this FileDescriptorSet (default: the\n"
        "                      built-in one, Envoy's complete v3 API)\n"
        "      --envoy-version X.Y  the Envoy release whose load-time checks apply\n"
        "                      (default: the schema's release)\n"
        "      --config FILE   the fsxds.yaml whose schema: and envoy_version: apply\n"
        "                      (default: " CONFIG_DEFAULT_PATH ", when it exists)\n"
        "      --allow-empty   accept a FILE without resources\n"
        "  -v, --verbose       also print notes (config source rewrites)\n"
        "  -h, --help          show this help\n"
        "\n"
        "Exit status: 0 no errors (warnings allowed), 1 errors, 2 usage or I/O error.\n";

/* The group of diagnostics shared by a tree's nodes; not a valid node id,
 * so no node's group can be mistaken for it. */
#define CHECK_COMMON "(common)"

typedef struct CheckGroup {
        char *tree; /* the source tree of a node group; NULL for a file */
        char *node; /* a node id or CHECK_COMMON; NULL for a file */
        char *file;
        DiagList diags;
} CheckGroup;

typedef struct Check {
        const Schema *schema;
        bool allow_empty;
        CheckGroup *groups;
        size_t n_groups;
        size_t n_trees, n_nodes, n_files;
        bool io_error;
} Check;

static void check_done(Check *k) {
        for (size_t i = 0; i < k->n_groups; i++) {
                free(k->groups[i].tree);
                free(k->groups[i].node);
                free(k->groups[i].file);
                diag_list_clear(&k->groups[i].diags);
        }
        free(k->groups);
        *k = (Check) {};
}

/* The new group; valid until the next one is added. */
static CheckGroup *check_add_group(Check *k, const char *tree, const char *node, const char *file) {
        k->groups = xrealloc(k->groups, (k->n_groups + 1) * sizeof(CheckGroup));
        CheckGroup *g = &k->groups[k->n_groups++];
        *g = (CheckGroup) {
                .tree = tree ? xstrdup(tree) : NULL,
                .node = node ? xstrdup(node) : NULL,
                .file = file ? xstrdup(file) : NULL,
        };
        return g;
}

static void diag_copy(DiagList *dst, const Diag *d) {
        diag_add_rule(dst, d->level, d->file, d->line, d->column, d->path, d->rule, "%s", d->message);
}

/* A diagnostic's identity across nodes: file, line, column, message. */
typedef struct CheckSeen {
        char *key;
        size_t key_len;
        size_t n_nodes;      /* how many nodes' builds gave it */
        size_t last;         /* the last of them, + 1 */
        bool placed;
} CheckSeen;

static char *check_key(const Diag *d, size_t *ret_len) {
        Buf b = {};
        buf_printf(&b, "%s", d->file ? d->file : "");
        buf_putc(&b, 0);
        buf_printf(&b, "%u:%u", d->line, d->column);
        buf_putc(&b, 0);
        buf_printf(&b, "%s", d->message);
        *ret_len = b.len;
        return buf_steal_str(&b);
}

static bool check_in_common(const char *tree, const Diag *d) {
        size_t l = strlen(tree);
        return d->file && strncmp(d->file, tree, l) == 0 && startswith(d->file + l, "/common/");
}

/* Builds every node of the source tree from one source cache, as fsxdsd
 * does, and groups the diagnostics: once under CHECK_COMMON those that
 * several nodes share, or that are about common/ alone; the others under
 * their node. */
static void check_tree(Check *k, const char *tree, bool has_common) {
        _cleanup_(source_cache_freep) SourceCache *c = NULL;
        int r = source_cache_new(k->schema, PUBLISH_MODE_RENAME, &c);
        if (r >= 0)
                r = source_cache_refresh(c, tree, NULL);
        if (r < 0) {
                fprintf(stderr, "fsxds: cannot read the source tree %s: %s\n", tree, strerror(-r));
                k->io_error = true;
                return;
        }
        k->n_trees++;
        k->n_files += (size_t) r;
        /* a tree of common/ alone is one node; its id shows nowhere */
        static const char *const pseudo_nodes[] = { "common", NULL };
        const char *const *nodes = source_cache_nodes(c);
        bool pseudo = !nodes[0];
        if (pseudo)
                nodes = pseudo_nodes;
        size_t n = 0;
        while (nodes[n])
                n++;
        k->n_nodes += pseudo ? 0 : n;

        DiagList *per_node = xcalloc(n, sizeof(DiagList));
        for (size_t i = 0; i < n; i++) {
                _cleanup_free_ char *out = xasprintf("/run/fsxds/%s", nodes[i]);
                BuildOptions opts = { .output_dir = out, .skip_notes = !verbose,
                                      .merge_despite_errors = true };
                NodeOutput o = {};
                r = build_node_from_cache(c, nodes[i], &opts, &per_node[i], &o);
                if (r >= 0)
                        node_output_done(&o);
        }

        /* count in how many nodes each diagnostic appears */
        Hashmap seen = {};
        CheckSeen **all = NULL;
        size_t n_all = 0, cap_all = 0;
        for (size_t i = 0; i < n; i++) {
                const DiagList *l = &per_node[i];
                for (size_t j = 0; j < l->n; j++) {
                        size_t len;
                        char *key = check_key(&l->items[j], &len);
                        CheckSeen *s = hashmap_get(&seen, key, len);
                        if (!s) {
                                s = xcalloc(1, sizeof(CheckSeen));
                                s->key = key;
                                s->key_len = len;
                                hashmap_put(&seen, s->key, s->key_len, s);
                                if (n_all == cap_all) {
                                        cap_all = MAX(cap_all * 2, 64u);
                                        all = xrealloc(all, cap_all * sizeof(CheckSeen *));
                                }
                                all[n_all++] = s;
                        } else
                                free(key);
                        if (s->last != i + 1) {
                                s->n_nodes++;
                                s->last = i + 1;
                        }
                }
        }
        size_t common_index = k->n_groups;
        (void) check_add_group(k, tree, CHECK_COMMON, NULL);
        for (size_t i = 0; i < n; i++) {
                const DiagList *l = &per_node[i];
                size_t node_index = SIZE_MAX;
                if (!pseudo) {
                        node_index = k->n_groups;
                        (void) check_add_group(k, tree, nodes[i], NULL);
                }
                for (size_t j = 0; j < l->n; j++) {
                        const Diag *d = &l->items[j];
                        size_t len;
                        _cleanup_free_ char *key = check_key(d, &len);
                        CheckSeen *s = hashmap_get(&seen, key, len);
                        if (s->placed)
                                continue;
                        s->placed = true;
                        /* a common/ file's diagnostic that only some nodes
                         * get (a name it uses that they lack) is theirs */
                        bool shared = node_index == SIZE_MAX || s->n_nodes > 1 ||
                                      (s->n_nodes == n && check_in_common(tree, d));
                        diag_copy(&k->groups[shared ? common_index : node_index].diags, d);
                }
        }
        /* a directory in nodes/ that fsxdsd would not build, as it reports it */
        for (const char *const *b = source_cache_bad_node_dirs(c); *b; b++) {
                _cleanup_free_ char *path = xasprintf("%s/nodes/%s", tree, *b);
                diag_add(&k->groups[common_index].diags, DIAG_ERROR, path, 0, 0, NULL,
                         "not a node id (1 to 128 of A-Z a-z 0-9 . _ -, not starting with '.'); not built");
        }
        /* a tree without common/ shows no common group unless it has something to say */
        CheckGroup *cg = &k->groups[common_index];
        if (!pseudo && !has_common && cg->diags.n == 0) {
                free(cg->tree);
                free(cg->node);
                memmove(cg, cg + 1, (k->n_groups - common_index - 1) * sizeof(CheckGroup));
                k->n_groups--;
        }
        for (size_t i = 0; i < n_all; i++) {
                free(all[i]->key);
                free(all[i]);
        }
        free(all);
        hashmap_free(&seen);
        for (size_t i = 0; i < n; i++)
                diag_list_clear(&per_node[i]);
        free(per_node);
}

/* One file compiled on its own, as 'fsxds compile FILE' does. */
static void check_file(Check *k, const char *file) {
        DiagList diags = {};
        CompileResult cr = {};
        int r = compile_file(k->schema, file, NULL, &diags, &cr);
        if (r < 0 && r != -EBADMSG) {
                fprintf(stderr, "fsxds: cannot read %s: %s\n", file, strerror(-r));
                k->io_error = true;
        } else {
                check_one_response(file, r, &cr, k->allow_empty, &diags);
                CheckGroup *g = check_add_group(k, NULL, NULL, file);
                diag_list_move(&g->diags, &diags);
                k->n_files++;
        }
        diag_list_clear(&diags);
        compile_result_done(&cr);
}

static bool is_dir(const char *path) {
        struct stat st;
        return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static void check_path(Check *k, const char *arg) {
        struct stat st;
        if (stat(arg, &st) < 0) {
                fprintf(stderr, "fsxds: %s: %m\n", arg);
                k->io_error = true;
                return;
        }
        if (!S_ISDIR(st.st_mode)) {
                check_file(k, arg);
                return;
        }
        /* without trailing slashes: file names in diagnostics stay canonical */
        _cleanup_free_ char *dir = xstrdup(arg);
        for (size_t l = strlen(dir); l > 1 && dir[l - 1] == '/'; l--)
                dir[l - 1] = 0;
        _cleanup_free_ char *common = xasprintf("%s/common", dir);
        _cleanup_free_ char *nodes = xasprintf("%s/nodes", dir);
        bool has_common = is_dir(common);
        if (has_common || is_dir(nodes)) {
                check_tree(k, dir, has_common);
                return;
        }
        _cleanup_free_ char **files = NULL;
        DiagList problems = {};
        int r = build_list_sources_checked(dir, &problems, &files);
        if (r < 0) {
                fprintf(stderr, "fsxds: cannot list %s: %s\n", dir, strerror(-r));
                k->io_error = true;
                return;
        }
        /* an entry that cannot be source is an error of its own, as fsxdsd
         * makes it one of its node */
        for (size_t i = 0; i < problems.n; i++) {
                CheckGroup *g = check_add_group(k, NULL, NULL, problems.items[i].file);
                diag_copy(&g->diags, &problems.items[i]);
        }
        bool had_problems = problems.n > 0;
        diag_list_clear(&problems);
        if (!files[0] && !had_problems)
                fprintf(stderr, "fsxds: %s: no *.yaml, *.yml or *.json files, and no common/ or nodes/\n", dir);
        for (char **p = files; *p; p++) {
                check_file(k, *p);
                free(*p);
        }
}

static int check_diag_cmp(const void *a, const void *b) {
        const Diag *x = *(const Diag *const *) a, *y = *(const Diag *const *) b;
        if (!x->file != !y->file)
                return x->file ? -1 : 1;
        int c = x->file ? strcmp(x->file, y->file) : 0;
        if (c != 0)
                return c;
        if (x->line != y->line)
                return x->line < y->line ? -1 : 1;
        if (x->column != y->column)
                return x->column < y->column ? -1 : 1;
        return x < y ? -1 : x > y; /* the list's order */
}

/* A group's diagnostics by file, line and column (those without a file
 * last), in the order found where they are equal; notes only with -v. */
static const Diag **check_sorted(const DiagList *l, size_t *ret_n) {
        const Diag **v = xcalloc(MAX(l->n, 1), sizeof(Diag *));
        size_t n = 0;
        for (size_t i = 0; i < l->n; i++)
                if (l->items[i].level != DIAG_NOTE || verbose)
                        v[n++] = &l->items[i];
        qsort(v, n, sizeof(Diag *), check_diag_cmp);
        *ret_n = n;
        return v;
}

static void check_counts(Buf *b, size_t errors, size_t warnings) {
        if (errors == 0 && warnings == 0) {
                buf_printf(b, "ok");
                return;
        }
        if (errors > 0)
                buf_printf(b, "%zu error%s", errors, errors == 1 ? "" : "s");
        if (warnings > 0)
                buf_printf(b, "%s%zu warning%s", errors > 0 ? ", " : "", warnings, warnings == 1 ? "" : "s");
}

static void check_print_text(const Check *k) {
        for (size_t i = 0; i < k->n_groups; i++) {
                const CheckGroup *g = &k->groups[i];
                Buf b = {};
                if (!g->node)
                        buf_printf(&b, "file %s", g->file);
                else if (streq(g->node, CHECK_COMMON))
                        buf_printf(&b, "common");
                else
                        buf_printf(&b, "node %s", g->node);
                if (g->tree && k->n_trees > 1)
                        buf_printf(&b, " in %s", g->tree);
                buf_printf(&b, ": ");
                check_counts(&b, g->diags.n_errors, g->diags.n_warnings);
                _cleanup_free_ char *header = buf_steal_str(&b);
                printf("%s\n", header);
                size_t n;
                _cleanup_free_ const Diag **v = check_sorted(&g->diags, &n);
                for (size_t j = 0; j < n; j++) {
                        _cleanup_free_ char *s = diag_format(v[j]);
                        printf("%s\n", s);
                }
        }
}

static void json_put_string_or_null(Buf *b, const char *s) {
        if (s)
                buf_put_json_string(b, s);
        else
                buf_printf(b, "null");
}

static void check_print_json(const Check *k, size_t errors, size_t warnings) {
        Buf b = {};
        buf_printf(&b, "{\"version\":1,\"errors\":%zu,\"warnings\":%zu,\"groups\":[", errors, warnings);
        for (size_t i = 0; i < k->n_groups; i++) {
                const CheckGroup *g = &k->groups[i];
                buf_printf(&b, "%s\n{", i > 0 ? "," : "");
                if (g->node) {
                        buf_printf(&b, "\"node\":");
                        buf_put_json_string(&b, g->node);
                        buf_printf(&b, ",\"tree\":");
                        buf_put_json_string(&b, g->tree);
                } else {
                        buf_printf(&b, "\"file\":");
                        buf_put_json_string(&b, g->file);
                }
                buf_printf(&b, ",\"errors\":%zu,\"warnings\":%zu,\"diagnostics\":[", g->diags.n_errors, g->diags.n_warnings);
                size_t n;
                _cleanup_free_ const Diag **v = check_sorted(&g->diags, &n);
                for (size_t j = 0; j < n; j++) {
                        const Diag *d = v[j];
                        buf_printf(&b, "%s\n {\"level\":", j > 0 ? "," : "");
                        buf_put_json_string(&b, diag_level_to_string(d->level));
                        buf_printf(&b, ",\"file\":");
                        json_put_string_or_null(&b, d->file);
                        buf_printf(&b, ",\"line\":%u,\"column\":%u,\"path\":", d->line, d->column);
                        json_put_string_or_null(&b, d->path);
                        buf_printf(&b, ",\"message\":");
                        buf_put_json_string(&b, d->message);
                        buf_printf(&b, ",\"rule\":");
                        json_put_string_or_null(&b, d->rule);
                        buf_putc(&b, '}');
                }
                buf_printf(&b, "]}");
        }
        buf_printf(&b, "%s]}\n", k->n_groups > 0 ? "\n" : "");
        fwrite(b.data, 1, b.len, stdout);
        buf_free(&b);
}

int verb_check(int argc, char **argv, const Options *o) {
        _cleanup_(schema_freep) Schema *schema = NULL;
        if (load_schema(o, &schema) < 0)
                return EXIT_USAGE;
        Check k = { .schema = schema, .allow_empty = o->allow_empty };
        for (int i = 0; i < argc; i++)
                check_path(&k, argv[i]);
        size_t errors = 0, warnings = 0;
        for (size_t i = 0; i < k.n_groups; i++) {
                errors += k.groups[i].diags.n_errors;
                warnings += k.groups[i].diags.n_warnings;
        }
        if (o->json)
                check_print_json(&k, errors, warnings);
        else
                check_print_text(&k);
        int ret = k.io_error ? EXIT_USAGE : errors > 0 ? EXIT_BAD_INPUT : EXIT_OK;
        if (fflush(stdout) != 0)
                ret = EXIT_USAGE;
        Buf b = {};
        if (k.io_error && errors == 0 && warnings == 0)
                buf_printf(&b, "no diagnostics");
        else
                check_counts(&b, errors, warnings);
        buf_printf(&b, " (");
        if (k.n_trees > 0)
                buf_printf(&b, "%zu node%s, ", k.n_nodes, k.n_nodes == 1 ? "" : "s");
        buf_printf(&b, "%zu file%s checked)%s", k.n_files, k.n_files == 1 ? "" : "s",
                   k.io_error ? "; not every path could be read" : "");
        _cleanup_free_ char *summary = buf_steal_str(&b);
        fprintf(stderr, "fsxds check: %s\n", summary);
        check_done(&k);
        return ret;
}
