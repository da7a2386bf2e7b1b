/* SPDX-License-Identifier: MIT */
/* fsxds: the command-line companion of fsxdsd. compile turns YAML into the
 * binary DiscoveryResponse files Envoy reads; check reports every problem
 * of a tree, node by node, without writing; decode shows them again;
 * status, bootstrap, allow-removal and forget work on a running fsxdsd's
 * directories, found through its fsxds.yaml; verify checks a node
 * directory or a source tree against its signed MANIFEST, which sign
 * writes for a source tree. Exit codes: 0 success, 1 bad
 * input (diagnostics on stderr), 2 usage or I/O. */
#include <assert.h>
#include <dirent.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <time.h>

#include "build.h"
#include "compile.h"
#include "config.h"
#include "version.h"
#include "decode.h"
#include "hashmap.h"
#include "json.h"
#include "manifest.h"
#include "schema.h"
#include "sign.h"

enum {
        EXIT_OK = 0,
        EXIT_BAD_INPUT = 1,
        EXIT_USAGE = 2,
};

static const char usage_main[] =
        "Usage: fsxds [--version] [--help] COMMAND [ARGS...]\n"
        "\n"
        "Compile Envoy xDS configuration written in YAML into the binary\n"
        "DiscoveryResponse files Envoy's path subscriptions read.\n"
        "\n"
        "Commands:\n"
        "  check          compile a tree or files without writing; every diagnostic, by node\n"
        "  compile        compile one file, or one node's directory (--node)\n"
        "  decode         print a compiled .pb file as YAML or JSON\n"
        "  status         show what fsxdsd last published, per node\n"
        "  bootstrap      print the Envoy bootstrap part pointing a node at its files\n"
        "  allow-removal  let a node's next generation remove more than max_removal\n"
        "  forget         remove the output and state of a node gone from the tree\n"
        "  verify         check a node directory or source tree against its signed MANIFEST\n"
        "  sign           write a signed MANIFEST of a source tree\n"
        "\n"
        "Run 'fsxds COMMAND --help' for a command's options.\n"
        "Exit status: 0 success, 1 bad input, 2 usage or I/O error.\n";

static const char usage_compile[] =
        "Usage: fsxds compile [--schema DESC] [--allow-empty] FILE -o OUT.pb\n"
        "       fsxds compile [--schema DESC] [--publish-mode MODE] --node ID SRC_DIR -o OUT_DIR\n"
        "\n"
        "The first form compiles FILE (DiscoveryResponse documents or resources\n"
        "with \"@type\", all of one type) into one binary DiscoveryResponse. The\n"
        "file's own version_info is kept, else a content hash is used. A file\n"
        "with no resources is refused unless --allow-empty (an empty LDS or CDS\n"
        "file removes every listener or cluster).\n"
        "\n"
        "The second form builds node ID's directory from the source tree SRC_DIR\n"
        "(common/ and nodes/ID/), exactly as fsxdsd publishes it, with config\n"
        "sources wired to files under OUT_DIR.\n"
        "\n"
        "Options:\n"
        "  -o, --output PATH       output file or directory\n"
        "      --node ID           build the directory of node ID\n"
        "      --schema DESC       compile against this FileDescriptorSet\n"
        "                          (protoc --include_imports --descriptor_set_out)\n"
        "      --allow-empty       accept a file without resources\n"
        "      --publish-mode MODE rename (default) or watched_directory\n"
        "  -v, --verbose           also print notes (config source rewrites)\n"
        "  -h, --help              show this help\n";

static const char usage_decode[] =
        "Usage: fsxds decode [--schema DESC] [--json|--yaml] IN.pb\n"
        "\n"
        "Prints a binary DiscoveryResponse with every Any expanded, in a form\n"
        "'fsxds compile' accepts back. YAML is the default.\n"
        "\n"
        "Options:\n"
        "      --json          print JSON\n"
        "      --yaml          print YAML\n"
        "      --schema DESC   decode against this FileDescriptorSet\n"
        "  -h, --help          show this help\n";

static bool verbose;

static void print_diags(const DiagList *d) {
        for (size_t i = 0; i < d->n; i++) {
                if (d->items[i].level == DIAG_NOTE && !verbose)
                        continue;
                _cleanup_free_ char *s = diag_format(&d->items[i]);
                fprintf(stderr, "%s\n", s);
        }
        if (d->n_dropped > 0)
                fprintf(stderr, "(%zu more diagnostics not shown)\n", d->n_dropped);
}

static int load_schema(const char *path, Schema **ret) {
        if (!path)
                return schema_load_builtin(ret);
        _cleanup_free_ char *error = NULL;
        int r = schema_load_file(path, &error, ret);
        if (r < 0) {
                fprintf(stderr, "fsxds: --schema %s: %s\n", path, error ? error : strerror(-r));
                return r;
        }
        return 0;
}

static int write_output(const char *path, const void *data, size_t len) {
        int r = write_file_atomic(path, data, len, 0644);
        if (r < 0)
                fprintf(stderr, "fsxds: cannot write %s: %s\n", path, strerror(-r));
        return r;
}

/* What a single-file compile requires beyond the file's own diagnostics
 * (r is compile_file's result): one DiscoveryResponse of one type, whose
 * type_url, when given, is the resources', and resources unless
 * allow_empty. */
static void check_one_response(const char *file, int r, const CompileResult *cr, bool allow_empty, DiagList *diags) {
        const Resource *first = cr->resources.n > 0 ? &cr->resources.items[0] : NULL;
        if (r == 0 && cr->type_url && first && !streq(cr->type_url, resource_type_to_url(first->type)))
                diag_add(diags, DIAG_ERROR, file, cr->type_url_line, cr->type_url_column, "type_url",
                         "type_url %s does not match the resources' type %s", cr->type_url, resource_type_to_url(first->type));
        for (size_t i = 1; i < cr->resources.n; i++) {
                const Resource *x = &cr->resources.items[i];
                if (x->type != first->type) {
                        diag_add(diags, DIAG_ERROR, x->file, x->line, x->column, NULL,
                                 "this %s cannot go into the same response as the %s at line %u: one output file "
                                 "holds one resource type; compile a tree of several types with --node",
                                 resource_type_to_string(x->type), resource_type_to_string(first->type), first->line);
                        break;
                }
        }
        /* a path subscription of these types takes one resource a file:
         * Envoy rejects "Unexpected EDS resource length: 2" and the like */
        bool one_type = true;
        for (size_t i = 1; i < cr->resources.n && one_type; i++)
                one_type = cr->resources.items[i].type == first->type;
        if (first && one_type && cr->resources.n > 1 &&
            (first->type == RESOURCE_ROUTE_CONFIGURATION || first->type == RESOURCE_CLUSTER_LOAD_ASSIGNMENT ||
             first->type == RESOURCE_SECRET || first->type == RESOURCE_RUNTIME))
                diag_add_rule(diags, DIAG_WARNING, file, cr->resources.items[1].line, cr->resources.items[1].column, NULL,
                              "file.one-resource",
                              "%zu %ss in one file: an Envoy path subscription of this type reads one per file and "
                              "rejects this one (fsxds compile --node writes one file per resource)",
                              cr->resources.n, resource_type_to_string(first->type));
        if (r == 0 && cr->resources.n == 0 && !allow_empty && diags->n_errors == 0)
                diag_add(diags, DIAG_ERROR, file, 0, 0, NULL,
                         "no resources: an empty LDS or CDS file would remove every listener or cluster; "
                         "pass --allow-empty if that is meant");
}

