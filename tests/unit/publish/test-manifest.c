/* SPDX-License-Identifier: MIT */
/* manifest: the canonical JSON spelling, the parser that accepts only it,
 * node directory and source tree scans on real directories, comparison,
 * and the MANIFEST/MANIFEST.sig pair on disk. */
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "manifest.h"
#include "sha256.h"
#include "wire.h"
#include "../random.h"

#define SHA_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define SHA_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

static const char node_json[] =
        "{\"created_usec\":1700000000000000,\"data_links\":{\"eds\":\"..gen-3\"},\"files\":["
        "{\"names\":[\"a\\\"b\",\"c\\\\d\\n\\u0001\"],\"path\":\"cds/cds.pb\",\"sha256\":\"" SHA_A "\",\"size\":10,"
        "\"type_url\":\"type.googleapis.com/envoy.config.cluster.v3.Cluster\",\"version_info\":\"v1\"},"
        "{\"names\":[\"w\\u00e9b\"],\"path\":\"eds/web.pb\",\"sha256\":\"" SHA_B "\",\"size\":0,"
        "\"type_url\":\"type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment\",\"version_info\":\"\"}],"
        "\"format\":1,\"generation\":42,\"kind\":\"node\",\"node\":\"front-proxy\",\"schema_sha256\":\"" SHA_A "\"}\n";

static void test_format_is_canonical(void **state) {
        ManifestFile files[] = {
                { .path = "cds/cds.pb", .size = 10, .sha256 = SHA_A,
                  .type_url = "type.googleapis.com/envoy.config.cluster.v3.Cluster", .version_info = "v1",
                  .names_json = "[\"a\\\"b\",\"c\\\\d\\n\\u0001\"]" },
                { .path = "eds/web.pb", .size = 0, .sha256 = SHA_B,
                  .type_url = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment", .version_info = "",
                  .names_json = "[\"w\\u00e9b\"]" },
        };
        ManifestLink links[] = { { "eds", "..gen-3" } };
        Manifest m = { .kind = MANIFEST_KIND_NODE, .created_usec = 1700000000000000, .node = "front-proxy",
                       .generation = 42, .schema_sha256 = SHA_A, .links = links, .n_links = 1, .files = files,
                       .n_files = 2 };
        Buf b = {};
        manifest_format(&m, &b);
        buf_putc(&b, 0);
        assert_string_equal((char *) b.data, node_json);
        buf_free(&b);
}

static void test_parse_round_trip(void **state) {
        /* the parser decodes escapes: é comes back as UTF-8, which is how
         * the writer spells it, so this spelling is not canonical... */
        Manifest m = {};
        char *error = NULL;
        assert_int_equal(manifest_parse(node_json, strlen(node_json), &m, &error), -EBADMSG);
        assert_non_null(strstr(error, "canonical"));
        free(error);
        error = NULL;

        /* ...while the raw UTF-8 spelling is */
        _cleanup_free_ char *text = xstrdup(node_json);
        char *e = strstr(text, "\\u00e9");
        memmove(e + 2, e + 6, strlen(e + 6) + 1);
        e[0] = (char) 0xc3;
        e[1] = (char) 0xa9;
        assert_int_equal(manifest_parse(text, strlen(text), &m, &error), 0);
        assert_null(error);
        assert_int_equal(m.kind, MANIFEST_KIND_NODE);
        assert_string_equal(m.node, "front-proxy");
        assert_int_equal(m.generation, 42);
        assert_int_equal(m.created_usec, 1700000000000000);
        assert_int_equal(m.n_links, 1);
        assert_string_equal(m.links[0].type, "eds");
        assert_string_equal(m.links[0].target, "..gen-3");
        assert_int_equal(m.n_files, 2);
        assert_string_equal(m.files[0].path, "cds/cds.pb");
        assert_int_equal(m.files[0].size, 10);
        assert_string_equal(m.files[0].sha256, SHA_A);
        assert_string_equal(m.files[0].version_info, "v1");
        assert_string_equal(m.files[0].names_json, "[\"a\\\"b\",\"c\\\\d\\n\\u0001\"]");
        assert_string_equal(m.files[1].names_json, "[\"w\xc3\xa9" "b\"]");
        Buf b = {};
        manifest_format(&m, &b);
        assert_int_equal(b.len, strlen(text));
        assert_memory_equal(b.data, text, b.len);
        buf_free(&b);
        manifest_done(&m);
}

