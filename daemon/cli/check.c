/* SPDX-License-Identifier: MIT */
/* check: every diagnostic of a source tree or of files, compiled as fsxdsd
 * or 'fsxds compile' would, grouped by node (the diagnostics several nodes
 * share once, under "common"), as text or one JSON document; what it could
 * not check (a node's graph, behind errors) is said, never taken for ok. */
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
        "built as one node made of common/ alone. A path inside a tree (nodes/ID/\n"
        "or a file or directory in it; common/ or nodes/ or anything in common/)\n"
        "is checked as part of that tree, the nearest directory above it with\n"
        "nodes/ or common/: node ID alone (with common/, as fsxdsd builds it), or\n"
        "every node. Diagnostics about a file of common/, or that several nodes\n"
        "share, are printed once, under \"common\". Duplicate resources are\n"
        "reported even when other errors stop a node's build before the merge;\n"
        "the graph (the names resources refer to) of a node whose files, or\n"
        "common/'s, have errors is not checked, and its header says so. An\n"
        "unreadable directory is an error at its path, and the rest is checked\n"
        "(nodes/: common/'s files, and no node). A FILE in no tree, and each file\n"
        "of another directory, is compiled on its own as 'fsxds compile FILE'\n"
        "does: no config source is wired, and a note on stderr says so.\n"
        "Symbolic links are followed inside the tree (or directory) only: a link\n"
        "out of it, a dangling link, a link loop, a FIFO, socket or device with a\n"
        "source name, and a name that is not UTF-8 are each an error at that path,\n"
        "as in fsxdsd.\n"
        "\n"
        "Each group starts with a line such as \"node edge: 2 errors, 1 warning\",\n"
        "\"node edge: ok\", \"common: 1 error\", \"file x.yaml: ok\" or \"node edge:\n"
        "files ok, graph not checked (common/ has errors)\" (\"in TREE\" after the\n"
        "name when the tree was found above the path given, or there are several),\n"
        "followed by its diagnostics (FILE:LINE:COLUMN: error: FIELD: MESSAGE\n"
        "[RULE]); a summary line goes to stderr. --json prints one document instead:\n"
        "  {\"version\":1,\"errors\":N,\"warnings\":N,\"complete\":BOOL,\"groups\":[\n"
        "  {\"node\":ID or \"file\":PATH,\"errors\":N,\"warnings\":N,\"diagnostics\":[\n"
        "  {\"level\",\"file\",\"line\",\"column\",\"path\",\"message\",\"rule\"}]}]}\n"
        "where the shared group's node is \"(common)\", node groups also name\n"
        "their \"tree\", a node's build also has \"graph_checked\" and \"not_checked\"\n"
        "(why not, or null), path and rule may be null, and complete is false when\n"
        "a graph was not checked or a path could not be read.\n"
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

/* Why a node's graph was not checked. */
#define NOT_CHECKED_COMMON "common/ has errors"
#define NOT_CHECKED_FILES "its files have errors"
#define NOT_CHECKED_NODES "nodes/ cannot be listed"

typedef struct CheckGroup {
        char *tree; /* the source tree of a node group; NULL for a file */
        char *node; /* a node id or CHECK_COMMON; NULL for a file */
        char *file;
        bool tree_found; /* the tree was found above the path given */
        bool build;      /* a node's build (a tree of common/ alone: its common group) */
        const char *not_checked; /* a build whose graph was not checked: why */
        DiagList diags;
} CheckGroup;

/* What an argument names: a file or a directory whose files are each
 * compiled on its own, or a source tree (every node, or some). */
typedef enum CheckKind {
        CHECK_FILE,
        CHECK_DIR,
        CHECK_TREE,
} CheckKind;

typedef struct CheckTarget {
        CheckKind kind;
        char *path;      /* the file, the directory, the tree as spelled */
        char *real;      /* a tree's real path: arguments in one tree are one target */
        bool tree_found; /* found above the argument */
        bool every_node;
        char **nodes; /* when not every node */
        size_t n_nodes;
} CheckTarget;

typedef struct Check {
        const Schema *schema;
        bool allow_empty;
        CheckTarget *targets;
        size_t n_targets;
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
        for (size_t i = 0; i < k->n_targets; i++) {
                CheckTarget *t = &k->targets[i];
                free(t->path);
                free(t->real);
                for (size_t j = 0; j < t->n_nodes; j++)
                        free(t->nodes[j]);
                free(t->nodes);
        }
        free(k->targets);
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
        return d->file && strncmp(d->file, tree, l) == 0 &&
               (startswith(d->file + l, "/common/") || streq(d->file + l, "/common"));
}

