/* SPDX-License-Identifier: MIT */
/* fsxds: the command-line companion of fsxdsd. compile turns YAML into the
 * binary DiscoveryResponse files Envoy reads; check reports every problem
 * of a tree, node by node, without writing; decode shows them again;
 * diff, status, bootstrap, allow-removal and forget work on a running fsxdsd's
 * directories, found through its fsxds.yaml; verify checks a node
 * directory or a source tree against its signed MANIFEST, which sign
 * writes for a source tree. Exit codes: 0 success, 1 bad
 * input (diagnostics on stderr), 2 usage or I/O. Here: main, the verb
 * table, the options parsed for every verb and the helpers verbs share;
 * the verbs live by group in compile-decode.c, check.c, diff.c, admin.c and signing.c. */
#include <getopt.h>
#include <unistd.h>
#include <limits.h>

#include "cli.h"
#include "version.h"

static const char usage_main[] =
        "Usage: fsxds [--version] [--help] [-v] COMMAND [ARGS...]\n"
        "\n"
        "Compile Envoy xDS configuration written in YAML into the binary\n"
        "DiscoveryResponse files Envoy's path subscriptions read.\n"
        "\n"
        "Commands:\n"
        "  check          compile a tree or files without writing; every diagnostic, by node\n"
        "  compile        compile one file, or one node's directory (--node)\n"
        "  decode         print a compiled .pb file as YAML or JSON\n"
        "  diff           what the source tree would change in fsxdsd's output, per node\n"
        "  status         show what fsxdsd last published, per node\n"
        "  bootstrap      print the Envoy bootstrap part pointing a node at its files (or at ADS)\n"
        "  allow-removal  let a node's next generation remove more than max_removal\n"
        "  forget         remove the output and state of a node gone from the tree\n"
        "  history        list the generations kept of a node\n"
        "  rollback       publish an earlier generation of a node again, and pin it\n"
        "  unpin          let the tree be published to a pinned node again\n"
        "  verify         check a node directory or source tree against its signed MANIFEST\n"
        "  sign           write a signed MANIFEST of a source tree\n"
        "  schema         describe the schema (info) or build one from Envoy's API (build)\n"
        "\n"
        "Options (every command, before or after it):\n"
        "  -v, --verbose  a command that reads the configuration says which file it\n"
        "                 read, or that none was; print notes too. Default:\n"
        "                 " CONFIG_DEFAULT_PATH "\n"
        "\n"
        "Run 'fsxds COMMAND --help' for a command's options.\n"
        "Exit status: 0 success, 1 bad input, 2 usage or I/O error (fsxds status:\n"
        "3 when the fsxdsd that wrote the status does not run; fsxds diff: 3 when\n"
        "something would change).\n";

bool verbose;
const char *envoy_version_origin;

void print_diags(const DiagList *d) {
        for (size_t i = 0; i < d->n; i++) {
                if (d->items[i].level == DIAG_NOTE && !verbose)
                        continue;
                _cleanup_free_ char *s = diag_format(&d->items[i]);
                fprintf(stderr, "%s\n", s);
        }
        if (d->n_dropped > 0)
                fprintf(stderr, "(%zu more diagnostics not shown)\n", d->n_dropped);
}

int load_schema(const Options *o, Schema **ret) {
        /* What the daemon would use: schema: and envoy_version: of the
         * configuration (--config, or the default file when it exists),
         * unless --schema and --envoy-version say otherwise. */
        _cleanup_(config_freep) Config *config = NULL;
        if (o->schema && o->envoy_version) {
                if (verbose)
                        fprintf(stderr, "fsxds: no configuration file read: --schema and --envoy-version given\n");
        } else if (o->config || access(CONFIG_DEFAULT_PATH, F_OK) == 0) {
                int r = load_config(o->config, &config);
                if (r < 0)
                        return r;
        } else if (verbose)
                fprintf(stderr, "fsxds: no configuration file (no %s): schema: and envoy_version: take their defaults\n",
                        CONFIG_DEFAULT_PATH);
        const char *path = o->schema ? o->schema : config ? config->schema : NULL;
        _cleanup_(schema_freep) Schema *s = NULL;
        _cleanup_free_ char *error = NULL;
        int r = path ? schema_load_file(path, &error, &s) : schema_load_builtin(&s);
        if (r < 0) {
                fprintf(stderr, "fsxds: %s %s: %s\n", o->schema ? "--schema" : "schema:", path,
                        error ? error : strerror(-r));
                return r;
        }
        envoy_version_origin = NULL;
        if (!o->envoy_version && config && config->envoy_version) {
                schema_set_envoy_version(s, config->envoy_version);
                envoy_version_origin = "envoy_version: in the configuration";
        }
        if (o->envoy_version) {
                uint32_t v;
                if (envoy_version_parse(o->envoy_version, &v) < 0) {
                        fprintf(stderr, "fsxds: --envoy-version %s: not a release such as 1.36 or 1.36.2\n",
                                o->envoy_version);
                        return -EINVAL;
                }
                schema_set_envoy_version(s, v);
                envoy_version_origin = "--envoy-version";
        }
        *ret = TAKE_PTR(s);
        return 0;
}