/* Each edit of a valid source manifest must be refused. */
static void test_parse_refuses(void **state) {
        static const char good[] = "{\"created_usec\":5,\"files\":[{\"path\":\"a.yaml\",\"sha256\":\"" SHA_A
                                   "\",\"size\":3},{\"path\":\"b.yaml\",\"sha256\":\"" SHA_B
                                   "\",\"size\":4}],\"format\":1,\"kind\":\"source\"}\n";
        Manifest m = {};
        char *error = NULL;
        assert_int_equal(manifest_parse(good, strlen(good), &m, &error), 0);
        assert_int_equal(m.kind, MANIFEST_KIND_SOURCE);
        assert_int_equal(m.n_files, 2);
        manifest_done(&m);

        static const struct {
                const char *from, *to, *why;
        } edits[] = {
                { "{\"created_usec\":5,", "{ \"created_usec\":5,", "canonical" }, /* whitespace */
                { "\"size\":3}", "\"size\":3.0}", "\"size\"" },                  /* not an integer */
                { "\"size\":3}", "\"size\":-3}", "\"size\"" },
                { "\"created_usec\":5", "\"created_usec\":99999999999999999999", "\"created_usec\"" },
                { "\"format\":1", "\"format\":2", "format 1" },
                { "\"kind\":\"source\"", "\"kind\":\"tree\"", "\"kind\"" },
                { "\"a.yaml\"", "\"c.yaml\"", "sorted" },                                   /* order */
                { "\"b.yaml\"", "\"a.yaml\"", "sorted" },                                   /* twice */
                { "\"size\":4}", "\"size\":4,\"x\":1}", "canonical" },                      /* unknown key */
                { "\"sha256\":\"a", "\"sha256\":\"A", "sha256" },                          /* not lowercase hex */
                { "\"kind\":\"source\"}\n", "\"kind\":\"source\"}", "final newline" },      /* no newline */
                { "\"kind\":\"source\"}\n", "\"kind\":\"source\"}\n\n", "final newline" },
                { "\"path\":\"a.yaml\"", "\"path\":\"a\\u0zz.yaml\"", "invalid \\u escape" },
                { "\"path\":\"a.yaml\"", "\"path\":\"a\\ud800.yaml\"", "invalid \\u escape" },
                { "\"path\":\"a.yaml\"", "\"path\":\"a\\x.yaml\"", "invalid escape \\x" },
                { "\"path\":\"a.yaml\"", "\"path\":true", "\"path\"" },
                { "{\"created_usec\":5,\"files\":[", "{\"created_usec\":5,\"files\":[[[[[[[[[[1]]]]]]]]]],\"f\":[",
                  "files[0]" },
        };
        size_t failed = 0;
        for (size_t i = 0; i < ELEMENTSOF(edits); i++) {
                const char *at = strstr(good, edits[i].from);
                assert_non_null(at);
                _cleanup_free_ char *bad = xasprintf("%.*s%s%s", (int) (at - good), good, edits[i].to,
                                                    at + strlen(edits[i].from));
                error = NULL;
                int r = manifest_parse(bad, strlen(bad), &m, &error);
                if (r != -EBADMSG || !error || !strstr(error, edits[i].why)) {
                        print_error("edit %zu (%s): r=%d error=%s, expected \"%s\"\n", i, edits[i].to, r,
                                    error ? error : "(none)", edits[i].why);
                        failed++;
                }
                if (r >= 0)
                        manifest_done(&m);
                free(error);
        }
        assert_int_equal(failed, 0);
}

/* ---- on real directories ---- */

static char *make_tmpdir(void) {
        char *d = xstrdup("/tmp/test-manifest-XXXXXX");
        assert_non_null(mkdtemp(d));
        return d;
}