/* Why a node's build did not check its graph: an error of common/ (or of
 * an entry of it) comes first, as it holds back every node. */
static const char *check_not_checked(const char *tree, const DiagList *l) {
        for (size_t i = 0; i < l->n; i++)
                if (l->items[i].level == DIAG_ERROR && check_in_common(tree, &l->items[i]))
                        return NOT_CHECKED_COMMON;
        return NOT_CHECKED_FILES;
}

static bool strv_contains(const char *const *v, const char *s) {
        for (; v && *v; v++)
                if (streq(*v, s))
                        return true;
        return false;
}

/* Builds the nodes of the source tree t (every node, or those it names)
 * from one source cache, as fsxdsd does, and groups the diagnostics: once
 * under CHECK_COMMON those that several nodes share, or that are about
 * common/ alone; the others under their node. A tree whose nodes/ cannot
 * be listed (fsxdsd builds nothing from it) is that error, and common/'s
 * files checked without a graph. */
static void check_tree(Check *k, const CheckTarget *t) {
        const char *tree = t->path;
        _cleanup_(source_cache_freep) SourceCache *c = NULL;
        int r = source_cache_new(k->schema, PUBLISH_MODE_RENAME, &c);
        const char *only = !t->every_node && t->n_nodes == 1 ? t->nodes[0] : NULL;
        if (r >= 0)
                r = source_cache_refresh(c, tree, only);
        int nodes_error = 0;
        if (r < 0) {
                /* the tree can be read but not its nodes/: common/ at least */
                int r2 = source_cache_refresh(c, tree, "");
                if (r2 >= 0) {
                        nodes_error = r;
                        r = r2;
                }
        }
        if (r < 0) {
                fprintf(stderr, "fsxds: cannot read the source tree %s: %s\n", tree, strerror(-r));
                k->io_error = true;
                return;
        }
        k->n_trees++;
        k->n_files += (size_t) r;
        _cleanup_free_ char *common_dir = xasprintf("%s/common", tree);
        struct stat st;
        bool has_common = stat(common_dir, &st) == 0 && S_ISDIR(st.st_mode);

        /* the nodes to build; a tree of common/ alone is one node, whose id
         * shows nowhere */
        const char *const *all = source_cache_nodes(c);
        bool pseudo = nodes_error < 0 || (t->every_node && !all[0]);
        size_t n = 0, n_all_nodes = 0;
        while (all[n_all_nodes])
                n_all_nodes++;
        const char **nodes = xcalloc(MAX(pseudo ? 1 : t->every_node ? n_all_nodes : t->n_nodes, 1), sizeof(char *));
        size_t common_index = k->n_groups;
        CheckGroup *cg = check_add_group(k, tree, CHECK_COMMON, NULL);
        cg->tree_found = t->tree_found;
        if (pseudo)
                nodes[n++] = "common";
        else if (t->every_node)
                for (size_t i = 0; all[i]; i++)
                        nodes[n++] = all[i];
        else
                for (size_t i = 0; i < t->n_nodes; i++) {
                        _cleanup_free_ char *path = xasprintf("%s/nodes/%s", tree, t->nodes[i]);
                        if (strv_contains(all, t->nodes[i]))
                                nodes[n++] = t->nodes[i];
                        else if (!strv_contains(source_cache_bad_node_dirs(c), t->nodes[i]))
                                diag_add(&k->groups[common_index].diags, DIAG_ERROR, path, 0, 0, NULL,
                                         "not a directory of nodes/: no node to check");
                }
        if (nodes_error < 0) {
                _cleanup_free_ char *path = xasprintf("%s/nodes", tree);
                if (nodes_error == -ENOTDIR)
                        diag_add(&k->groups[common_index].diags, DIAG_ERROR, path, 0, 0, NULL,
                                 "not a directory; no node is checked (fsxdsd builds none)");
                else
                        diag_add(&k->groups[common_index].diags, DIAG_ERROR, path, 0, 0, NULL,
                                 "cannot list the directory: %s; no node is checked (fsxdsd builds none)",
                                 strerror(-nodes_error));
        }
        k->n_nodes += pseudo ? 0 : n;

        DiagList *per_node = xcalloc(MAX(n, 1), sizeof(DiagList));
        bool *graph_checked = xcalloc(MAX(n, 1), sizeof(bool));
        for (size_t i = 0; i < n; i++) {
                _cleanup_free_ char *out = xasprintf("/run/fsxds/%s", nodes[i]);
                BuildOptions opts = { .output_dir = out, .skip_notes = !verbose, .merge_despite_errors = true,
                                      .skip_graph = nodes_error < 0, .graph_checked = &graph_checked[i] };
                NodeOutput o = {};
                r = build_node_from_cache(c, nodes[i], &opts, &per_node[i], &o);
                if (r >= 0)
                        node_output_done(&o);
        }

        /* count in how many nodes each diagnostic appears */
        Hashmap seen = {};
        CheckSeen **seen_all = NULL;
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
                                        seen_all = xrealloc(seen_all, cap_all * sizeof(CheckSeen *));
                                }
                                seen_all[n_all++] = s;
                        } else
                                free(key);
                        if (s->last != i + 1) {
                                s->n_nodes++;
                                s->last = i + 1;
                        }
                }
        }
        if (pseudo) {
                cg = &k->groups[common_index];
                cg->build = true;
                if (n > 0 && !graph_checked[0])
                        cg->not_checked = nodes_error < 0 ? NOT_CHECKED_NODES : NOT_CHECKED_COMMON;
        }
        for (size_t i = 0; i < n; i++) {
                const DiagList *l = &per_node[i];
                size_t node_index = SIZE_MAX;
                if (!pseudo) {
                        node_index = k->n_groups;
                        CheckGroup *g = check_add_group(k, tree, nodes[i], NULL);
                        g->tree_found = t->tree_found;
                        g->build = true;
                        if (!graph_checked[i])
                                g->not_checked = check_not_checked(tree, l);
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
                bool asked = t->every_node;
                for (size_t i = 0; !asked && i < t->n_nodes; i++)
                        asked = streq(t->nodes[i], *b);
                if (!asked)
                        continue;
                _cleanup_free_ char *path = xasprintf("%s/nodes/%s", tree, *b);
                diag_add(&k->groups[common_index].diags, DIAG_ERROR, path, 0, 0, NULL,
                         "not a node id (1 to 128 of A-Z a-z 0-9 . _ -, not starting with '.'); not built");
        }
        /* a tree without common/ shows no common group unless it has something to say */
        cg = &k->groups[common_index];
        if (!pseudo && !has_common && cg->diags.n == 0) {
                free(cg->tree);
                free(cg->node);
                memmove(cg, cg + 1, (k->n_groups - common_index - 1) * sizeof(CheckGroup));
                k->n_groups--;
        }
        for (size_t i = 0; i < n_all; i++) {
                free(seen_all[i]->key);
                free(seen_all[i]);
        }
        free(seen_all);
        hashmap_free(&seen);
        for (size_t i = 0; i < n; i++)
                diag_list_clear(&per_node[i]);
        free(per_node);
        free(graph_checked);
        free(nodes);
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

/* Each file of a directory that is no source tree, on its own. */
static void check_dir(Check *k, const char *dir) {
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

static bool is_dir(const char *path) {
        struct stat st;
        return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* The path cleaned lexically: no "." component, no "//", no trailing "/";
 * ".." drops the component before it when there is one (not ".."). */
static char **path_components(const char *path, bool *ret_absolute, size_t *ret_n) {
        _cleanup_free_ char *copy = xstrdup(path);
        char **v = xcalloc(strlen(path) / 2 + 2, sizeof(char *));
        size_t n = 0;
        for (char *save = NULL, *c = strtok_r(copy, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
                if (streq(c, "."))
                        continue;
                if (streq(c, "..") && n > 0 && !streq(v[n - 1], "..")) {
                        free(v[--n]);
                        continue;
                }
                if (streq(c, "..") && n == 0 && path[0] == '/')
                        continue; /* "/.." is "/" */
                v[n++] = xstrdup(c);
        }
        *ret_absolute = path[0] == '/';
        *ret_n = n;
        return v;
}

static char *path_from_components(bool absolute, char *const *v, size_t n) {
        Buf b = {};
        for (size_t i = 0; i < n; i++)
                buf_printf(&b, "%s%s", i > 0 || absolute ? "/" : "", v[i]);
        if (b.len == 0)
                buf_printf(&b, absolute ? "/" : ".");
        return buf_steal_str(&b);
}

static void strv_free_n(char **v, size_t n) {
        for (size_t i = 0; i < n; i++)
                free(v[i]);
        free(v);
}

/* The source tree the path arg (a directory when dir) is part of, as
 * fsxdsd's source_dir would be: the path itself when it has common/ or
 * nodes/, unless it is nodes/ID/ of a tree; else the nearest directory
 * above it such that the path is its common/ (or in it), its nodes/, or
 * nodes/ID/ (or in it). *ret_node: that ID, or NULL for every node.
 * The tree is spelled as arg is when it can be (its leading part), else
 * absolute. Returns false when there is none. */
static bool find_tree(const char *arg, bool dir, char **ret_tree, char **ret_node, bool *ret_found) {
        bool absolute;
        size_t n;
        char **v = path_components(arg, &absolute, &n);
        *ret_node = NULL;
        *ret_found = false;
        _cleanup_free_ char *spelled = path_from_components(absolute, v, n);
        if (dir) {
                _cleanup_free_ char *parent = n >= 2 ? path_from_components(absolute, v, n - 2) : NULL;
                if (n >= 2 && streq(v[n - 2], "nodes") && !streq(v[n - 1], "..")) {
                        *ret_tree = TAKE_PTR(parent);
                        *ret_node = xstrdup(v[n - 1]);
                        *ret_found = true;
                        strv_free_n(v, n);
                        return true;
                }
                _cleanup_free_ char *common = xasprintf("%s/common", spelled);
                _cleanup_free_ char *nodes = xasprintf("%s/nodes", spelled);
                if (is_dir(common) || is_dir(nodes)) {
                        *ret_tree = TAKE_PTR(spelled);
                        strv_free_n(v, n);
                        return true;
                }
        }
        /* walk up the absolute path, cleaned as the spelling is */
        _cleanup_free_ char *cwd = absolute ? NULL : getcwd(NULL, 0);
        _cleanup_free_ char *joined = absolute ? xstrdup(spelled) : cwd ? xasprintf("%s/%s", cwd, spelled) : NULL;
        bool found = false;
        if (joined) {
                bool a;
                size_t m;
                char **w = path_components(joined, &a, &m);
                for (size_t i = m; i-- > 0 && !found;) {
                        /* w[i] is the first component below the candidate */
                        if (!streq(w[i], "common") && !streq(w[i], "nodes"))
                                continue;
                        /* a node named common, or a directory of a node's (nodes/ID/common/,
                         * nodes/ID/nodes/): part of that node, as fsxdsd reads it */
                        if ((i >= 1 && streq(w[i - 1], "nodes") && streq(w[i], "common")) ||
                            (i >= 2 && streq(w[i - 2], "nodes")))
                                continue;
                        _cleanup_free_ char *anc = path_from_components(true, w, i);
                        _cleanup_free_ char *scope = path_from_components(true, w, i + 1);
                        if (!is_dir(scope))
                                continue;
                        if (streq(w[i], "nodes") && i + 1 < m) {
                                _cleanup_free_ char *node_dir = path_from_components(true, w, i + 2);
                                if (!is_dir(node_dir))
                                        continue; /* a file in nodes/: in no node */
                                *ret_node = xstrdup(w[i + 1]);
                        }
                        /* spelled as given when the part below the tree is
                         * the spelling's last components */
                        size_t below = m - i;
                        bool as_given = below <= n;
                        for (size_t j = 0; as_given && j < below; j++)
                                as_given = streq(v[n - below + j], w[i + j]);
                        *ret_tree = as_given ? path_from_components(absolute, v, n - below) : TAKE_PTR(anc);
                        found = true;
                }
                strv_free_n(w, m);
        }
        strv_free_n(v, n);
        *ret_found = found;
        return found;
}

static CheckTarget *check_add_target(Check *k, CheckKind kind, const char *path) {
        k->targets = xrealloc(k->targets, (k->n_targets + 1) * sizeof(CheckTarget));
        CheckTarget *t = &k->targets[k->n_targets++];
        *t = (CheckTarget) { .kind = kind, .path = xstrdup(path) };
        return t;
}

/* A node (or every node, node NULL) of the tree: arguments in one tree
 * make one target, so common/ is reported once. */
static void check_add_tree(Check *k, const char *tree, const char *node, bool found) {
        _cleanup_free_ char *real = realpath(tree, NULL);
        CheckTarget *t = NULL;
        for (size_t i = 0; real && i < k->n_targets && !t; i++)
                if (k->targets[i].kind == CHECK_TREE && k->targets[i].real && streq(k->targets[i].real, real))
                        t = &k->targets[i];
        if (!t) {
                t = check_add_target(k, CHECK_TREE, tree);
                t->real = TAKE_PTR(real);
                t->tree_found = found;
        } else
                t->tree_found = t->tree_found && found;
        if (!node) {
                t->every_node = true;
                return;
        }
        for (size_t i = 0; i < t->n_nodes; i++)
                if (streq(t->nodes[i], node))
                        return;
        t->nodes = xrealloc(t->nodes, (t->n_nodes + 1) * sizeof(char *));
        t->nodes[t->n_nodes++] = xstrdup(node);
}

static void check_path(Check *k, const char *arg) {
        struct stat st;
        if (stat(arg, &st) < 0) {
                fprintf(stderr, "fsxds: %s: %m\n", arg);
                k->io_error = true;
                return;
        }
        _cleanup_free_ char *tree = NULL, *node = NULL;
        bool found;
        if (find_tree(arg, S_ISDIR(st.st_mode), &tree, &node, &found)) {
                check_add_tree(k, tree, node, found);
                return;
        }
        /* without trailing slashes: file names in diagnostics stay canonical */
        _cleanup_free_ char *path = xstrdup(arg);
        for (size_t l = strlen(path); l > 1 && path[l - 1] == '/'; l--)
                path[l - 1] = 0;
        fprintf(stderr,
                "fsxds check: %s is in no source tree's common/ or nodes/ID/: %s on its own, as 'fsxds compile FILE' "
                "does, with no config source wired (fsxdsd wires those of a tree's nodes)\n",
                path, S_ISDIR(st.st_mode) ? "each file compiled" : "compiled");
        (void) check_add_target(k, S_ISDIR(st.st_mode) ? CHECK_DIR : CHECK_FILE, path);
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
                if (g->tree && (k->n_trees > 1 || g->tree_found))
                        buf_printf(&b, " in %s", g->tree);
                buf_printf(&b, ": ");
                if (g->not_checked && g->diags.n_errors == 0 && g->diags.n_warnings == 0)
                        buf_printf(&b, "files ok");
                else
                        check_counts(&b, g->diags.n_errors, g->diags.n_warnings);
                if (g->not_checked)
                        buf_printf(&b, ", graph not checked (%s)", g->not_checked);
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

static void check_print_json(const Check *k, size_t errors, size_t warnings, bool complete) {
        Buf b = {};
        buf_printf(&b, "{\"version\":1,\"errors\":%zu,\"warnings\":%zu,\"complete\":%s,\"groups\":[", errors,
                   warnings, complete ? "true" : "false");
        for (size_t i = 0; i < k->n_groups; i++) {
                const CheckGroup *g = &k->groups[i];
                buf_printf(&b, "%s\n{", i > 0 ? "," : "");
                if (g->node) {
                        buf_printf(&b, "\"node\":");
                        buf_put_json_string(&b, g->node);
                        buf_printf(&b, ",\"tree\":");
                        buf_put_json_string(&b, g->tree);
                        if (g->build) {
                                buf_printf(&b, ",\"graph_checked\":%s,\"not_checked\":", g->not_checked ? "false" : "true");
                                json_put_string_or_null(&b, g->not_checked);
                        }
                } else {
                        buf_printf(&b, "\"file\":");
                        buf_put_json_string(&b, g->file);
                }
                buf_printf(&b, ",\"errors\":%zu,\"warnings\":%zu,\"diagnostics\":[", g->diags.n_errors, g->diags.n_warnings);
                size_t n;
                _cleanup_free_ const Diag **v = check_sorted(&g->diags, &n);
                for (size_t j = 0; j < n; j++) {
                        buf_printf(&b, "%s\n ", j > 0 ? "," : "");
                        json_put_diag(&b, v[j]);
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
        for (size_t i = 0; i < k.n_targets; i++) {
                const CheckTarget *t = &k.targets[i];
                if (t->kind == CHECK_TREE)
                        check_tree(&k, t);
                else if (t->kind == CHECK_DIR)
                        check_dir(&k, t->path);
                else
                        check_file(&k, t->path);
        }
        size_t errors = 0, warnings = 0, not_checked = 0;
        for (size_t i = 0; i < k.n_groups; i++) {
                errors += k.groups[i].diags.n_errors;
                warnings += k.groups[i].diags.n_warnings;
                not_checked += !!k.groups[i].not_checked;
        }
        if (o->json)
                check_print_json(&k, errors, warnings, !k.io_error && not_checked == 0);
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
        buf_printf(&b, "%zu file%s checked", k.n_files, k.n_files == 1 ? "" : "s");
        if (not_checked > 0)
                buf_printf(&b, "; %zu graph%s not checked", not_checked, not_checked == 1 ? "" : "s");
        buf_printf(&b, ")%s", k.io_error ? "; not every path could be read" : "");
        _cleanup_free_ char *summary = buf_steal_str(&b);
        fprintf(stderr, "fsxds check: %s\n", summary);
        check_done(&k);
        return ret;
}
