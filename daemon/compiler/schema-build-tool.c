/* SPDX-License-Identifier: MIT */
/* The build's own schema builder: makes the built-in schema from the
 * grpc-js-xds subproject before fsxds exists (fsxds embeds its output).
 * schema-build-tool --protoc P --wkt DIR --source TEXT [--envoy-release R]
 *                   [--api-commit C] -o OUT DIR... */
#include <getopt.h>
#include <stdio.h>

#include "schema-build.h"
#include "util.h"

int main(int argc, char **argv) {
        static const struct option options[] = {
                { "protoc", required_argument, NULL, 'p' },
                { "wkt", required_argument, NULL, 'w' },
                { "source", required_argument, NULL, 's' },
                { "envoy-release", required_argument, NULL, 'r' },
                { "api-commit", required_argument, NULL, 'c' },
                { "output", required_argument, NULL, 'o' },
                {},
        };
        SchemaBuildOptions o = { .protoc = "protoc", .wkt_dir = "/usr/include" };
        int c;
        while ((c = getopt_long(argc, argv, "o:", options, NULL)) >= 0)
                switch (c) {
                case 'p': o.protoc = optarg; break;
                case 'w': o.wkt_dir = optarg; break;
                case 's': o.source = optarg; break;
                case 'r': o.envoy_release = optarg; break;
                case 'c': o.api_commit = optarg; break;
                case 'o': o.output = optarg; break;
                default: return 2;
                }
        if (!o.output || optind >= argc) {
                fprintf(stderr, "usage: %s [options] -o OUT DIR...\n", argv[0]);
                return 2;
        }
        o.include_dirs = argv + optind;
        _cleanup_free_ char *error = NULL;
        SchemaBuildResult res = {};
        if (schema_build(&o, &error, &res) < 0) {
                fprintf(stderr, "schema-build-tool: %s\n", error);
                return 1;
        }
        /* the files left out are the v2 remnants and a few that import what
         * the bundle lacks: fsxds schema info lists them */
        fprintf(stderr, "schema-build-tool: %zu API files into %s (%zu left out: imports not found)\n",
                res.n_compiled, o.output, res.n_excluded);
        schema_build_result_done(&res);
        return 0;
}