static void write_at(const char *dir, const char *rel, const void *data, size_t len) {
        _cleanup_free_ char *p = xasprintf("%s/%s", dir, rel);
        assert_int_equal(write_file_atomic(p, data, len, 0644), 0);
}

static void rm_rf(const char *dir) {
        _cleanup_free_ char *cmd = xasprintf("rm -rf '%s'", dir);
        assert_int_equal(system(cmd), 0);
}

/* A DiscoveryResponse with the given resource names (field 1 of each). */
static void response(Buf *b, const char *version, const char *type_url, const char *const *names) {
        wire_put_bytes(b, 1, version, strlen(version));
        for (size_t i = 0; names[i]; i++) {
                Buf msg = {}, any = {};
                wire_put_bytes(&msg, 1, names[i], strlen(names[i]));
                wire_put_bytes(&any, 1, type_url, strlen(type_url));
                wire_put_bytes(&any, 2, msg.data, msg.len);
                wire_put_bytes(b, 2, any.data, any.len);
                buf_free(&msg);
                buf_free(&any);
        }
        wire_put_bytes(b, 4, type_url, strlen(type_url));
}

/* a + b in one of a few rotating buffers */
static const char *join(const char *a, const char *b) {
        static char buf[4][PATH_MAX];
        static unsigned i;
        char *p = buf[i++ % 4];
        snprintf(p, PATH_MAX, "%s%s", a, b);
        return p;
}

typedef struct Seen {
        char text[4096];
        size_t n;
} Seen;

static void seen(void *userdata, const char *path, const char *message) {
        Seen *s = userdata;
        size_t l = strlen(s->text);
        snprintf(s->text + l, sizeof s->text - l, "%s: %s\n", path, message);
        s->n++;
}

