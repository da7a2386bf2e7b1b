/* SPDX-License-Identifier: MIT */
/* config: every key with its type and default, unknown keys and bad
 * values as diagnostics at their line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "config.h"

static int parse(const char *text, DiagList *d, Config **ret) {
        return config_parse("fsxds.yaml", text, strlen(text), d, ret);
}

typedef struct Refused {
        const char *text, *error; /* a configuration, its first diagnostic */
} Refused;

static void assert_refused(const Refused *bad, size_t n) {
        for (size_t i = 0; i < n; i++) {
                DiagList d = {};
                Config *c = NULL;
                assert_int_equal(parse(bad[i].text, &d, &c), -EBADMSG);
                assert_null(c);
                _cleanup_free_ char *s = diag_format(&d.items[0]);
                assert_string_equal(s, bad[i].error);
                diag_list_clear(&d);
        }
}

static void test_defaults(void **state) {
        DiagList d = {};
        Config *c = NULL;
        assert_int_equal(parse("", &d, &c), 0);
        assert_string_equal(c->source_dir, FSXDS_SYSCONFDIR "/fsxds/conf.d");
        assert_string_equal(c->output_dir, "/run/fsxds");
        assert_string_equal(c->state_dir, "/var/lib/fsxds");
        assert_int_equal(c->n_nodes, 0);
        assert_int_equal(c->settle_usec, 100000);
        assert_int_equal(c->settle_max_usec, 2000000);
        assert_int_equal(c->watch, WATCH_BACKEND_AUTO);
        assert_int_equal(c->publish_mode, PUBLISH_MODE_RENAME);
        assert_int_equal(c->phase_pause_usec, 200000);
        assert_int_equal(c->verify_interval_usec, 60000000);
        assert_int_equal(c->rescan_interval_usec, 5000000);
        assert_true(c->max_removal == 0.5);
        assert_null(c->output_group);
        assert_null(c->schema);
        assert_null(c->signing);
        assert_null(c->require_signed_sources_ca);
        assert_null(c->metrics_file);
        assert_null(c->ads); /* nothing listens unless ads: is there */
        config_free(c);
}

static void test_all_keys(void **state) {
        DiagList d = {};
        Config *c = NULL;
        assert_int_equal(parse("source_dir: /s\noutput_dir: /o\nstate_dir: /st\nnodes: [a, b-1]\nsettle: 0.5s\n"
                               "settle_max: 3s\nwatch: inotify\npublish_mode: watched_directory\nphase_pause: 0s\n"
                               "max_removal: 1\noutput_group: envoy\nschema: /x.desc\nverify_interval: 0s\n"
                               "signing: {key: /k, cert: /c, chain: /ch}\nrequire_signed_sources: {ca: /ca.pem}\n",
                               &d, &c), 0);
        assert_string_equal(c->source_dir, "/s");
        assert_string_equal(c->nodes[1], "b-1");
        assert_null(c->nodes[2]);
        assert_int_equal(c->settle_usec, 500000);
        assert_int_equal(c->settle_max_usec, 3000000);
        assert_int_equal(c->watch, WATCH_BACKEND_INOTIFY);
        assert_int_equal(c->publish_mode, PUBLISH_MODE_WATCHED_DIRECTORY);
        assert_int_equal(c->phase_pause_usec, 0);
        assert_int_equal(c->verify_interval_usec, 0);
        assert_true(c->max_removal == 1.0);
        assert_string_equal(c->output_group, "envoy");
        assert_string_equal(c->signing->chain, "/ch");
        assert_string_equal(c->require_signed_sources_ca, "/ca.pem");
        config_free(c);
}

static void test_errors_have_locations(void **state) {
        DiagList d = {};
        Config *c = NULL;
        assert_int_equal(parse("settle: 100ms\nwatch: kqueue\nsource_dir: relative/dir\nnodes: [.hidden]\n"
                               "max_removal: 2\nbogus: 1\nsigning: {key: /k}\n", &d, &c), -EBADMSG);
        assert_null(c);
        const char *want[] = {
                "fsxds.yaml:1:9: error: settle: expected a duration like \"0.1s\", got the string \"100ms\"",
                "fsxds.yaml:2:8: error: watch: expected auto, inotify or fanotify",
                "fsxds.yaml:3:13: error: source_dir: expected an absolute path, got \"relative/dir\"",
                "fsxds.yaml:4:9: error: nodes[0]: invalid node id",
                "fsxds.yaml:5:14: error: max_removal: expected a fraction from 0 to 1",
                "fsxds.yaml:6:1: error: unknown key \"bogus\"",
                "fsxds.yaml:7:10: error: signing: signing needs both key and cert",
        };
        assert_int_equal(d.n_errors, ELEMENTSOF(want));
        for (size_t i = 0; i < ELEMENTSOF(want); i++) {
                _cleanup_free_ char *s = diag_format(&d.items[i]);
                if (!startswith(s, want[i]))
                        fail_msg("diagnostic %zu: got \"%s\", want \"%s...\"", i, s, want[i]);
        }
        diag_list_clear(&d);
}