/* The configuration from path, or from the default path; the built-in
 * defaults when the default file does not exist (a host without fsxds.yaml
 * runs the daemon with them too), with a warning: the verbs that load it
 * work on the daemon's directories, which a configuration elsewhere (the
 * daemon's --config) would name differently. -v names the file read.
 * Prints what went wrong. */
int load_config(const char *path, Config **ret) {
        const char *file = path ? path : CONFIG_DEFAULT_PATH;
        DiagList diags = {};
        int r = config_load(file, &diags, ret);
        if (r == -ENOENT && !path) {
                *ret = config_new_default();
                fprintf(stderr,
                        "fsxds: warning: no %s: using the built-in defaults (source_dir %s, output_dir %s, state_dir %s); "
                        "--config FILE names the daemon's configuration\n",
                        file, (*ret)->source_dir, (*ret)->output_dir, (*ret)->state_dir);
                return 0;
        }
        print_diags(&diags);
        diag_list_clear(&diags);
        if (r < 0 && r != -EBADMSG)
                fprintf(stderr, "fsxds: cannot read %s: %s\n", file, strerror(-r));
        if (r >= 0 && verbose)
                fprintf(stderr, "fsxds: configuration: %s\n", file);
        return r;
}

void json_put_string_or_null(Buf *b, const char *s) {
        if (s)
                buf_put_json_string(b, s);
        else
                buf_printf(b, "null");
}

void json_put_diag(Buf *b, const Diag *d) {
        buf_printf(b, "{\"level\":");
        buf_put_json_string(b, diag_level_to_string(d->level));
        buf_printf(b, ",\"file\":");
        json_put_string_or_null(b, d->file);
        buf_printf(b, ",\"line\":%u,\"column\":%u,\"path\":", d->line, d->column);
        json_put_string_or_null(b, d->path);
        buf_printf(b, ",\"message\":");
        buf_put_json_string(b, d->message);
        buf_printf(b, ",\"rule\":");
        json_put_string_or_null(b, d->rule);
        buf_putc(b, '}');
}

/* dir/name without a doubled slash (dir may be "/" or end in '/'). */
char *path_join(const char *dir, const char *name) {
        return xasprintf("%s%s%s", dir, endswith(dir, "/") ? "" : "/", name);
}

/* ---- the verbs ---- */

#define VERB_ANY UINT_MAX
/* What every verb accepts besides -h, --help (fsxds --help lists them). */
#define VERB_COMMON_OPTIONS OPTION_VERBOSE

typedef struct Verb {
        const char *name;
        unsigned min_args, max_args; /* positional arguments; VERB_ANY: no bound */
        unsigned options;            /* the VerbOption bits accepted */
        unsigned required;           /* those that must be given */
        const char *usage;           /* --help */
        /* What a wrong number of arguments or a missing required option
         * earns, before the usage. NULL: the usage alone, after naming the
         * first argument of a verb that takes none. */
        const char *args_error;
        int (*run)(int argc, char **argv, const Options *o);
} Verb;