static int compile_one(const Schema *schema, const char *file, const char *output, bool allow_empty) {
        DiagList diags = {};
        CompileResult cr = {};
        int r = compile_file(schema, file, NULL, &diags, &cr);
        if (r < 0 && r != -EBADMSG) {
                fprintf(stderr, "fsxds: cannot read %s: %s\n", file, strerror(-r));
                compile_result_done(&cr);
                diag_list_clear(&diags);
                return EXIT_USAGE;
        }
        check_one_response(file, r, &cr, allow_empty, &diags);
        const Resource *first = cr.resources.n > 0 ? &cr.resources.items[0] : NULL;
        int ret = EXIT_OK;
        if (diags.n_errors > 0)
                ret = EXIT_BAD_INPUT;
        else {
                Resource **items = xcalloc(MAX(cr.resources.n, 1), sizeof(Resource *));
                for (size_t i = 0; i < cr.resources.n; i++)
                        items[i] = &cr.resources.items[i];
                char hash[17];
                resources_version(items, cr.resources.n, hash);
                const char *type_url = first ? resource_type_to_url(first->type) : cr.type_url;
                Buf out = {};
                resources_response(items, cr.resources.n, cr.version_info ? cr.version_info : hash, type_url, &out);
                if (write_output(output, out.data, out.len) < 0)
                        ret = EXIT_USAGE;
                buf_free(&out);
                free(items);
        }
        print_diags(&diags);
        diag_list_clear(&diags);
        compile_result_done(&cr);
        return ret;
}

/* Removes .pb files of the type directories that the new output does not
 * have, so the directory equals the node's output. */
static void remove_stale(const char *out_dir, const NodeOutput *o) {
        for (ResourceType t = 0; t < _RESOURCE_TYPE_MAX; t++) {
                const char *type = resource_type_dir(t);
                if (!type)
                        continue;
                _cleanup_free_ char *d = xasprintf("%s/%s", out_dir, type);
                DIR *dir = opendir(d);
                if (!dir)
                        continue;
                struct dirent *de;
                while ((de = readdir(dir))) {
                        if (!endswith(de->d_name, ".pb"))
                                continue;
                        _cleanup_free_ char *rel = xasprintf("%s/%s", type, de->d_name);
                        bool keep = false;
                        for (size_t k = 0; k < o->n && !keep; k++)
                                keep = streq(o->files[k].path, rel);
                        if (!keep)
                                (void) unlinkat(dirfd(dir), de->d_name, 0);
                }
                closedir(dir);
        }
}

static char *absolute_path(const char *p) {
        if (p[0] == '/')
                return xstrdup(p);
        char cwd[PATH_MAX];
        if (!getcwd(cwd, sizeof cwd))
                return NULL;
        return xasprintf("%s/%s", cwd, p);
}

static int compile_node(const Schema *schema, const char *node, const char *src, const char *output, PublishMode mode) {
        struct stat st;
        if (stat(src, &st) < 0 || !S_ISDIR(st.st_mode)) {
                fprintf(stderr, "fsxds: %s: not a directory\n", src);
                return EXIT_USAGE;
        }
        _cleanup_free_ char *out_dir = absolute_path(output);
        if (!out_dir) {
                fprintf(stderr, "fsxds: cannot resolve %s: %m\n", output);
                return EXIT_USAGE;
        }
        /* strip trailing slashes so wired paths are canonical */
        for (size_t l = strlen(out_dir); l > 1 && out_dir[l - 1] == '/'; l--)
                out_dir[l - 1] = 0;
        DiagList diags = {};
        NodeOutput o = {};
        BuildOptions opts = { .output_dir = out_dir };
        int r = build_node(schema, mode, src, node, &opts, &diags, &o);
        print_diags(&diags);
        diag_list_clear(&diags);
        if (r == -EBADMSG)
                return EXIT_BAD_INPUT;
        if (r < 0)
                return EXIT_USAGE;
        int ret = EXIT_OK;
        for (size_t i = 0; i < o.n && ret == EXIT_OK; i++) {
                _cleanup_free_ char *path = xasprintf("%s/%s", out_dir, o.files[i].path);
                _cleanup_free_ char *dir = xstrdup(path);
                *strrchr(dir, '/') = 0;
                r = mkdir_p(dir, 0755);
                if (r < 0) {
                        fprintf(stderr, "fsxds: cannot create %s: %s\n", dir, strerror(-r));
                        ret = EXIT_USAGE;
                } else if (write_output(path, o.files[i].data, o.files[i].len) < 0)
                        ret = EXIT_USAGE;
        }
        if (ret == EXIT_OK)
                remove_stale(out_dir, &o);
        node_output_done(&o);
        return ret;
}

static int cmd_compile(int argc, char **argv) {
        enum { ARG_SCHEMA = 0x100, ARG_NODE, ARG_ALLOW_EMPTY, ARG_PUBLISH_MODE };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "output", required_argument, NULL, 'o' },
                { "verbose", no_argument, NULL, 'v' },
                { "schema", required_argument, NULL, ARG_SCHEMA },
                { "node", required_argument, NULL, ARG_NODE },
                { "allow-empty", no_argument, NULL, ARG_ALLOW_EMPTY },
                { "publish-mode", required_argument, NULL, ARG_PUBLISH_MODE },
                {},
        };
        const char *output = NULL, *schema_path = NULL, *node = NULL;
        bool allow_empty = false;
        PublishMode mode = PUBLISH_MODE_RENAME;
        int c;
        while ((c = getopt_long(argc, argv, "ho:v", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        fputs(usage_compile, stdout);
                        return EXIT_OK;
                case 'o':
                        output = optarg;
                        break;
                case 'v':
                        verbose = true;
                        break;
                case ARG_SCHEMA:
                        schema_path = optarg;
                        break;
                case ARG_NODE:
                        node = optarg;
                        break;
                case ARG_ALLOW_EMPTY:
                        allow_empty = true;
                        break;
                case ARG_PUBLISH_MODE:
                        mode = publish_mode_from_string(optarg);
                        if (mode < 0) {
                                fprintf(stderr, "fsxds: --publish-mode: expected rename or watched_directory, got \"%s\"\n", optarg);
                                return EXIT_USAGE;
                        }
                        break;
                default:
                        fputs(usage_compile, stderr);
                        return EXIT_USAGE;
                }
        if (optind + 1 != argc || !output) {
                fprintf(stderr, "fsxds compile: expected one input and -o OUTPUT\n%s", usage_compile);
                return EXIT_USAGE;
        }
        if (node && !node_id_is_valid(node)) {
                fprintf(stderr, "fsxds: invalid node id \"%s\" (1 to 128 of A-Z a-z 0-9 . _ -, not starting with '.')\n", node);
                return EXIT_USAGE;
        }
        _cleanup_(schema_freep) Schema *schema = NULL;
        if (load_schema(schema_path, &schema) < 0)
                return EXIT_USAGE;
        if (node)
                return compile_node(schema, node, argv[optind], output, mode);
        return compile_one(schema, argv[optind], output, allow_empty);
}

static int cmd_decode(int argc, char **argv) {
        enum { ARG_SCHEMA = 0x100, ARG_JSON, ARG_YAML };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "schema", required_argument, NULL, ARG_SCHEMA },
                { "json", no_argument, NULL, ARG_JSON },
                { "yaml", no_argument, NULL, ARG_YAML },
                {},
        };
        const char *schema_path = NULL;
        DecodeFormat fmt = DECODE_FORMAT_YAML;
        int c;
        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        fputs(usage_decode, stdout);
                        return EXIT_OK;
                case ARG_SCHEMA:
                        schema_path = optarg;
                        break;
                case ARG_JSON:
                        fmt = DECODE_FORMAT_JSON;
                        break;
                case ARG_YAML:
                        fmt = DECODE_FORMAT_YAML;
                        break;
                default:
                        fputs(usage_decode, stderr);
                        return EXIT_USAGE;
                }
        if (optind + 1 != argc) {
                fprintf(stderr, "fsxds decode: expected one input file\n%s", usage_decode);
                return EXIT_USAGE;
        }
        _cleanup_(schema_freep) Schema *schema = NULL;
        if (load_schema(schema_path, &schema) < 0)
                return EXIT_USAGE;
        const SchemaMessage *m = schema_message(schema, "envoy.service.discovery.v3.DiscoveryResponse");
        if (!m) {
                fprintf(stderr, "fsxds: the schema has no envoy.service.discovery.v3.DiscoveryResponse\n");
                return EXIT_USAGE;
        }
        _cleanup_free_ char *data = NULL;
        size_t len;
        int r = read_file_bounded(argv[optind], 1u << 30, &data, &len);
        if (r < 0) {
                fprintf(stderr, "fsxds: cannot read %s: %s\n", argv[optind], strerror(-r));
                return EXIT_USAGE;
        }
        Buf out = {};
        _cleanup_free_ char *error = NULL;
        r = decode_message(schema, m, (const uint8_t *) data, len, fmt, &out, &error);
        if (r < 0) {
                fprintf(stderr, "%s: error: %s\n", argv[optind], error ? error : strerror(-r));
                buf_free(&out);
                return EXIT_BAD_INPUT;
        }
        fwrite(out.data, 1, out.len, stdout);
        buf_free(&out);
        return fflush(stdout) == 0 ? EXIT_OK : EXIT_USAGE;
}