/* A typo of a key names the key; a word near none names the manual. */
static void test_unknown_key_did_you_mean(void **state) {
        DiagList d = {};
        Config *c = NULL;
        assert_int_equal(parse("sorce_dir: /x\noutput_dri: /y\nfrobnicate: 1\nsigning: {kye: /k, cert: /c}\n", &d, &c),
                         -EBADMSG);
        const char *want[] = {
                "fsxds.yaml:1:1: error: unknown key \"sorce_dir\" (did you mean \"source_dir\"?)",
                "fsxds.yaml:2:1: error: unknown key \"output_dri\" (did you mean \"output_dir\"?)",
                "fsxds.yaml:3:1: error: unknown key \"frobnicate\" (see fsxds.yaml(5))",
                "fsxds.yaml:4:11: error: signing.kye: unknown key \"kye\" (did you mean \"key\"?)",
        };
        assert_true(d.n_errors >= ELEMENTSOF(want));
        for (size_t i = 0; i < ELEMENTSOF(want); i++) {
                _cleanup_free_ char *s = diag_format(&d.items[i]);
                assert_string_equal(s, want[i]);
        }
        diag_list_clear(&d);
}

static void test_settle_max_not_below_settle(void **state) {
        DiagList d = {};
        Config *c = NULL;
        assert_int_equal(parse("settle: 3s\nsettle_max: 1s\n", &d, &c), -EBADMSG);
        _cleanup_free_ char *s = diag_format(&d.items[0]);
        assert_string_equal(s, "fsxds.yaml:2:13: error: settle_max: settle_max must not be shorter than settle");
        diag_list_clear(&d);
}

static void test_rescan_interval(void **state) {
        DiagList d = {};
        Config *c = NULL;
        assert_int_equal(parse("rescan_interval: 0.25s\n", &d, &c), 0);
        assert_int_equal(c->rescan_interval_usec, 250000);
        config_free(c);
        c = NULL;
        assert_int_equal(parse("rescan_interval: 0s\n", &d, &c), -EBADMSG);
        _cleanup_free_ char *s = diag_format(&d.items[0]);
        assert_string_equal(s, "fsxds.yaml:1:18: error: rescan_interval: expected at least 1ms");
        diag_list_clear(&d);
}

static void test_metrics_file(void **state) {
        DiagList d = {};
        Config *c = NULL;
        assert_int_equal(parse("metrics_file: /var/lib/prometheus/node-exporter/fsxds.prom\n", &d, &c), 0);
        assert_string_equal(c->metrics_file, "/var/lib/prometheus/node-exporter/fsxds.prom");
        config_free(c);
        static const Refused bad[] = {
                { "metrics_file: /var/lib/x/fsxds.txt\n",
                  "fsxds.yaml:1:15: error: metrics_file: expected a file name ending in .prom (node_exporter's textfile "
                  "collector reads only those), got \"/var/lib/x/fsxds.txt\"" },
                { "metrics_file: fsxds.prom\n",
                  "fsxds.yaml:1:15: error: metrics_file: expected an absolute path, got \"fsxds.prom\"" },
                { "\nmetrics_file: [a]\n", "fsxds.yaml:2:15: error: metrics_file: expected a non-empty string, got a list" },
        };
        assert_refused(bad, ELEMENTSOF(bad));
}