static const Verb verbs[] = {
        { "check", 1, VERB_ANY,
          OPTION_VERBOSE | OPTION_SCHEMA | OPTION_ENVOY_VERSION | OPTION_CONFIG | OPTION_JSON | OPTION_ALLOW_EMPTY, 0,
          usage_check,
          "expected a source tree, a directory or a file", verb_check },
        { "compile", 1, 1,
          OPTION_OUTPUT | OPTION_VERBOSE | OPTION_SCHEMA | OPTION_ENVOY_VERSION | OPTION_CONFIG | OPTION_NODE |
                  OPTION_ALLOW_EMPTY | OPTION_PUBLISH_MODE,
          OPTION_OUTPUT, usage_compile, "expected one input and -o OUTPUT", verb_compile },
        { "decode", 1, 1, OPTION_SCHEMA | OPTION_CONFIG | OPTION_JSON | OPTION_YAML, 0, usage_decode, "expected one input file",
          verb_decode },
        { "diff", 0, VERB_ANY, OPTION_CONFIG | OPTION_JSON | OPTION_FROM | OPTION_TO, 0, usage_diff, NULL, verb_diff },
        { "status", 0, 0, OPTION_CONFIG | OPTION_JSON, 0, usage_status, NULL, verb_status },
        { "forget", 1, 1, OPTION_CONFIG, 0, usage_forget, "expected one node id", verb_forget },
        { "allow-removal", 1, 1, OPTION_CONFIG, 0, usage_allow_removal, "expected one node id", verb_allow_removal },
        { "history", 1, 1, OPTION_CONFIG | OPTION_JSON, 0, usage_history, "expected one node id", verb_history },
        { "rollback", 2, 2, OPTION_CONFIG, 0, usage_rollback, "expected a node id and a generation", verb_rollback },
        { "unpin", 1, 1, OPTION_CONFIG, 0, usage_unpin, "expected one node id", verb_unpin },
        { "bootstrap", 0, 0,
          OPTION_CONFIG | OPTION_JSON | OPTION_NODE | OPTION_PUBLISH_MODE | OPTION_FORCE | OPTION_ADS | OPTION_GRPC |
                  OPTION_DELTA | OPTION_CERT | OPTION_KEY | OPTION_CA,
          OPTION_NODE,
          usage_bootstrap,
          "expected --node ID and no other arguments", verb_bootstrap },
        { "verify", 1, 1, OPTION_CA, 0, usage_verify, NULL, verb_verify },
        { "sign", 1, 1, OPTION_KEY | OPTION_CERT | OPTION_CHAIN, OPTION_KEY | OPTION_CERT, usage_sign, NULL, verb_sign },
        { "schema", 1, VERB_ANY, OPTION_SCHEMA | OPTION_ENVOY_VERSION | OPTION_CONFIG | OPTION_JSON | OPTION_OUTPUT, 0,
          usage_schema,
          "expected info or build", verb_schema },
};

/* Every option, in the order getopt_long lists them when an abbreviation
 * is ambiguous. */
static const struct {
        VerbOption option;
        const char *name;
        int has_arg;
        char short_name; /* 0: none */
} option_table[] = {
        { OPTION_OUTPUT, "output", required_argument, 'o' },
        { OPTION_VERBOSE, "verbose", no_argument, 'v' },
        { OPTION_CONFIG, "config", required_argument, 0 },
        { OPTION_SCHEMA, "schema", required_argument, 0 },
        { OPTION_NODE, "node", required_argument, 0 },
        { OPTION_ALLOW_EMPTY, "allow-empty", no_argument, 0 },
        { OPTION_PUBLISH_MODE, "publish-mode", required_argument, 0 },
        { OPTION_JSON, "json", no_argument, 0 },
        { OPTION_YAML, "yaml", no_argument, 0 },
        { OPTION_CA, "ca", required_argument, 0 },
        { OPTION_KEY, "key", required_argument, 0 },
        { OPTION_CERT, "cert", required_argument, 0 },
        { OPTION_CHAIN, "chain", required_argument, 0 },
        { OPTION_ENVOY_VERSION, "envoy-version", required_argument, 0 },
        { OPTION_FORCE, "force", no_argument, 0 },
        { OPTION_FROM, "from", required_argument, 0 },
        { OPTION_TO, "to", required_argument, 0 },
        { OPTION_ADS, "ads", no_argument, 0 },
        { OPTION_GRPC, "grpc", no_argument, 0 },
        { OPTION_DELTA, "delta", no_argument, 0 },
};

/* What getopt_long returns for option_table[i]. */
static int option_val(size_t i) {
        return option_table[i].short_name ? option_table[i].short_name : 0x100 + (int) i;
}

/* The option getopt_long returned c for; 0 for -h and errors. */
static VerbOption option_from_val(int c) {
        for (size_t i = 0; i < ELEMENTSOF(option_table); i++)
                if (option_val(i) == c)
                        return option_table[i].option;
        return 0;
}

/* Parses the options of argv (argv[0] the verb's name) that the verb
 * accepts; getopt_long leaves the positional arguments at optind. Returns
 * 1 to run the verb, 0 after --help, -EINVAL after a usage error (printed,
 * with the verb's usage). */
