/* SPDX-License-Identifier: MIT */
/* compile and decode: a YAML file into one DiscoveryResponse, a node's source
 * tree into its directory as fsxdsd publishes it, and a .pb file back into
 * YAML or JSON. */
#include <dirent.h>
#include <limits.h>
#include <sys/stat.h>

#include "build.h"
#include "cli.h"
#include "decode.h"
#include "yamltree.h"

/* The largest .pb file decode reads. */
#define DECODE_FILE_MAX (1u << 30)

const char usage_compile[] =
        "Usage: fsxds compile [--schema DESC] [--envoy-version X.Y] [--allow-empty] FILE -o OUT.pb\n"
        "       fsxds compile [--schema DESC] [--envoy-version X.Y] [--publish-mode MODE] --node ID SRC_DIR\n"
        "                     -o OUT_DIR\n"
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
        "  -o, --output PATH       output file or directory; - for standard output\n"
        "                          (the first form, not to a terminal)\n"
        "      --node ID           build the directory of node ID\n"
        "      --schema DESC       compile against this FileDescriptorSet (default: the\n"
        "                          built-in one, Envoy's complete v3 API; fsxds schema)\n"
        "      --envoy-version X.Y the Envoy release whose load-time checks apply\n"
        "                          (default: the schema's release; fsxds schema info)\n"
        "      --config FILE       the fsxds.yaml whose schema: and envoy_version: apply\n"
        "                          (default: " CONFIG_DEFAULT_PATH ", when it exists)\n"
        "      --allow-empty       accept a file without resources\n"
        "      --publish-mode MODE rename (default) or watched_directory\n"
        "  -v, --verbose           also print notes (config source rewrites) and the\n"
        "                          configuration file read\n"
        "  -h, --help              show this help\n";

const char usage_decode[] =
        "Usage: fsxds decode [--schema DESC] [--config FILE] [--json|--yaml] IN.pb\n"
        "\n"
        "Prints a binary DiscoveryResponse with every Any expanded, in a form\n"
        "'fsxds compile' accepts back. YAML is the default. A YAML or JSON file\n"
        "(what fsxds compile reads) is said to be one.\n"
        "\n"
        "Options:\n"
        "      --json          print JSON\n"
        "      --yaml          print YAML\n"
        "      --schema DESC   decode against this FileDescriptorSet\n"
        "      --config FILE   the fsxds.yaml whose schema: applies (default:\n"
        "                      " CONFIG_DEFAULT_PATH ", when it exists)\n"
        "  -v, --verbose       say which configuration file was read\n"
        "  -h, --help          show this help\n";

static int write_output(const char *path, const void *data, size_t len) {
        int r = write_file_atomic(path, data, len, 0644);
        if (r < 0)
                fprintf(stderr, "fsxds: cannot write %s: %s\n", path, strerror(-r));
        return r;
}

/* -o -: the response on standard output, unless that is a terminal (its
 * bytes would garble it, as gzip and zstd refuse to). Returns an exit code. */
static int write_stdout(const void *data, size_t len) {
        if (isatty(STDOUT_FILENO)) {
                fprintf(stderr, "fsxds: not writing a binary DiscoveryResponse to a terminal: redirect standard output "
                                "(-o - >FILE.pb), or read it with fsxds decode\n");
                return EXIT_USAGE;
        }
        if (fwrite(data, 1, len, stdout) != len || fflush(stdout) != 0) {
                fprintf(stderr, "fsxds: cannot write standard output: %m\n");
                return EXIT_USAGE;
        }
        return EXIT_OK;
}

/* What a single-file compile requires beyond the file's own diagnostics
 * (r is compile_file's result): one DiscoveryResponse of one type, whose
 * type_url, when given, is the resources', and resources unless
 * allow_empty. */