static void test_scan_node(void **state) {
        _cleanup_free_ char *dir = make_tmpdir();
        _cleanup_free_ char *cds = xasprintf("%s/cds", dir), *eds = xasprintf("%s/eds", dir),
                            *gen = xasprintf("%s/eds/..gen-7", dir);
        assert_int_equal(mkdir(cds, 0755), 0);
        assert_int_equal(mkdir(eds, 0755), 0);
        assert_int_equal(mkdir(gen, 0755), 0);
        Buf c = {}, e = {};
        response(&c, "v9", "type.googleapis.com/envoy.config.cluster.v3.Cluster", (const char *[]) { "web", "db\"x", NULL });
        response(&e, "e1", "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment",
                 (const char *[]) { "web", NULL });
        write_at(dir, "cds/cds.pb", c.data, c.len);
        write_at(dir, "cds/.tmp.cds.pb.123", "junk", 4);  /* temporary names are not live */
        write_at(dir, "cds/notes.txt", "junk", 4);
        write_at(dir, "eds/..gen-7/web.pb", e.data, e.len);
        assert_int_equal(symlinkat("..gen-7", AT_FDCWD, join(eds, "/..data")), 0);
        assert_int_equal(symlinkat("..data/web.pb", AT_FDCWD, join(eds, "/web.pb")), 0);
        assert_int_equal(symlinkat("/etc/passwd", AT_FDCWD, join(eds, "/evil.pb")), 0);

        _cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        DescribeCache *cache = describe_cache_new();
        Seen s = {};
        Manifest m = {};
        assert_int_equal(manifest_scan_node(fd, cache, seen, &s, &m), 0);
        assert_int_equal(s.n, 1);
        assert_string_equal(s.text, "eds/evil.pb: is a symlink to /etc/passwd, not to ..data/evil.pb\n");
        assert_int_equal(m.n_files, 2);
        assert_string_equal(m.files[0].path, "cds/cds.pb");
        assert_int_equal(m.files[0].size, c.len);
        char sha[65];
        sha256_hex(c.data, c.len, sha);
        assert_string_equal(m.files[0].sha256, sha);
        assert_string_equal(m.files[0].names_json, "[\"web\",\"db\\\"x\"]");
        assert_string_equal(m.files[0].version_info, "v9");
        assert_string_equal(m.files[0].type_url, "type.googleapis.com/envoy.config.cluster.v3.Cluster");
        assert_string_equal(m.files[1].path, "eds/web.pb");
        assert_string_equal(m.files[1].names_json, "[\"web\"]");
        assert_int_equal(m.n_links, 1);
        assert_string_equal(m.links[0].type, "eds");
        assert_string_equal(m.links[0].target, "..gen-7");

        /* the same scan again (from the cache) lists the same */
        Manifest again = {};
        assert_int_equal(manifest_scan_node(fd, cache, NULL, NULL, &again), 0);
        assert_int_equal(manifest_compare(&m, &again, seen, &s), 0);

        /* every kind of difference, each reported with its path */
        write_at(dir, "cds/cds.pb", "x", 1);                 /* size */
        Buf e2 = {};
        response(&e2, "e2", "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment",
                 (const char *[]) { "wex", NULL });          /* same size, other bytes */
        assert_int_equal(e2.len, e.len);
        write_at(dir, "eds/..gen-7/web.pb", e2.data, e2.len);
        write_at(dir, "eds/new.pb", "n", 1);                 /* unlisted */
        _cleanup_free_ char *gen8 = xasprintf("%s/eds/..gen-8", dir);
        assert_int_equal(mkdir(gen8, 0755), 0);
        assert_int_equal(unlinkat(AT_FDCWD, join(eds, "/..data"), 0), 0);
        assert_int_equal(symlinkat("..gen-8", AT_FDCWD, join(eds, "/..data")), 0);
        write_at(dir, "eds/..gen-8/web.pb", e2.data, e2.len);
        Manifest now = {};
        memset(&s, 0, sizeof s);
        assert_int_equal(manifest_scan_node(fd, cache, NULL, NULL, &now), 0);
        assert_int_equal(manifest_compare(&m, &now, seen, &s), 4);
        _cleanup_free_ char *expected = xasprintf(
                "cds/cds.pb: size 1, MANIFEST says %zu\n"
                "eds/new.pb: present but not listed in MANIFEST\n"
                "eds/web.pb: sha256 %s, MANIFEST says %s\n"
                "eds: ..data points to ..gen-8, MANIFEST says ..gen-7\n",
                c.len, now.files[2].sha256, m.files[1].sha256);
        assert_string_equal(s.text, expected);

        /* a listed file gone */
        assert_int_equal(unlinkat(AT_FDCWD, join(cds, "/cds.pb"), 0), 0);
        manifest_done(&now);
        memset(&s, 0, sizeof s);
        assert_int_equal(manifest_scan_node(fd, cache, NULL, NULL, &now), 0);
        assert_int_equal(manifest_compare(&m, &now, seen, &s), 4);
        assert_non_null(strstr(s.text, "cds/cds.pb: listed in MANIFEST but missing\n"));

        manifest_done(&now);
        manifest_done(&again);
        manifest_done(&m);
        describe_cache_free(cache);
        buf_free(&c);
        buf_free(&e);
        buf_free(&e2);
        rm_rf(dir);
}

static void test_scan_sources(void **state) {
        _cleanup_free_ char *dir = make_tmpdir();
        _cleanup_free_ char *common = xasprintf("%s/common", dir), *nodes = xasprintf("%s/nodes", dir),
                            *a = xasprintf("%s/nodes/a-b", dir), *hidden = xasprintf("%s/.git", dir);
        assert_int_equal(mkdir(common, 0755), 0);
        assert_int_equal(mkdir(nodes, 0755), 0);
        assert_int_equal(mkdir(a, 0755), 0);
        assert_int_equal(mkdir(hidden, 0755), 0);
        write_at(dir, "common/cds.yaml", "x: 1\n", 5);
        write_at(dir, "common/z.json", "{}", 2);
        write_at(dir, "common/readme.txt", "no", 2);
        write_at(dir, "common/.swp.yaml", "no", 2);
        write_at(dir, "common/cds.yaml~", "no", 2);
        write_at(dir, "nodes/a-b/lds.yml", "y: 2\n", 5);
        write_at(dir, ".git/x.yaml", "no", 2);
        Manifest m = {};
        Seen s = {};
        assert_int_equal(manifest_scan_sources(dir, seen, &s, &m), 0);
        assert_int_equal(s.n, 0);
        assert_int_equal(m.kind, MANIFEST_KIND_SOURCE);
        assert_int_equal(m.n_files, 3);
        assert_string_equal(m.files[0].path, "common/cds.yaml");
        assert_string_equal(m.files[1].path, "common/z.json");
        assert_string_equal(m.files[2].path, "nodes/a-b/lds.yml");
        char sha[65];
        sha256_hex("x: 1\n", 5, sha);
        assert_string_equal(m.files[0].sha256, sha);
        assert_int_equal(m.files[0].size, 5);

        /* format → parse round trip of a real scan */
        Buf b = {};
        manifest_format(&m, &b);
        Manifest back = {};
        char *error = NULL;
        assert_int_equal(manifest_parse((char *) b.data, b.len, &back, &error), 0);
        assert_int_equal(manifest_compare(&back, &m, seen, &s), 0);
        buf_free(&b);
        manifest_done(&back);
        manifest_done(&m);
        rm_rf(dir);
}