/* ---- check: every diagnostic of a tree or of files, grouped by node ---- */

static const char usage_check[] =
        "Usage: fsxds check [--schema DESC] [--json] [--allow-empty] [-v] DIR|FILE...\n"
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
        "      --schema DESC   compile against this FileDescriptorSet\n"
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
        int r = build_list_sources(dir, &files);
        if (r < 0) {
                fprintf(stderr, "fsxds: cannot list %s: %s\n", dir, strerror(-r));
                k->io_error = true;
                return;
        }
        if (!files[0])
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

static int cmd_check(int argc, char **argv) {
        enum { ARG_SCHEMA = 0x100, ARG_JSON, ARG_ALLOW_EMPTY };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "verbose", no_argument, NULL, 'v' },
                { "schema", required_argument, NULL, ARG_SCHEMA },
                { "json", no_argument, NULL, ARG_JSON },
                { "allow-empty", no_argument, NULL, ARG_ALLOW_EMPTY },
                {},
        };
        const char *schema_path = NULL;
        bool json = false, allow_empty = false;
        int c;
        while ((c = getopt_long(argc, argv, "hv", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        fputs(usage_check, stdout);
                        return EXIT_OK;
                case 'v':
                        verbose = true;
                        break;
                case ARG_SCHEMA:
                        schema_path = optarg;
                        break;
                case ARG_JSON:
                        json = true;
                        break;
                case ARG_ALLOW_EMPTY:
                        allow_empty = true;
                        break;
                default:
                        fputs(usage_check, stderr);
                        return EXIT_USAGE;
                }
        if (optind >= argc) {
                fprintf(stderr, "fsxds check: expected a source tree, a directory or a file\n%s", usage_check);
                return EXIT_USAGE;
        }
        _cleanup_(schema_freep) Schema *schema = NULL;
        if (load_schema(schema_path, &schema) < 0)
                return EXIT_USAGE;
        Check k = { .schema = schema, .allow_empty = allow_empty };
        for (int i = optind; i < argc; i++)
                check_path(&k, argv[i]);
        size_t errors = 0, warnings = 0;
        for (size_t i = 0; i < k.n_groups; i++) {
                errors += k.groups[i].diags.n_errors;
                warnings += k.groups[i].diags.n_warnings;
        }
        if (json)
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

/* ---- the administration commands: status, forget, allow-removal, bootstrap ---- */

static const char usage_status[] =
        "Usage: fsxds status [--config FILE] [--json]\n"
        "\n"
        "Shows what fsxdsd last published, from OUTPUT_DIR/status.json: per\n"
        "node its generation, the time of its last publish, its counts of files,\n"
        "listeners and clusters, and its last error or \"ok\".\n"
        "\n"
        "Options:\n"
        "      --config FILE   the daemon's configuration (default " CONFIG_DEFAULT_PATH ")\n"
        "      --json          print status.json as it is\n"
        "  -h, --help          show this help\n";

static const char usage_forget[] =
        "Usage: fsxds forget [--config FILE] NODE\n"
        "\n"
        "fsxdsd keeps the output of a node that left the source tree, since its\n"
        "Envoy may still run. This removes it: OUTPUT_DIR/NODE/, the node's last\n"
        "good generation under STATE_DIR/nodes/NODE/ and a pending removal\n"
        "allowance. Symlinks are removed, never followed. Refused while\n"
        "SOURCE_DIR/nodes/NODE/ exists or NODE is listed in nodes:.\n"
        "\n"
        "Options:\n"
        "      --config FILE   the daemon's configuration (default " CONFIG_DEFAULT_PATH ")\n"
        "  -h, --help          show this help\n";

static const char usage_allow_removal[] =
        "Usage: fsxds allow-removal [--config FILE] NODE\n"
        "\n"
        "Lets the next generation of NODE remove more than max_removal of its\n"
        "listeners or clusters (fsxdsd refuses such a generation otherwise, in\n"
        "case the source tree was emptied or unmounted by mistake). Creates\n"
        "STATE_DIR/allow-removal/NODE; fsxdsd deletes it when it uses it.\n"
        "\n"
        "Options:\n"
        "      --config FILE   the daemon's configuration (default " CONFIG_DEFAULT_PATH ")\n"
        "  -h, --help          show this help\n";

static const char usage_bootstrap[] =
        "Usage: fsxds bootstrap [--config FILE] [--publish-mode MODE] [--json] --node ID\n"
        "\n"
        "Prints the part of an Envoy bootstrap that points node ID at the files\n"
        "fsxdsd publishes for it (node.id and dynamic_resources), as YAML or\n"
        "JSON. Warns on stderr when the node has more path subscriptions than\n"
        "the host's fs.inotify.max_user_instances: each costs the Envoy one\n"
        "inotify instance.\n"
        "\n"
        "Options:\n"
        "      --node ID           the node\n"
        "      --config FILE       the daemon's configuration (default " CONFIG_DEFAULT_PATH ")\n"
        "      --publish-mode MODE rename or watched_directory (default: the configuration's)\n"
        "      --json              print JSON\n"
        "  -h, --help              show this help\n";

static const char *const node_type_dirs[] = { "rds", "eds", "sds", "srds", "rtds" };

static bool check_node_id(const char *node) {
        if (node_id_is_valid(node))
                return true;
        fprintf(stderr, "fsxds: invalid node id \"%s\" (1 to 128 of A-Z a-z 0-9 . _ -, not starting with '.')\n", node);
        return false;
}

/* The configuration from path, or from the default path; the built-in
 * defaults when the default file does not exist (a host without fsxds.yaml
 * runs the daemon with them too). Prints what went wrong. */
static int load_config(const char *path, Config **ret) {
        DiagList diags = {};
        int r = config_load(path ? path : CONFIG_DEFAULT_PATH, &diags, ret);
        if (r == -ENOENT && !path) {
                *ret = config_new_default();
                return 0;
        }
        print_diags(&diags);
        diag_list_clear(&diags);
        if (r < 0 && r != -EBADMSG)
                fprintf(stderr, "fsxds: cannot read %s: %s\n", path ? path : CONFIG_DEFAULT_PATH, strerror(-r));
        return r;
}

/* dir/name without a doubled slash (dir may be "/" or end in '/'). */
static char *path_join(const char *dir, const char *name) {
        return xasprintf("%s%s%s", dir, endswith(dir, "/") ? "" : "/", name);
}

/* what status.json may weigh */
#define STATUS_MAX_SIZE (64u << 20)

/* Local time as "2024-11-26 06:26:40". */
static void format_time_usec(int64_t usec, char ret[32]) {
        time_t t = (time_t) (usec / 1000000);
        struct tm tm;
        if (usec <= 0 || !localtime_r(&t, &tm) || strftime(ret, 32, "%Y-%m-%d %H:%M:%S", &tm) == 0)
                snprintf(ret, 32, "-");
}


/* A string from the file as one line of a table: control characters, which
 * would break the line or drive the terminal, become '?'. */
static char *printable(const char *s) {
        char *r = xstrdup(s);
        for (char *p = r; *p; p++)
                if ((unsigned char) *p < 0x20 || *p == 0x7f)
                        *p = '?';
        return r;
}

static char *status_int_cell(const Json *j, const char *key) {
        int64_t v;
        return json_get_int(j, key, &v) ? xasprintf("%" PRIi64, v) : xstrdup("-");
}

static char *status_node_state(const char *id, const Json *node) {
        Buf b = {};
        const Json *blocked = json_get(node, "removal_blocked");
        if (blocked && blocked->kind == JSON_BOOL && blocked->boolean)
                buf_printf(&b, "removal blocked (fsxds allow-removal %s); ", id);
        const Json *current = json_get(node, "manifest_current");
        if (current && current->kind == JSON_BOOL && !current->boolean)
                buf_printf(&b, "MANIFEST not current (see the journal); ");
        const Json *e = json_get(node, "error");
        if (!e || e->kind == JSON_NULL) {
                buf_printf(&b, "ok");
                return buf_steal_str(&b);
        }
        const char *file = json_get_str(e, "file"), *path = json_get_str(e, "path"), *message = json_get_str(e, "message");
        int64_t line = 0, column = 0, count = 1;
        if (file) {
                buf_printf(&b, "%s:", file);
                if (json_get_int(e, "line", &line) && line > 0) {
                        (void) json_get_int(e, "column", &column);
                        buf_printf(&b, "%" PRIi64 ":%" PRIi64 ":", line, column);
                }
                buf_putc(&b, ' ');
        }
        if (path)
                buf_printf(&b, "%s: ", path);
        buf_printf(&b, "%s", message ? message : "error");
        if (json_get_int(e, "count", &count) && count > 1)
                buf_printf(&b, " (%" PRIi64 " errors)", count);
        _cleanup_free_ char *s = buf_steal_str(&b);
        return printable(s);
}

static int compare_strp(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

static int status_print(const char *file, const Json *root) {
        int64_t version;
        if (root->kind != JSON_OBJECT || !json_get_int(root, "version", &version)) {
                fprintf(stderr, "%s: error: not a status file of fsxdsd (no \"version\")\n", file);
                return EXIT_BAD_INPUT;
        }
        if (version != 1) {
                fprintf(stderr, "%s: error: status file version %" PRIi64 ", this fsxds reads version 1\n", file, version);
                return EXIT_BAD_INPUT;
        }
        const Json *nodes = json_get(root, "nodes");
        if (nodes && nodes->kind != JSON_OBJECT && nodes->kind != JSON_NULL) {
                fprintf(stderr, "%s: error: \"nodes\" is not an object\n", file);
                return EXIT_BAD_INPUT;
        }
        size_t n = nodes && nodes->kind == JSON_OBJECT ? nodes->n : 0;

        char when[32];
        int64_t t = 0;
        (void) json_get_int(root, "time_usec", &t);
        format_time_usec(t, when);
        _cleanup_free_ char *generation = status_int_cell(root, "generation");
        const char *backend = json_get_str(root, "backend"), *mode = json_get_str(root, "publish_mode");
        _cleanup_free_ char *header = xasprintf("fsxdsd generation %s, watch %s, publish mode %s, last rebuild %s",
                                                generation, backend ? backend : "-", mode ? mode : "-", when);
        _cleanup_free_ char *header_p = printable(header);
        printf("%s\n", header_p);
        const Json *signing = json_get(root, "signing"), *sources = json_get(root, "signed_sources");
        const char *subject = json_get_str(signing, "subject");
        if (subject) {
                int64_t until = 0;
                (void) json_get_int(signing, "not_after", &until);
                format_time_usec(until * 1000000, when);
                _cleanup_free_ char *line = printable(subject);
                printf("MANIFESTs signed as %s (certificate valid until %s)\n", line, when);
        }
        const char *ca = json_get_str(sources, "ca"), *refused = json_get_str(sources, "error");
        if (ca) {
                _cleanup_free_ char *line = printable(refused ? refused : ca);
                printf(refused ? "source tree REFUSED, last good output kept: %s\n" : "source tree signed under %s\n", line);
        }
        if (n == 0) {
                printf("no nodes\n");
                return fflush(stdout) == 0 ? EXIT_OK : EXIT_USAGE;
        }

        /* the node ids sorted, each with the index of its (last) entry */
        enum { COL_NODE, COL_GENERATION, COL_PUBLISHED, COL_FILES, COL_LISTENERS, COL_CLUSTERS, COL_STATE, _COL_MAX };
        static const char *const titles[_COL_MAX] = { "NODE", "GENERATION", "PUBLISHED", "FILES", "LISTENERS", "CLUSTERS", "STATE" };
        char **ids = xcalloc(n, sizeof(char *));
        for (size_t i = 0; i < n; i++)
                ids[i] = nodes->keys[i];
        qsort(ids, n, sizeof(char *), compare_strp);
        char *(*cells)[_COL_MAX] = xcalloc(n, sizeof(*cells));
        size_t width[_COL_MAX];
        for (size_t c = 0; c < _COL_MAX; c++)
                width[c] = strlen(titles[c]);
        size_t rows = 0;
        for (size_t i = 0; i < n; i++) {
                if (i > 0 && streq(ids[i], ids[i - 1]))
                        continue;
                const Json *node = json_get(nodes, ids[i]);
                if (node->kind != JSON_OBJECT) {
                        fprintf(stderr, "%s: warning: the entry of node \"%s\" is not an object\n", file, ids[i]);
                        continue;
                }
                char **row = cells[rows++];
                row[COL_NODE] = printable(ids[i]);
                row[COL_GENERATION] = status_int_cell(node, "generation");
                int64_t published = 0;
                (void) json_get_int(node, "published_usec", &published);
                format_time_usec(published, when);
                row[COL_PUBLISHED] = xstrdup(when);
                row[COL_FILES] = status_int_cell(node, "files");
                row[COL_LISTENERS] = status_int_cell(node, "listeners");
                row[COL_CLUSTERS] = status_int_cell(node, "clusters");
                row[COL_STATE] = status_node_state(ids[i], node);
                for (size_t c = 0; c < _COL_MAX; c++)
                        width[c] = MAX(width[c], strlen(row[c]));
        }
        for (size_t c = 0; c + 1 < _COL_MAX; c++)
                printf("%-*s  ", (int) width[c], titles[c]);
        printf("%s\n", titles[_COL_MAX - 1]);
        for (size_t r = 0; r < rows; r++) {
                for (size_t c = 0; c + 1 < _COL_MAX; c++)
                        printf("%-*s  ", (int) width[c], cells[r][c]);
                printf("%s\n", cells[r][_COL_MAX - 1]);
        }
        for (size_t r = 0; r < rows; r++)
                for (size_t c = 0; c < _COL_MAX; c++)
                        free(cells[r][c]);
        free(cells);
        free(ids);
        return fflush(stdout) == 0 ? EXIT_OK : EXIT_USAGE;
}

static int cmd_status(int argc, char **argv) {
        enum { ARG_CONFIG = 0x100, ARG_JSON };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "config", required_argument, NULL, ARG_CONFIG },
                { "json", no_argument, NULL, ARG_JSON },
                {},
        };
        const char *config_path = NULL;
        bool json = false;
        int c;
        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        fputs(usage_status, stdout);
                        return EXIT_OK;
                case ARG_CONFIG:
                        config_path = optarg;
                        break;
                case ARG_JSON:
                        json = true;
                        break;
                default:
                        fputs(usage_status, stderr);
                        return EXIT_USAGE;
                }
        if (optind != argc) {
                fprintf(stderr, "fsxds status: unexpected argument \"%s\"\n%s", argv[optind], usage_status);
                return EXIT_USAGE;
        }
        _cleanup_(config_freep) Config *config = NULL;
        if (load_config(config_path, &config) < 0)
                return EXIT_USAGE;
        _cleanup_free_ char *file = path_join(config->output_dir, "status.json");
        _cleanup_free_ char *data = NULL;
        size_t len;
        int r = read_file_bounded(file, STATUS_MAX_SIZE, &data, &len);
        if (r == -ENOENT) {
                fprintf(stderr, "fsxds: fsxdsd has not published into %s yet (no status.json)\n", config->output_dir);
                return EXIT_USAGE;
        }
        if (r < 0) {
                fprintf(stderr, "fsxds: cannot read %s: %s\n", file, strerror(-r));
                return EXIT_USAGE;
        }
        if (json) {
                fwrite(data, 1, len, stdout);
                return fflush(stdout) == 0 ? EXIT_OK : EXIT_USAGE;
        }
        _cleanup_(json_freep) Json *root = NULL;
        _cleanup_free_ char *error = NULL;
        if (json_parse(data, len, &error, &root) < 0) {
                fprintf(stderr, "%s:%s\n", file, error);
                return EXIT_BAD_INPUT;
        }
        return status_print(file, root);
}