static int parse_options(const Verb *verb, int argc, char **argv, Options *ret) {
        struct option long_options[1 + ELEMENTSOF(option_table) + 1] = {
                { "help", no_argument, NULL, 'h' },
        };
        char short_options[1 + 2 * ELEMENTSOF(option_table) + 1] = "h";
        size_t n = 1, k = 1;
        for (size_t i = 0; i < ELEMENTSOF(option_table); i++) {
                if (!((verb->options | VERB_COMMON_OPTIONS) & option_table[i].option))
                        continue;
                long_options[n++] = (struct option) { option_table[i].name, option_table[i].has_arg, NULL, option_val(i) };
                if (option_table[i].short_name) {
                        short_options[k++] = option_table[i].short_name;
                        if (option_table[i].has_arg == required_argument)
                                short_options[k++] = ':';
                }
        }

        Options o = { .publish_mode = _PUBLISH_MODE_INVALID };
        int c;
        while ((c = getopt_long(argc, argv, short_options, long_options, NULL)) >= 0) {
                VerbOption option = option_from_val(c);
                o.given |= option;
                switch (option) {
                case OPTION_OUTPUT:
                        o.output = optarg;
                        break;
                case OPTION_VERBOSE:
                        verbose = true;
                        break;
                case OPTION_CONFIG:
                        o.config = optarg;
                        break;
                case OPTION_SCHEMA:
                        o.schema = optarg;
                        break;
                case OPTION_ENVOY_VERSION:
                        o.envoy_version = optarg;
                        break;
                case OPTION_NODE:
                        o.node = optarg;
                        break;
                case OPTION_ALLOW_EMPTY:
                        o.allow_empty = true;
                        break;
                case OPTION_PUBLISH_MODE:
                        o.publish_mode = publish_mode_from_string(optarg);
                        if (o.publish_mode < 0) {
                                fprintf(stderr, "fsxds: --publish-mode: expected rename or watched_directory, got \"%s\"\n", optarg);
                                return -EINVAL;
                        }
                        break;
                case OPTION_JSON:
                        o.json = true;
                        break;
                case OPTION_YAML:
                        o.json = false;
                        break;
                case OPTION_CA:
                        o.ca = optarg;
                        break;
                case OPTION_KEY:
                        o.key = optarg;
                        break;
                case OPTION_CERT:
                        o.cert = optarg;
                        break;
                case OPTION_CHAIN:
                        o.chain = optarg;
                        break;
                case OPTION_FROM:
                        o.from = optarg;
                        break;
                case OPTION_TO:
                        o.to = optarg;
                        break;
                case OPTION_FORCE:
                        o.force = true;
                        break;
                case OPTION_ADS:
                        o.ads = true;
                        break;
                case OPTION_GRPC:
                        o.grpc = o.ads = true;
                        break;
                case OPTION_DELTA:
                        o.delta = o.ads = true;
                        break;
                default:
                        if (c == 'h') {
                                fputs(verb->usage, stdout);
                                return 0;
                        }
                        fputs(verb->usage, stderr);
                        return -EINVAL;
                }
        }
        *ret = o;
        return 1;
}

/* Runs the verb argv[1] names with the arguments after it; returns the
 * exit code. */
static int dispatch_verb(int argc, char **argv) {
        const Verb *verb = NULL;
        for (size_t i = 0; i < ELEMENTSOF(verbs) && !verb; i++)
                if (streq(verbs[i].name, argv[1]))
                        verb = &verbs[i];
        if (!verb) {
                fprintf(stderr, "fsxds: unknown command \"%s\"\n%s", argv[1], usage_main);
                return EXIT_USAGE;
        }
        argc--;
        argv++;
        Options o;
        int r = parse_options(verb, argc, argv, &o);
        if (r <= 0)
                return r < 0 ? EXIT_USAGE : EXIT_OK;
        unsigned n = (unsigned) (argc - optind);
        if (n < verb->min_args || n > verb->max_args || (o.given & verb->required) != verb->required) {
                if (verb->args_error)
                        fprintf(stderr, "fsxds %s: %s\n%s", verb->name, verb->args_error, verb->usage);
                else if (verb->max_args == 0)
                        fprintf(stderr, "fsxds %s: unexpected argument \"%s\"\n%s", verb->name, argv[optind], verb->usage);
                else
                        fputs(verb->usage, stderr);
                return EXIT_USAGE;
        }
        return verb->run((int) n, argv + optind, &o);
}

int main(int argc, char **argv) {
        /* -v before the command: argv[0] becomes the last of them */
        while (argc >= 2 && (streq(argv[1], "-v") || streq(argv[1], "--verbose"))) {
                verbose = true;
                argc--;
                argv++;
        }
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
        return dispatch_verb(argc, argv);
}