static void test_pair_on_disk(void **state) {
        _cleanup_free_ char *dir = make_tmpdir();
        _cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        char *data;
        uint8_t *sig;
        size_t len, sig_len;
        assert_int_equal(manifest_read_pair(fd, &data, &len, &sig, &sig_len), -ENOENT);

        assert_int_equal(manifest_write_pair(fd, "{}\n", 3, "SIG", 3, 0640, (gid_t) -1, true), 0);
        assert_int_equal(manifest_read_pair(fd, &data, &len, &sig, &sig_len), 0);
        assert_int_equal(len, 3);
        assert_memory_equal(data, "{}\n", 3);
        assert_int_equal(sig_len, 3);
        assert_memory_equal(sig, "SIG", 3);
        free(data);
        free(sig);
        struct stat st;
        assert_int_equal(fstatat(fd, MANIFEST_NAME, &st, 0), 0);
        assert_int_equal(st.st_mode & 07777, 0640);

        /* unsigned now: a stale signature must not stay next to it */
        assert_int_equal(manifest_write_pair(fd, "[]\n", 3, NULL, 0, 0640, (gid_t) -1, false), 0);
        assert_int_equal(manifest_read_pair(fd, &data, &len, &sig, &sig_len), 0);
        assert_memory_equal(data, "[]\n", 3);
        assert_null(sig);
        free(data);
        assert_int_equal(fstatat(fd, MANIFEST_SIG_NAME, &st, 0), -1);
        assert_int_equal(errno, ENOENT);
        rm_rf(dir);
}

/* A MANIFEST entry made from a build's digest: from its bytes when at
 * hand, else from the store object, which must be the digest. */
static void test_describe_built(void **state) {
        _cleanup_free_ char *dir = make_tmpdir();
        Buf e = {};
        response(&e, "e1", "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment",
                 (const char *[]) { "web", NULL });
        char sha[65];
        sha256_hex(e.data, e.len, sha);
        _cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        DescribeCache *cache = describe_cache_new();

        /* from the bytes: nothing read */
        ManifestFile f = {};
        assert_int_equal(manifest_describe_built(NULL, fd, "eds/web.pb", sha, e.data, e.len, &f), 0);
        assert_string_equal(f.path, "eds/web.pb");
        assert_string_equal(f.sha256, sha);
        assert_int_equal(f.size, e.len);
        assert_string_equal(f.version_info, "e1");
        assert_string_equal(f.names_json, "[\"web\"]");
        assert_string_equal(f.type_url, "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment");
        free(f.path), free(f.type_url), free(f.version_info), free(f.names_json);

        /* from the store object named by the digest */
        write_at(dir, sha, e.data, e.len);
        assert_int_equal(manifest_describe_built(cache, fd, "eds/a.pb", sha, NULL, 0, &f), 0);
        assert_string_equal(f.names_json, "[\"web\"]");
        assert_int_equal(f.size, e.len);
        free(f.path), free(f.type_url), free(f.version_info), free(f.names_json);

        /* an object that is no longer its digest is never described */
        Buf x = {};
        response(&x, "e1", "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment",
                 (const char *[]) { "wex", NULL });
        char other[65];
        sha256_hex(x.data, x.len, other);
        write_at(dir, other, e.data, e.len);
        assert_int_equal(manifest_describe_built(cache, fd, "eds/b.pb", other, NULL, 0, &f), -EBADMSG);
        _cleanup_free_ char *missing = xasprintf("%064d", 0);
        assert_int_equal(manifest_describe_built(cache, fd, "eds/c.pb", missing, NULL, 0, &f), -ENOENT);

        /* a description is cached by digest: once known, the object is not read */
        _cleanup_free_ char *p = xasprintf("%s/%s", dir, sha);
        assert_int_equal(unlink(p), 0);
        assert_int_equal(manifest_describe_built(cache, fd, "eds/d.pb", sha, NULL, 0, &f), 0);
        assert_string_equal(f.path, "eds/d.pb");
        assert_string_equal(f.version_info, "e1");
        free(f.path), free(f.type_url), free(f.version_info), free(f.names_json);

        describe_cache_free(cache);
        buf_free(&e);
        buf_free(&x);
        rm_rf(dir);
}