#define REMOVE_MAX_DEPTH 64

/* Removes the entry name of dir_fd and, when it is a directory, everything
 * in it. A symlink is unlinked, never followed: the directory is opened
 * O_NOFOLLOW, so one swapped in between is not entered either. Directories
 * on another file system than dev (a mount point) are left alone. */
static int remove_tree_at(int dir_fd, const char *name, dev_t dev, unsigned depth) {
        if (depth > REMOVE_MAX_DEPTH)
                return -ELOOP;
        int fd = openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
        if (fd < 0) {
                if (errno != ENOTDIR && errno != ELOOP)
                        return -errno;
                return unlinkat(dir_fd, name, 0) < 0 ? -errno : 0;
        }
        struct stat st;
        if (fstat(fd, &st) < 0) {
                int r = -errno;
                close(fd);
                return r;
        }
        if (st.st_dev != dev) {
                close(fd);
                return -EXDEV;
        }
        DIR *d = fdopendir(fd);
        if (!d) {
                int r = -errno;
                close(fd);
                return r;
        }
        int r = 0;
        for (;;) {
                errno = 0;
                struct dirent *de = readdir(d);
                if (!de) {
                        if (errno != 0 && r == 0)
                                r = -errno;
                        break;
                }
                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                int k = remove_tree_at(dirfd(d), de->d_name, dev, depth + 1);
                if (k < 0 && r == 0)
                        r = k;
        }
        closedir(d);
        if (r < 0)
                return r;
        return unlinkat(dir_fd, name, AT_REMOVEDIR) < 0 ? -errno : 0;
}

