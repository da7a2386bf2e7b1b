/* SPDX-License-Identifier: MIT */
/* fsxds: the command-line companion of fsxdsd. compile turns YAML into the
 * binary DiscoveryResponse files Envoy reads; check reports every problem
 * of a tree, node by node, without writing; decode shows them again;
 * status, bootstrap, allow-removal and forget work on a running fsxdsd's
 * directories, found through its fsxds.yaml; verify checks a node
 * directory or a source tree against its signed MANIFEST, which sign
 * writes for a source tree. Exit codes: 0 success, 1 bad
 * input (diagnostics on stderr), 2 usage or I/O. */
#include "cli.h"
#include "version.h"

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

bool verbose;

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

int load_schema(const char *path, Schema **ret) {
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

/* The configuration from path, or from the default path; the built-in
 * defaults when the default file does not exist (a host without fsxds.yaml
 * runs the daemon with them too). Prints what went wrong. */
int load_config(const char *path, Config **ret) {
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
char *path_join(const char *dir, const char *name) {
        return xasprintf("%s%s%s", dir, endswith(dir, "/") ? "" : "/", name);
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