static void test_ads(void **state) {
        DiagList d = {};
        Config *c = NULL;
        assert_int_equal(parse("ads: {}\n", &d, &c), 0);
        assert_non_null(c->ads);
        assert_string_equal(c->ads->listen, "unix:/run/fsxds/ads.sock");
        assert_null(c->ads->tls_cert);
        assert_int_equal(c->ads->ack_timeout_usec, 10000000);
        assert_int_equal(c->ads->max_streams, 100);
        config_free(c);
        assert_int_equal(parse("ads:\n  listen: \"[::1]:18000\"\n  ack_timeout: 2s\n  max_streams: 7\n"
                               "  tls: {cert: /c.pem, key: /k.pem, client_ca: /ca.pem}\n", &d, &c), 0);
        assert_string_equal(c->ads->listen, "[::1]:18000");
        assert_string_equal(c->ads->tls_client_ca, "/ca.pem");
        assert_int_equal(c->ads->ack_timeout_usec, 2000000);
        assert_int_equal(c->ads->max_streams, 7);
        Config *same = NULL;
        assert_int_equal(parse("ads: {listen: \"[::1]:18000\", tls: {cert: /c.pem, key: /k.pem, client_ca: /ca.pem}}\n",
                               &d, &same), 0);
        assert_true(ads_config_same_listener(c->ads, same->ads));
        free(same->ads->tls_key);
        same->ads->tls_key = xstrdup("/other.pem");
        assert_false(ads_config_same_listener(c->ads, same->ads));
        config_free(same);
        config_free(c);
        static const Refused bad[] = {
                { "ads: {listen: 127.0.0.1:18000}\n",
                  "fsxds.yaml:1:15: error: ads.listen: listening on TCP (127.0.0.1:18000) needs tls: {cert, key, client_ca}: "
                  "every client must present a certificate that names its node" },
                { "ads: {listen: \"unix:run/ads.sock\"}\n",
                  "fsxds.yaml:1:15: error: ads.listen: expected unix:/ABSOLUTE/PATH (at most 107 bytes) or HOST:PORT, "
                  "got \"unix:run/ads.sock\"" },
                { "ads: {listen: localhost:18000, tls: {cert: /c, key: /k, client_ca: /a}}\n",
                  "fsxds.yaml:1:15: error: ads.listen: expected unix:/ABSOLUTE/PATH, IPV4:PORT or [IPV6]:PORT, got "
                  "\"localhost:18000\"" },
                { "ads: {listen: \"127.0.0.1:0\", tls: {cert: /c, key: /k, client_ca: /a}}\n",
                  "fsxds.yaml:1:15: error: ads.listen: expected unix:/ABSOLUTE/PATH, IPV4:PORT or [IPV6]:PORT, got "
                  "\"127.0.0.1:0\"" },
                { "ads: {tls: {cert: /c, key: /k, client_ca: /a}}\n",
                  "fsxds.yaml:1:12: error: ads.tls: a unix socket takes no tls: its file's mode and group say who may connect" },
                { "ads: {listen: \"127.0.0.1:1\", tls: {cert: /c, key: /k}}\n",
                  "fsxds.yaml:1:35: error: ads.tls: tls needs cert, key and client_ca (clients must present a certificate "
                  "naming their node)" },
                { "ads:\n  ack_timeot: 1s\n", "fsxds.yaml:2:3: error: ads.ack_timeot: unknown key \"ack_timeot\" (did you "
                  "mean \"ack_timeout\"?)" },
                { "ads: {max_streams: 0}\n", "fsxds.yaml:1:20: error: ads.max_streams: expected the number of concurrent "
                  "streams per connection, 1 to 10000" },
                { "ads: [a]\n", "fsxds.yaml:1:6: error: ads: expected a mapping (ads: {} listens on /run/fsxds/ads.sock)" },
        };
        assert_refused(bad, ELEMENTSOF(bad));
}

static void test_shipped_file_is_defaults(void **state) {
        DiagList d = {};
        Config *c = NULL;
        _cleanup_free_ char *p = xasprintf("%s/conf/fsxds.yaml", SOURCE_ROOT);
        assert_int_equal(config_load(p, &d, &c), 0);
        Config *dflt = config_new_default();
        assert_string_equal(c->source_dir, dflt->source_dir);
        assert_int_equal(c->settle_usec, dflt->settle_usec);
        config_free(dflt);
        config_free(c);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_defaults),
                cmocka_unit_test(test_all_keys),
                cmocka_unit_test(test_errors_have_locations),
                cmocka_unit_test(test_unknown_key_did_you_mean),
                cmocka_unit_test(test_settle_max_not_below_settle),
                cmocka_unit_test(test_rescan_interval),
                cmocka_unit_test(test_metrics_file),
                cmocka_unit_test(test_ads),
                cmocka_unit_test(test_shipped_file_is_defaults),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