/* Removes parent/name (parent itself may be reached through symlinks: it
 * comes from the configuration). Returns 1 when removed, 0 when absent. */
static int remove_node_entry(const char *parent, const char *name) {
        _cleanup_close_ int fd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return errno == ENOENT ? 0 : -errno;
        struct stat st;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (fstatat(fd, name, &(struct stat) {}, AT_SYMLINK_NOFOLLOW) < 0)
                return errno == ENOENT ? 0 : -errno;
        int r = remove_tree_at(fd, name, st.st_dev, 0);
        return r < 0 ? r : 1;
}

/* "COMMAND [--config F] NODE": parses the options, checks the node id and
 * loads the configuration. Returns -1 and sets *ret_exit when the command
 * must stop there (--help, or a usage or I/O error). */
static int parse_node_command(int argc, char **argv, const char *command, const char *usage, Config **ret_config,
                              const char **ret_node, int *ret_exit) {
        enum { ARG_CONFIG = 0x100 };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "config", required_argument, NULL, ARG_CONFIG },
                {},
        };
        const char *config_path = NULL;
        int c;
        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        fputs(usage, stdout);
                        *ret_exit = EXIT_OK;
                        return -1;
                case ARG_CONFIG:
                        config_path = optarg;
                        break;
                default:
                        fputs(usage, stderr);
                        *ret_exit = EXIT_USAGE;
                        return -1;
                }
        *ret_exit = EXIT_USAGE;
        if (optind + 1 != argc) {
                fprintf(stderr, "fsxds %s: expected one node id\n%s", command, usage);
                return -1;
        }
        if (!check_node_id(argv[optind]) || load_config(config_path, ret_config) < 0)
                return -1;
        *ret_node = argv[optind];
        return 0;
}

static int cmd_forget(int argc, char **argv) {
        _cleanup_(config_freep) Config *config = NULL;
        const char *node;
        int stop;
        if (parse_node_command(argc, argv, "forget", usage_forget, &config, &node, &stop) < 0)
                return stop;
        for (size_t i = 0; i < config->n_nodes; i++)
                if (streq(config->nodes[i], node)) {
                        fprintf(stderr, "fsxds: node %s is listed in nodes: of %s; fsxdsd still builds it, remove it there first\n",
                                node, config->path ? config->path : "the configuration");
                        return EXIT_BAD_INPUT;
                }
        _cleanup_free_ char *nodes_dir = path_join(config->source_dir, "nodes");
        _cleanup_free_ char *source = path_join(nodes_dir, node);
        struct stat st;
        if (lstat(source, &st) == 0) {
                fprintf(stderr, "fsxds: %s exists; fsxdsd still builds node %s, remove that directory first\n", source, node);
                return EXIT_BAD_INPUT;
        }
        if (errno != ENOENT && errno != ENOTDIR) {
                fprintf(stderr, "fsxds: cannot check %s: %m\n", source);
                return EXIT_USAGE;
        }

        _cleanup_free_ char *state_nodes = path_join(config->state_dir, "nodes");
        _cleanup_free_ char *allow = path_join(config->state_dir, "allow-removal");
        const char *const parents[] = { config->output_dir, state_nodes, allow };
        int ret = EXIT_OK;
        size_t removed = 0;
        for (size_t i = 0; i < ELEMENTSOF(parents); i++) {
                _cleanup_free_ char *path = path_join(parents[i], node);
                int r = remove_node_entry(parents[i], node);
                if (r < 0) {
                        fprintf(stderr, "fsxds: cannot remove %s: %s\n", path,
                                r == -EXDEV ? "a directory in it is on another file system (a mount point?)" : strerror(-r));
                        ret = EXIT_USAGE;
                } else if (r > 0) {
                        printf("removed %s\n", path);
                        removed++;
                }
        }
        if (ret == EXIT_OK && removed == 0) {
                fprintf(stderr, "fsxds: nothing to forget: node %s has no output in %s and no state in %s\n", node,
                        config->output_dir, config->state_dir);
                return EXIT_BAD_INPUT;
        }
        if (fflush(stdout) != 0)
                ret = EXIT_USAGE;
        return ret;
}