void check_one_response(const char *file, int r, const CompileResult *cr, bool allow_empty, DiagList *diags) {
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
                fprintf(stderr, "fsxds: cannot read %s: %s\n", file, read_error_string(r));
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
                if (streq(output, "-"))
                        ret = write_stdout(out.data, out.len);
                else if (write_output(output, out.data, out.len) < 0)
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
                _cleanup_closedir_ DIR *dir = opendir(d);
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

int verb_compile(int argc, char **argv, const Options *o) {
        if (o->node && !node_id_is_valid(o->node)) {
                fprintf(stderr, "fsxds: invalid node id \"%s\" (1 to 128 of A-Z a-z 0-9 . _ -, not starting with '.')\n", o->node);
                return EXIT_USAGE;
        }
        if (o->node && streq(o->output, "-")) {
                fprintf(stderr, "fsxds compile: --node writes a directory: -o - (standard output) takes one file\n");
                return EXIT_USAGE;
        }
        _cleanup_(schema_freep) Schema *schema = NULL;
        if (load_schema(o, &schema) < 0)
                return EXIT_USAGE;
        if (o->node)
                return compile_node(schema, o->node, argv[0], o->output,
                                    o->publish_mode >= 0 ? o->publish_mode : PUBLISH_MODE_RENAME);
        return compile_one(schema, argv[0], o->output, o->allow_empty);
}

/* Whether data is text a person wrote: UTF-8 without control characters
 * but tab, line feed and carriage return. */
static bool looks_like_text(const char *data, size_t len) {
        const unsigned char *p = (const unsigned char *) data, *end = p + len;
        while (p < end) {
                unsigned char c = *p++;
                if (c < 0x80) {
                        if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f)
                                return false;
                        continue;
                }
                /* a lead byte and its continuation bytes, overlongs refused */
                size_t n = c >= 0xc2 && c <= 0xdf ? 1 : c >= 0xe0 && c <= 0xef ? 2 : c >= 0xf0 && c <= 0xf4 ? 3 : 0;
                if (n == 0 || (size_t) (end - p) < n)
                        return false;
                for (size_t i = 0; i < n; i++)
                        if ((p[i] & 0xc0) != 0x80)
                                return false;
                p += n;
        }
        return true;
}

static int on_text_document(void *userdata, YamlArena *arena, YamlNode *root, size_t doc_index) {
        bool *structured = userdata;
        *structured = *structured || root->kind == YAML_KIND_MAP || root->kind == YAML_KIND_SEQ;
        return 0;
}

/* What a file that did not decode is, when it is text rather than a damaged
 * DiscoveryResponse: "JSON" or "YAML" (a mapping or list, as fsxds compile
 * reads), "text" for other text; NULL for binary. */
static const char *text_kind(const char *file, const char *data, size_t len) {
        if (len == 0 || !looks_like_text(data, len))
                return NULL;
        DiagList diags = {};
        bool structured = false;
        static const YamlCallbacks cb = { .document = on_text_document };
        int r = yaml_parse(file, data, len, NULL, &diags, &cb, &structured);
        diag_list_clear(&diags);
        if (r < 0 || !structured)
                return "text";
        const char *p = data;
        if (startswith(p, "\xef\xbb\xbf"))
                p += 3;
        p += strspn(p, " \t\r\n");
        return *p == '{' || *p == '[' ? "JSON" : "YAML";
}

int verb_decode(int argc, char **argv, const Options *o) {
        DecodeFormat fmt = o->json ? DECODE_FORMAT_JSON : DECODE_FORMAT_YAML;
        _cleanup_(schema_freep) Schema *schema = NULL;
        if (load_schema(o, &schema) < 0)
                return EXIT_USAGE;
        const SchemaMessage *m = schema_message(schema, "envoy.service.discovery.v3.DiscoveryResponse");
        if (!m) {
                fprintf(stderr, "fsxds: the schema has no envoy.service.discovery.v3.DiscoveryResponse\n");
                return EXIT_USAGE;
        }
        _cleanup_free_ char *data = NULL;
        size_t len;
        int r = read_file_bounded(argv[0], DECODE_FILE_MAX, &data, &len);
        if (r == -EFBIG) {
                char limit[FORMAT_BYTES_MAX];
                fprintf(stderr, "fsxds: cannot read %s: larger than %s\n", argv[0], format_bytes(DECODE_FILE_MAX, limit));
                return EXIT_USAGE;
        }
        if (r < 0) {
                fprintf(stderr, "fsxds: cannot read %s: %s\n", argv[0], read_error_string(r));
                return EXIT_USAGE;
        }
        Buf out = {};
        _cleanup_free_ char *error = NULL;
        r = decode_message(schema, m, (const uint8_t *) data, len, fmt, &out, &error);
        const char *kind = r == -EBADMSG ? text_kind(argv[0], data, len) : NULL;
        if (kind) {
                fprintf(stderr, "%s: error: this is %s%s, not a binary DiscoveryResponse%s\n", argv[0], kind,
                        streq(kind, "text") ? "" : " (text)",
                        streq(kind, "text") ? "" : "; fsxds compile FILE -o OUT.pb makes one of it");
                buf_free(&out);
                return EXIT_BAD_INPUT;
        }
        if (r < 0) {
                fprintf(stderr, "%s: error: %s\n", argv[0], error ? error : strerror(-r));
                buf_free(&out);
                return EXIT_BAD_INPUT;
        }
        fwrite(out.data, 1, out.len, stdout);
        buf_free(&out);
        return fflush(stdout) == 0 ? EXIT_OK : EXIT_USAGE;
}