/* Crash leftovers of manifest_write_pair(), and only those, go; entries
 * fsxdsd did not make are reported. */
static void test_tmp_and_strays(void **state) {
        assert_true(manifest_is_tmp_name(".MANIFEST.tmp.123"));
        assert_true(manifest_is_tmp_name(".MANIFEST.sig.tmp.7"));
        assert_false(manifest_is_tmp_name(".MANIFEST.tmp."));
        assert_false(manifest_is_tmp_name(".MANIFEST.tmp.12x"));
        assert_false(manifest_is_tmp_name("MANIFEST.tmp.12"));
        assert_false(manifest_is_tmp_name(".MANIFEST.old.tmp.12"));

        _cleanup_free_ char *dir = make_tmpdir();
        _cleanup_free_ char *eds = xasprintf("%s/eds", dir), *gen = xasprintf("%s/eds/..gen-3", dir);
        assert_int_equal(mkdir(eds, 0755), 0);
        assert_int_equal(mkdir(gen, 0755), 0);
        write_at(dir, ".MANIFEST.tmp.4242", "{", 1);
        write_at(dir, ".MANIFEST.sig.tmp.4242", "0", 1);
        write_at(dir, ".MANIFEST.tmp.mine", "x", 1);
        write_at(dir, "MANIFEST", "{}", 2);
        write_at(dir, "MANIFEST.sig", "0", 1);
        write_at(dir, "eds/web.pb", "x", 1);
        write_at(dir, "eds/notes.txt", "x", 1);
        assert_int_equal(symlinkat("..gen-3", AT_FDCWD, join(eds, "/..data")), 0);
        _cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_int_equal(manifest_clean_tmp(fd), 2);
        assert_int_equal(manifest_clean_tmp(fd), 0);
        assert_int_equal(access(join(dir, "/.MANIFEST.tmp.mine"), F_OK), 0);
        assert_int_equal(access(join(dir, "/MANIFEST"), F_OK), 0);

        Seen s = {};
        assert_int_equal(manifest_scan_strays(fd, seen, &s), 2);
        assert_non_null(strstr(s.text, ".MANIFEST.tmp.mine: not fsxdsd's"));
        assert_non_null(strstr(s.text, "eds/notes.txt: not fsxdsd's"));
        rm_rf(dir);
}

/* ---- manifest_patch() ---- */

static uint64_t patch_rng = 0x2545f4914f6cdd1dULL;

static unsigned prnd(unsigned n) {
        return xorshift_below(&patch_rng, n);
}

/* names that look like the patterns the patch looks for, once escaped */
static const char *const tricky_names[] = {
        "[\"plain\"]",
        "[\"{\\\"names\\\":[\",\"x]\"]",
        "[\"\\\"path\\\":\\\"eds/c03.pb\\\",\\\"sha256\\\":\\\"\"]",
        "[\"\\\"version_info\\\":\\\"\\\"}\",\"],\\\"format\\\":\"]",
        "[]",
};