/* Creates state_dir/allow-removal/node holding the time. The directory and
 * file get the owner of state_dir when root creates them, so the daemon's
 * user can delete the file when it uses it. */
static int allow_removal_create(const char *state_dir, const char *node, char **ret_path) {
        int r = mkdir_p(state_dir, 0750);
        if (r < 0)
                return r;
        _cleanup_close_ int state_fd = open(state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (state_fd < 0)
                return -errno;
        struct stat st;
        if (fstat(state_fd, &st) < 0)
                return -errno;
        bool chown_to_state = geteuid() == 0 && st.st_uid != 0;
        if (mkdirat(state_fd, "allow-removal", 0750) == 0) {
                if (chown_to_state && fchownat(state_fd, "allow-removal", st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) < 0)
                        return -errno;
        } else if (errno != EEXIST)
                return -errno;
        _cleanup_close_ int dir_fd = openat(state_fd, "allow-removal", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (dir_fd < 0)
                return -errno;

        struct timespec now;
        struct tm tm;
        char text[64];
        if (clock_gettime(CLOCK_REALTIME, &now) < 0)
                return -errno;
        if (!gmtime_r(&now.tv_sec, &tm) || strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ\n", &tm) == 0)
                return -EINVAL;
        _cleanup_free_ char *tmp = xasprintf(".%s.tmp.%d", node, (int) getpid());
        _cleanup_close_ int fd = openat(dir_fd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0640);
        if (fd < 0)
                return -errno;
        size_t len = strlen(text);
        ssize_t n = write(fd, text, len);
        if (n >= 0 && (size_t) n != len)
                r = -EIO; /* a short write of 21 bytes: the file system is full */
        else if (n < 0 || fchmod(fd, 0640) < 0 || (chown_to_state && fchown(fd, st.st_uid, st.st_gid) < 0) ||
                 close(TAKE_FD(fd)) < 0 || renameat(dir_fd, tmp, dir_fd, node) < 0)
                r = -errno;
        if (r < 0) {
                (void) unlinkat(dir_fd, tmp, 0);
                return r;
        }
        _cleanup_free_ char *dir = path_join(state_dir, "allow-removal");
        *ret_path = path_join(dir, node);
        return 0;
}

static int cmd_allow_removal(int argc, char **argv) {
        _cleanup_(config_freep) Config *config = NULL;
        const char *node;
        int ret;
        if (parse_node_command(argc, argv, "allow-removal", usage_allow_removal, &config, &node, &ret) < 0)
                return ret;
        _cleanup_free_ char *path = NULL;
        int r = allow_removal_create(config->state_dir, node, &path);
        if (r < 0) {
                fprintf(stderr, "fsxds: cannot create %s/allow-removal/%s: %s\n", config->state_dir, node, strerror(-r));
                return EXIT_USAGE;
        }
        printf("created %s: the next generation of node %s may remove more than %g%% of its listeners or clusters\n",
               path, node, config->max_removal * 100);
        return fflush(stdout) == 0 ? EXIT_OK : EXIT_USAGE;
}

/* s as a double-quoted scalar; the escapes used are valid in both YAML and
 * JSON. */
static void put_quoted(Buf *b, const char *s) {
        buf_putc(b, '"');
        for (const unsigned char *p = (const unsigned char *) s; *p; p++) {
                if (*p == '"' || *p == '\\') {
                        buf_putc(b, '\\');
                        buf_putc(b, *p);
                } else if (*p < 0x20 || *p == 0x7f)
                        buf_printf(b, "\\u%04x", *p);
                else
                        buf_putc(b, *p);
        }
        buf_putc(b, '"');
}

static void bootstrap_config_source(Buf *b, bool json, const char *node_dir, const char *type, PublishMode mode, bool last) {
        _cleanup_free_ char *dir = path_join(node_dir, type);
        _cleanup_free_ char *file = xasprintf("%s/%s.pb", dir, type);
        bool watched = mode == PUBLISH_MODE_WATCHED_DIRECTORY;
        if (json) {
                buf_printf(b, "    \"%s_config\": {\n", type);
                buf_printf(b, "      \"resource_api_version\": \"V3\",\n");
                buf_printf(b, "      \"path_config_source\": {\n");
                buf_printf(b, "        \"path\": ");
                put_quoted(b, file);
                if (watched) {
                        buf_printf(b, ",\n        \"watched_directory\": {\n          \"path\": ");
                        put_quoted(b, dir);
                        buf_printf(b, "\n        }");
                }
                buf_printf(b, "\n      }\n    }%s\n", last ? "" : ",");
                return;
        }
        buf_printf(b, "  %s_config:\n", type);
        buf_printf(b, "    resource_api_version: V3\n");
        buf_printf(b, "    path_config_source:\n");
        buf_printf(b, "      path: ");
        put_quoted(b, file);
        buf_putc(b, '\n');
        if (watched) {
                buf_printf(b, "      watched_directory:\n        path: ");
                put_quoted(b, dir);
                buf_putc(b, '\n');
        }
}

/* How many *.pb names the node's type directory has; in watched_directory
 * mode these are the symlinks through ..data, and the generation
 * directories and ..data itself start with '.'. */
static int count_pb_files(int node_fd, const char *type) {
        int fd = openat(node_fd, type, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return errno == ENOENT ? 0 : -errno;
        DIR *d = fdopendir(fd);
        if (!d) {
                int r = -errno;
                close(fd);
                return r;
        }
        int n = 0;
        struct dirent *de;
        while ((de = readdir(d)))
                if (de->d_name[0] != '.' && endswith(de->d_name, ".pb") && n < INT_MAX)
                        n++;
        closedir(d);
        return n;
}

/* Envoy gives every path subscription its own inotify instance, and the
 * kernel limits them per user: an Envoy past fs.inotify.max_user_instances
 * fails to load the subscriptions beyond it. */
static void bootstrap_check_inotify(const char *output_dir, const char *node) {
        const char *proc = getenv("FSXDS_PROC_SYS_FS_INOTIFY");
        _cleanup_free_ char *limit_file = path_join(proc && *proc ? proc : "/proc/sys/fs/inotify", "max_user_instances");
        _cleanup_free_ char *text = NULL;
        if (read_file_bounded(limit_file, 64, &text, NULL) < 0)
                return; /* not Linux, or no procfs: nothing to compare with */
        char *end;
        errno = 0;
        unsigned long long limit = strtoull(text, &end, 10);
        if (errno != 0 || end == text || (*end && *end != '\n'))
                return;

        _cleanup_free_ char *node_dir = path_join(output_dir, node);
        _cleanup_close_ int node_fd = open(node_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (node_fd < 0) {
                fprintf(stderr,
                        "note: node %s has not been published into %s yet, so its number of path subscriptions is unknown "
                        "(2 + one per rds, eds, sds, srds and rtds file); the host allows %llu inotify instances per user "
                        "(fs.inotify.max_user_instances)\n",
                        node, output_dir, limit);
                return;
        }
        unsigned long long total = 2;
        Buf parts = {};
        buf_printf(&parts, "2");
        for (size_t i = 0; i < ELEMENTSOF(node_type_dirs); i++) {
                int n = count_pb_files(node_fd, node_type_dirs[i]);
                if (n < 0) {
                        fprintf(stderr, "fsxds: cannot count the files in %s/%s: %s\n", node_dir, node_type_dirs[i], strerror(-n));
                        buf_free(&parts);
                        return;
                }
                if (n > 0)
                        buf_printf(&parts, " + %d %s", n, node_type_dirs[i]);
                total += (unsigned) n;
        }
        _cleanup_free_ char *what = buf_steal_str(&parts);
        if (total > limit)
                fprintf(stderr,
                        "warning: node %s has %llu path subscriptions (%s); the host allows %llu inotify instances per user "
                        "(fs.inotify.max_user_instances): each path subscription costs the Envoy one, so some will fail; "
                        "raise the limit (sysctl fs.inotify.max_user_instances)\n",
                        node, total, what, limit);
}

static int cmd_bootstrap(int argc, char **argv) {
        enum { ARG_CONFIG = 0x100, ARG_JSON, ARG_NODE, ARG_PUBLISH_MODE };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "config", required_argument, NULL, ARG_CONFIG },
                { "json", no_argument, NULL, ARG_JSON },
                { "node", required_argument, NULL, ARG_NODE },
                { "publish-mode", required_argument, NULL, ARG_PUBLISH_MODE },
                {},
        };
        const char *config_path = NULL, *node = NULL;
        bool json = false;
        PublishMode mode = _PUBLISH_MODE_INVALID;
        int c;
        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        fputs(usage_bootstrap, stdout);
                        return EXIT_OK;
                case ARG_CONFIG:
                        config_path = optarg;
                        break;
                case ARG_JSON:
                        json = true;
                        break;
                case ARG_NODE:
                        node = optarg;
                        break;
                case ARG_PUBLISH_MODE:
                        mode = publish_mode_from_string(optarg);
                        if (mode < 0) {
                                fprintf(stderr, "fsxds: --publish-mode: expected rename or watched_directory, got \"%s\"\n", optarg);
                                return EXIT_USAGE;
                        }
                        break;
                default:
                        fputs(usage_bootstrap, stderr);
                        return EXIT_USAGE;
                }
        if (optind != argc || !node) {
                fprintf(stderr, "fsxds bootstrap: expected --node ID and no other arguments\n%s", usage_bootstrap);
                return EXIT_USAGE;
        }
        if (!check_node_id(node))
                return EXIT_USAGE;
        _cleanup_(config_freep) Config *config = NULL;
        if (load_config(config_path, &config) < 0)
                return EXIT_USAGE;
        if (mode < 0)
                mode = config->publish_mode;

        _cleanup_free_ char *node_dir = path_join(config->output_dir, node);
        Buf b = {};
        if (json) {
                buf_printf(&b, "{\n  \"node\": {\n    \"id\": ");
                put_quoted(&b, node);
                buf_printf(&b, "\n  },\n  \"dynamic_resources\": {\n");
        } else {
                buf_printf(&b, "node:\n  id: ");
                put_quoted(&b, node);
                buf_printf(&b, "\ndynamic_resources:\n");
        }
        bootstrap_config_source(&b, json, node_dir, "cds", mode, false);
        bootstrap_config_source(&b, json, node_dir, "lds", mode, true);
        if (json)
                buf_printf(&b, "  }\n}\n");
        fwrite(b.data, 1, b.len, stdout);
        buf_free(&b);
        if (fflush(stdout) != 0)
                return EXIT_USAGE;
        bootstrap_check_inotify(config->output_dir, node);
        return EXIT_OK;
}

/* ---- verify and sign ---- */

static const char usage_verify[] =
        "Usage: fsxds verify [--ca CA.pem] DIR\n"
        "\n"
        "Checks DIR, a node directory fsxdsd published or a source tree signed\n"
        "with 'fsxds sign', against its MANIFEST and MANIFEST.sig:\n"
        "  - the signature is over MANIFEST's bytes and its signer's chain leads to\n"
        "    a CA of CA.pem (without --ca: OpenSSL's default trusted certificates,\n"
        "    as 'openssl cms -verify' does), any extended key usage, valid now;\n"
        "  - MANIFEST is canonical JSON of a known format and, for a node, names\n"
        "    the directory's node;\n"
        "  - every file listed exists with the listed size and sha256, and no\n"
        "    other live .pb (node) or source file (tree) is present;\n"
        "  - in watched_directory mode, every type directory's \"..data\" points to\n"
        "    the generation directory listed.\n"
        "Prints every problem, file by file. A node being published right now is\n"
        "read again once its MANIFEST has been replaced.\n"
        "\n"
        "Options:\n"
        "      --ca FILE       trusted CA certificates (PEM)\n"
        "  -h, --help          show this help\n"
        "\n"
        "Exit status: 0 when everything holds, 1 when something does not, 2 on\n"
        "usage errors or when DIR cannot be read.\n";

static const char usage_sign[] =
        "Usage: fsxds sign --key KEY --cert CERT [--chain CHAIN] SRC_DIR\n"
        "\n"
        "Writes SRC_DIR/MANIFEST, canonical JSON listing every source file fsxdsd\n"
        "would read (*.yaml, *.yml, *.json) with its size and sha256, and\n"
        "SRC_DIR/MANIFEST.sig, a detached CMS signature of it (DER) made with KEY\n"
        "and CERT (PEM), CHAIN's certificates included. fsxdsd configured with\n"
        "require_signed_sources compiles the tree only while this signature\n"
        "verifies against its CA and the files are exactly the ones listed.\n"
        "KEY must be readable by its owner only; CERT must belong to it, be valid\n"
        "now and allow digitalSignature.\n"
        "\n"
        "Options:\n"
        "      --key FILE      private key (RSA, ECDSA)\n"
        "      --cert FILE     its certificate\n"
        "      --chain FILE    intermediate certificates to include\n"
        "  -h, --help          show this help\n";

typedef struct VerifyProblems {
        const char *dir;
        Buf text;
        size_t n;
} VerifyProblems;

static void verify_problem(void *userdata, const char *path, const char *message) {
        VerifyProblems *v = userdata;
        buf_printf(&v->text, "%s/%s: %s\n", v->dir, path, message);
        v->n++;
}

/* One pass over DIR; what it found goes to v, what was verified to
 * ret_summary. Returns 0, or -errno when DIR or its MANIFEST cannot be
 * read at all. */
static int verify_once(const char *dir, const char *ca, VerifyProblems *v, char **ret_summary, ino_t *ret_ino) {
        _cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        _cleanup_free_ char *data = NULL, *signer = NULL, *error = NULL;
        _cleanup_free_ uint8_t *sig = NULL;
        size_t len = 0, sig_len = 0;
        int r = manifest_read_pair(fd, &data, &len, &sig, &sig_len);
        if (r < 0)
                return r;
        struct stat st;
        *ret_ino = fstatat(fd, MANIFEST_NAME, &st, 0) == 0 ? st.st_ino : 0;
        if (!sig)
                verify_problem(v, MANIFEST_SIG_NAME, "missing");
        else if (signature_verify(data, len, sig, sig_len, ca, NULL, &signer, &error) < 0) {
                if (error && startswith(error, ca ? ca : "\x01"))
                        return -EIO; /* the CA file itself */
                verify_problem(v, MANIFEST_SIG_NAME, error);
        }
        Manifest listed = {}, scanned = {};
        free(error);
        error = NULL;
        if (manifest_parse(data, len, &listed, &error) < 0) {
                verify_problem(v, MANIFEST_NAME, error);
                return 0;
        }
        if (listed.kind == MANIFEST_KIND_NODE) {
                _cleanup_free_ char *abs = realpath(dir, NULL);
                const char *base = abs ? strrchr(abs, '/') : NULL;
                if (base && !streq(base + 1, listed.node)) {
                        _cleanup_free_ char *m = xasprintf("lists node %s's files, but the directory is %s", listed.node,
                                                           base + 1);
                        verify_problem(v, MANIFEST_NAME, m);
                }
                r = manifest_scan_node(fd, NULL, verify_problem, v, &scanned);
        } else
                r = manifest_scan_sources(dir, verify_problem, v, &scanned);
        if (r >= 0)
                manifest_compare(&listed, &scanned, verify_problem, v);
        if (listed.kind == MANIFEST_KIND_NODE)
                *ret_summary = xasprintf("node %s, generation %" PRIu64 ", %zu files, signed by %s", listed.node,
                                         listed.generation, listed.n_files, signer ? signer : "?");
        else
                *ret_summary = xasprintf("source tree, %zu files, signed by %s", listed.n_files, signer ? signer : "?");
        manifest_done(&listed);
        manifest_done(&scanned);
        return r;
}

static int cmd_verify(int argc, char **argv) {
        enum { ARG_CA = 0x100 };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "ca", required_argument, NULL, ARG_CA },
                {},
        };
        const char *ca = NULL;
        int c;
        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        fputs(usage_verify, stdout);
                        return EXIT_OK;
                case ARG_CA:
                        ca = optarg;
                        break;
                default:
                        fputs(usage_verify, stderr);
                        return EXIT_USAGE;
                }
        if (optind + 1 != argc) {
                fputs(usage_verify, stderr);
                return EXIT_USAGE;
        }
        const char *dir = argv[optind];
        struct stat st;
        if (stat(dir, &st) < 0) {
                fprintf(stderr, "fsxds: %s: %m\n", dir);
                return EXIT_USAGE;
        }
        if (!S_ISDIR(st.st_mode)) {
                fprintf(stderr, "fsxds: %s: not a directory\n", dir);
                return EXIT_USAGE;
        }
        for (unsigned attempt = 0;; attempt++) {
                VerifyProblems v = { .dir = dir };
                _cleanup_free_ char *summary = NULL;
                ino_t ino = 0;
                int r = verify_once(dir, ca, &v, &summary, &ino);
                if (r < 0) {
                        buf_free(&v.text);
                        if (r == -ENOENT)
                                fprintf(stderr, "fsxds: %s/%s: missing\n", dir, MANIFEST_NAME);
                        else if (r == -EIO)
                                fprintf(stderr, "fsxds: %s: cannot load the CA certificates\n", ca);
                        else
                                fprintf(stderr, "fsxds: %s: %s\n", dir, strerror(-r));
                        return r == -ENOENT ? EXIT_BAD_INPUT : EXIT_USAGE;
                }
                /* fsxdsd writes MANIFEST after a generation's files: a
                 * mismatch while it publishes is read again once MANIFEST
                 * has been replaced */
                if (v.n > 0 && attempt < 5) {
                        struct timespec ts = { 0, 300 * 1000 * 1000 };
                        nanosleep(&ts, NULL);
                        _cleanup_free_ char *p = path_join(dir, MANIFEST_NAME);
                        if (stat(p, &st) == 0 && st.st_ino != ino) {
                                buf_free(&v.text);
                                continue;
                        }
                }
                if (v.n > 0) {
                        fwrite(v.text.data, 1, v.text.len, stdout);
                        printf("%s: verification FAILED (%zu problem%s)\n", dir, v.n, v.n == 1 ? "" : "s");
                } else
                        printf("%s: verified: %s\n", dir, summary);
                buf_free(&v.text);
                return v.n > 0 ? EXIT_BAD_INPUT : EXIT_OK;
        }
}

