/* SPDX-License-Identifier: MIT */
/* fsxdsd: watches a tree of Envoy xDS YAML, compiles it, and publishes each
 * node's files atomically and in make-before-break order. */
#include <getopt.h>
#include <sys/resource.h>

#include "logging.h"
#include "config.h"
#include "logcontrol.h"
#include "manager.h"
#include "version.h"

static const char usage[] =
        "Usage: fsxdsd [--config FILE] [--verbose] [--once | --check-config]\n"
        "\n"
        "Watches source_dir, compiles every node's resources and publishes them\n"
        "into output_dir for the local Envoys (see fsxdsd(8), fsxds.yaml(5)).\n"
        "\n"
        "Options:\n"
        "  -c, --config FILE   configuration file (default " CONFIG_DEFAULT_PATH ")\n"
        "      --once          build and publish one generation, then exit\n"
        "                      (exit status 1 when a node has errors)\n"
        "      --check-config  only check the configuration file (and the signing\n"
        "                      key and certificate it names)\n"
        "  -v, --verbose       log at debug level (over FSXDS_LOG_LEVEL; systemctl\n"
        "                      service-log-level changes it at run time)\n"
        "  -h, --help          show this help\n"
        "      --version       show the version\n";

int main(int argc, char **argv) {
        enum { ARG_ONCE = 0x100, ARG_CHECK_CONFIG, ARG_VERSION };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "config", required_argument, NULL, 'c' },
                { "verbose", no_argument, NULL, 'v' },
                { "once", no_argument, NULL, ARG_ONCE },
                { "check-config", no_argument, NULL, ARG_CHECK_CONFIG },
                { "version", no_argument, NULL, ARG_VERSION },
                {},
        };
        const char *config = CONFIG_DEFAULT_PATH;
        bool once = false, check = false, verbose = false;
        int c;
        while ((c = getopt_long(argc, argv, "hc:v", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        fputs(usage, stdout);
                        return 0;
                case 'c':
                        config = optarg;
                        break;
                case 'v':
                        verbose = true;
                        break;
                case ARG_ONCE:
                        once = true;
                        break;
                case ARG_CHECK_CONFIG:
                        check = true;
                        break;
                case ARG_VERSION:
                        printf("fsxdsd %s\n", FSXDS_VERSION);
                        return 0;
                default:
                        fputs(usage, stderr);
                        return 2;
                }
        if (optind != argc || (once && check)) {
                fputs(usage, stderr);
                return 2;
        }
        log_setup(verbose);
        _cleanup_(manager_freep) Manager *m = NULL;
        int r = manager_new(config, &m);
        if (r < 0)
                return r == -EBADMSG ? 1 : 2;
        if (check) {
                if (manager_check_config(m) < 0)
                        return 1;
                printf("%s: ok\n", config);
                return 0;
        }
        if (once) {
                r = manager_once(m);
                return r < 0 ? 2 : r;
        }
        /* as systemd advises for programs that use no select(): the soft
         * limit of file descriptors up to the hard one (1024 to 524288
         * under systemd's defaults): the xDS server's connections are fds */
        struct rlimit nofile;
        if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
                nofile.rlim_cur = nofile.rlim_max;
                (void) setrlimit(RLIMIT_NOFILE, &nofile);
        }
        r = manager_startup(m);
        if (r < 0) {
                log_error(NULL, "cannot start: %s", read_error_string(r));
                return 2;
        }
        /* manager_startup() runs the thread's default loop: the bus joins it */
        _cleanup_(sd_event_unrefp) sd_event *event = NULL;
        _cleanup_(logcontrol_freep) LogControl *lc = NULL;
        r = sd_event_default(&event);
        if (r >= 0)
                r = logcontrol_start(event, &lc);
        if (r < 0)
                log_warning(NULL, "cannot set up LogControl1 on the system bus: %s", strerror(-r));
        r = manager_run(m);
        return r < 0 ? 2 : 0;
}