static void random_file(ManifestFile *f, unsigned slot) {
        static const char *const types[] = { "cds/cds.pb", "lds/lds.pb" };
        f->path = slot < 2 ? xstrdup(types[slot]) : xasprintf("eds/c%02u.pb", slot);
        f->size = prnd(1000);
        for (size_t i = 0; i < 64; i++)
                f->sha256[i] = "0123456789abcdef"[prnd(16)];
        f->sha256[64] = 0;
        f->type_url = xstrdup("type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment");
        f->version_info = xasprintf("%016x", prnd(1u << 30));
        f->names_json = xstrdup(tricky_names[prnd(5)]);
}

static int cmp_touched(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

static int cmp_mf(const void *a, const void *b) {
        return strcmp(((const ManifestFile *) a)->path, ((const ManifestFile *) b)->path);
}

/* A MANIFEST patched at the paths that changed is byte for byte the one
 * formatted whole, whatever changed: files replaced, added before, among
 * and after the others, removed, all of them, none; names that spell the
 * patterns the patch searches for. */
static void test_patch_equals_format(void **state) {
        for (unsigned round = 0; round < 400; round++) {
                enum { SLOTS = 12 };
                ManifestFile *slot_old[SLOTS] = {}, *slot_new[SLOTS] = {};
                ManifestFile olds[SLOTS] = {}, news[SLOTS] = {};
                for (unsigned i = 0; i < SLOTS; i++) {
                        if (prnd(2)) {
                                slot_old[i] = &olds[i];
                                random_file(slot_old[i], i);
                        }
                        unsigned what = prnd(4);
                        if (what == 0 && slot_old[i])
                                slot_new[i] = slot_old[i]; /* the same */
                        else if (what == 1) {
                                slot_new[i] = &news[i];
                                random_file(slot_new[i], i);
                        } else if (slot_old[i] && what == 2)
                                slot_new[i] = slot_old[i];
                }
                Manifest old = { .kind = MANIFEST_KIND_NODE, .created_usec = 1, .node = "n1", .generation = 7,
                                 .schema_sha256 = SHA_A, .files = xcalloc(SLOTS, sizeof(ManifestFile)) };
                Manifest next = { .kind = MANIFEST_KIND_NODE, .created_usec = 2, .node = "n1", .generation = 8,
                                  .schema_sha256 = SHA_B, .files = xcalloc(SLOTS, sizeof(ManifestFile)) };
                Manifest head = next;
                head.files = xcalloc(SLOTS, sizeof(ManifestFile));
                char *touched[SLOTS];
                size_t n_touched = 0;
                for (unsigned i = 0; i < SLOTS; i++) {
                        if (slot_old[i])
                                old.files[old.n_files++] = *slot_old[i];
                        if (slot_new[i])
                                next.files[next.n_files++] = *slot_new[i];
                }
                qsort(old.files, old.n_files, sizeof(ManifestFile), cmp_mf);
                qsort(next.files, next.n_files, sizeof(ManifestFile), cmp_mf);
                /* touched: every path whose file is not the same one (sorted) */
                for (size_t i = 0; i < next.n_files; i++) {
                        bool same = false;
                        for (size_t k = 0; k < old.n_files && !same; k++)
                                same = streq(old.files[k].path, next.files[i].path) &&
                                       streq(old.files[k].sha256, next.files[i].sha256) &&
                                       streq(old.files[k].names_json, next.files[i].names_json) &&
                                       old.files[k].size == next.files[i].size &&
                                       streq(old.files[k].version_info, next.files[i].version_info);
                        if (!same || prnd(8) == 0) {
                                touched[n_touched++] = next.files[i].path;
                                head.files[head.n_files++] = next.files[i];
                        }
                }
                for (size_t k = 0; k < old.n_files; k++) {
                        bool kept = false;
                        for (size_t i = 0; i < next.n_files && !kept; i++)
                                kept = streq(old.files[k].path, next.files[i].path);
                        if (!kept)
                                touched[n_touched++] = old.files[k].path;
                }
                qsort(touched, n_touched, sizeof(char *), cmp_touched);
                qsort(head.files, head.n_files, sizeof(ManifestFile), cmp_mf);
                Buf ob = {}, want = {}, got = {};
                manifest_format(&old, &ob);
                manifest_format(&next, &want);
                assert_int_equal(manifest_patch((const char *) ob.data, ob.len, &head, touched, n_touched, &got), 0);
                if (got.len != want.len || memcmp(got.data, want.data, want.len) != 0) {
                        buf_putc(&ob, 0);
                        buf_putc(&want, 0);
                        buf_putc(&got, 0);
                        print_error("round %u\nold  %s\nwant %s\ngot  %s\n", round, (char *) ob.data,
                                    (char *) want.data, (char *) got.data);
                        fail();
                }
                buf_free(&ob);
                buf_free(&want);
                buf_free(&got);
                for (unsigned i = 0; i < SLOTS; i++) {
                        ManifestFile *fs[2] = { &olds[i], &news[i] };
                        for (size_t k = 0; k < 2; k++) {
                                free(fs[k]->path);
                                free(fs[k]->type_url);
                                free(fs[k]->version_info);
                                free(fs[k]->names_json);
                        }
                }
                free(old.files);
                free(next.files);
                free(head.files);
        }
}

static void test_patch_refuses(void **state) {
        Manifest head = { .kind = MANIFEST_KIND_NODE, .node = "n1", .schema_sha256 = SHA_A };
        char *touched[] = { "eds/web.pb" };
        static const char *const bad[] = {
                "", "{}\n", "{\"files\":[{\"names\":[],\"path\":\"eds/web.pb\",\"sha256\":\"x\"}],\"format\":1}\n",
                "{\"files\":[],\"format\":1}", /* no final newline */
        };
        for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
                Buf b = {};
                assert_int_equal(manifest_patch(bad[i], strlen(bad[i]), &head, touched, 1, &b), -EBADMSG);
                buf_free(&b);
        }
}