typedef struct SignScan {
        const char *dir;
        bool failed;
} SignScan;

static void sign_problem(void *userdata, const char *path, const char *message) {
        SignScan *s = userdata;
        fprintf(stderr, "fsxds: %s/%s: %s\n", s->dir, path, message);
        s->failed = true;
}

static int cmd_sign(int argc, char **argv) {
        enum { ARG_KEY = 0x100, ARG_CERT, ARG_CHAIN };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "key", required_argument, NULL, ARG_KEY },
                { "cert", required_argument, NULL, ARG_CERT },
                { "chain", required_argument, NULL, ARG_CHAIN },
                {},
        };
        const char *key = NULL, *cert = NULL, *chain = NULL;
        int c;
        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        fputs(usage_sign, stdout);
                        return EXIT_OK;
                case ARG_KEY:
                        key = optarg;
                        break;
                case ARG_CERT:
                        cert = optarg;
                        break;
                case ARG_CHAIN:
                        chain = optarg;
                        break;
                default:
                        fputs(usage_sign, stderr);
                        return EXIT_USAGE;
                }
        if (optind + 1 != argc || !key || !cert) {
                fputs(usage_sign, stderr);
                return EXIT_USAGE;
        }
        const char *dir = argv[optind];
        _cleanup_free_ char *error = NULL;
        _cleanup_(signer_freep) Signer *signer = NULL;
        int r = signer_load(key, cert, chain, &error, &signer);
        if (r < 0) {
                fprintf(stderr, "fsxds: %s\n", error ? error : strerror(-r));
                return r == -EBADMSG ? EXIT_BAD_INPUT : EXIT_USAGE;
        }
        _cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0) {
                fprintf(stderr, "fsxds: %s: %m\n", dir);
                return EXIT_USAGE;
        }
        SignScan ctx = { dir, false };
        Manifest m = { .kind = MANIFEST_KIND_SOURCE };
        r = manifest_scan_sources(dir, sign_problem, &ctx, &m);
        if (r < 0 || ctx.failed) {
                if (r < 0)
                        fprintf(stderr, "fsxds: %s: %s\n", dir, strerror(-r));
                manifest_done(&m);
                return EXIT_USAGE;
        }
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        m.created_usec = (uint64_t) now.tv_sec * 1000000 + (uint64_t) now.tv_nsec / 1000;
        Buf b = {};
        manifest_format(&m, &b);
        _cleanup_free_ uint8_t *sig = NULL;
        size_t sig_len = 0;
        r = signer_sign(signer, b.data, b.len, &sig, &sig_len);
        if (r >= 0)
                r = manifest_write_pair(fd, b.data, b.len, sig, sig_len, 0644, (gid_t) -1, true);
        buf_free(&b);
        if (r < 0) {
                fprintf(stderr, "fsxds: cannot write %s/%s: %s\n", dir, MANIFEST_NAME, strerror(-r));
                manifest_done(&m);
                return EXIT_USAGE;
        }
        printf("%s: signed %zu source files as %s\n", dir, m.n_files, signer_subject(signer));
        manifest_done(&m);
        return EXIT_OK;
}

int main(int argc, char **argv) {
        if (argc < 2) {
                fputs(usage_main, stderr);
                return EXIT_USAGE;
        }
        const char *cmd = argv[1];
        if (streq(cmd, "--help") || streq(cmd, "-h") || streq(cmd, "help")) {
                fputs(usage_main, stdout);
                return EXIT_OK;
        }
        if (streq(cmd, "--version")) {
                printf("fsxds %s\n", FSXDS_VERSION);
                return EXIT_OK;
        }
        if (streq(cmd, "check"))
                return cmd_check(argc - 1, argv + 1);
        if (streq(cmd, "compile"))
                return cmd_compile(argc - 1, argv + 1);
        if (streq(cmd, "decode"))
                return cmd_decode(argc - 1, argv + 1);
        if (streq(cmd, "status"))
                return cmd_status(argc - 1, argv + 1);
        if (streq(cmd, "forget"))
                return cmd_forget(argc - 1, argv + 1);
        if (streq(cmd, "allow-removal"))
                return cmd_allow_removal(argc - 1, argv + 1);
        if (streq(cmd, "bootstrap"))
                return cmd_bootstrap(argc - 1, argv + 1);
        if (streq(cmd, "verify"))
                return cmd_verify(argc - 1, argv + 1);
        if (streq(cmd, "sign"))
                return cmd_sign(argc - 1, argv + 1);
        fprintf(stderr, "fsxds: unknown command \"%s\"\n%s", cmd, usage_main);
        return EXIT_USAGE;
}