/* The MANIFEST this process wrote is known by its identity: one replaced
 * since (even by the same bytes) is not read as it. */
static void test_read_same(void **state) {
        char dir[] = "/tmp/fsxds-test-manifest-XXXXXX";
        assert_non_null(mkdtemp(dir));
        _cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_true(fd >= 0);
        struct stat id;
        assert_int_equal(manifest_write_pair_id(fd, node_json, strlen(node_json), NULL, 0, 0640, (gid_t) -1, false, &id),
                         0);
        _cleanup_free_ char *data = NULL;
        size_t len;
        assert_int_equal(manifest_read_same(fd, &id, &data, &len), 0);
        assert_int_equal(len, strlen(node_json));
        assert_memory_equal(data, node_json, len);
        /* the same bytes by another writer (a new inode at the name) */
        _cleanup_free_ char *other = xasprintf("%s/other", dir), *m0 = xasprintf("%s/MANIFEST", dir);
        int ofd = open(other, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
        assert_true(ofd >= 0);
        assert_int_equal(write(ofd, node_json, strlen(node_json)), (ssize_t) strlen(node_json));
        close(ofd);
        assert_int_equal(rename(other, m0), 0);
        char *again = NULL;
        assert_int_equal(manifest_read_same(fd, &id, &again, &len), -ESTALE);
        assert_null(again);
        _cleanup_free_ char *m = xasprintf("%s/MANIFEST", dir);
        assert_int_equal(unlink(m), 0);
        assert_int_equal(manifest_read_same(fd, &id, &again, &len), -ENOENT);
        assert_int_equal(rmdir(dir), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_format_is_canonical),
                cmocka_unit_test(test_parse_round_trip),
                cmocka_unit_test(test_parse_refuses),
                cmocka_unit_test(test_scan_node),
                cmocka_unit_test(test_scan_sources),
                cmocka_unit_test(test_pair_on_disk),
                cmocka_unit_test(test_describe_built),
                cmocka_unit_test(test_tmp_and_strays),
                cmocka_unit_test(test_patch_equals_format),
                cmocka_unit_test(test_patch_refuses),
                cmocka_unit_test(test_read_same),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
