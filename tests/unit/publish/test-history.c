/* SPDX-License-Identifier: MIT */
/* history: the entry's canonical JSON (round trip, other spellings
 * refused), and random generations recorded, pruned and rebuilt over a
 * real state_dir: every kept generation rebuilds to its file set, and the
 * objects directory holds exactly what the kept entries name. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <ftw.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "history.h"
#include "manifest.h"
#include "statedir.h"

static char root[64];

static int rm_cb(const char *p, const struct stat *st, int flag, struct FTW *ftw) {
        return remove(p);
}

static int setup(void **state) {
        snprintf(root, sizeof root, "/tmp/fsxds-test-history-XXXXXX");
        return mkdtemp(root) ? 0 : -1;
}

static int teardown(void **state) {
        return nftw(root, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

static const char sha_a[] = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
static const char sha_b[] = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

static void test_entry_round_trip(void **state) {
        HistoryChange ch[2] = { { .path = "cds/cds.pb" }, { .path = "eds/we\"b.pb" } };
        strcpy(ch[0].sha256, sha_a);
        strcpy(ch[0].was, sha_b);
        strcpy(ch[1].was, sha_a); /* removed */
        HistoryEntry e = { .node = "web", .generation = 42, .created_usec = 1700000000000000, .n_files = 3,
                           .rollback_of = 37, .changes = ch, .n_changes = 2 };
        strcpy(e.files_digest, sha_b);
        strcpy(e.source_sha256, sha_a);
        Buf b = {};
        history_entry_format(&e, &b);
        buf_putc(&b, 0);
        const char *text = (const char *) b.data;
        assert_non_null(strstr(text, "{\"changes\":[{\"path\":\"cds/cds.pb\",\"sha256\":\"aaaa"));
        assert_non_null(strstr(text, "\"kind\":\"history\""));
        assert_int_equal(text[b.len - 2], '\n');
        HistoryEntry back = {};
        _cleanup_free_ char *why = NULL;
        assert_int_equal(history_entry_parse(text, b.len - 1, &back, &why), 0);
        assert_int_equal(back.generation, 42);
        assert_int_equal(back.rollback_of, 37);
        assert_int_equal(back.n_changes, 2);
        assert_string_equal(back.changes[1].path, "eds/we\"b.pb");
        assert_string_equal(back.changes[1].sha256, "");
        assert_string_equal(back.changes[1].was, sha_a);
        history_entry_done(&back);

        /* another spelling of the same: refused */
        char *spaced = xasprintf("%.*s\n\n", (int) (b.len - 2), text);
        assert_int_equal(history_entry_parse(spaced, strlen(spaced), &back, &why), -EBADMSG);
        free(spaced);
        free(why);
        why = NULL;
        char *swapped = xstrdup(text);
        char *k = strstr(swapped, "\"format\":1");
        assert_non_null(k);
        memcpy(k, "\"format\":2", 10);
        assert_int_equal(history_entry_parse(swapped, strlen(swapped), &back, &why), -EBADMSG);
        free(swapped);
        free(why);
        why = NULL;
        /* a change that neither adds nor removes nor changes */
        HistoryChange bad = { .path = "x" };
        e.changes = &bad;
        e.n_changes = 1;
        Buf c = {};
        history_entry_format(&e, &c);
        assert_int_equal(history_entry_parse((const char *) c.data, c.len, &back, &why), -EBADMSG);
        buf_free(&c);
        buf_free(&b);
}

/* ---- random generations ---- */

#define N_PATHS 12
#define N_GENS 40

typedef struct Gen {
        char *sha[N_PATHS]; /* NULL: the file is absent */
} Gen;

static char *put_object(unsigned value) {
        char text[64];
        int n = snprintf(text, sizeof text, "object %u", value);
        char *sha = xmalloc(65);
        sha256_hex(text, (size_t) n, sha);
        _cleanup_free_ char *p = xasprintf("%s/nodes/.store/%s", root, sha);
        if (access(p, F_OK) < 0)
                assert_int_equal(write_file_atomic(p, text, (size_t) n, 0640), 0);
        return sha;
}

static char *path_of(size_t i) {
        return xasprintf("eds/c%02zu.pb", i);
}

static void write_copy_manifest(const Gen *g, uint64_t gen) {
        Manifest m = { .kind = MANIFEST_KIND_NODE, .node = xstrdup("web"), .generation = gen,
                       .schema_sha256 = xstrdup(sha_a), .files = xcalloc(N_PATHS, sizeof(ManifestFile)) };
        for (size_t i = 0; i < N_PATHS; i++)
                if (g->sha[i]) {
                        ManifestFile *f = &m.files[m.n_files++];
                        f->path = path_of(i);
                        strcpy(f->sha256, g->sha[i]);
                        f->size = 8;
                        f->type_url = xstrdup("t");
                        f->version_info = xstrdup("v");
                        f->names_json = xstrdup("[]");
                }
        Buf b = {};
        manifest_format(&m, &b);
        _cleanup_free_ char *dir = xasprintf("%s/nodes/web", root);
        _cleanup_free_ char *p = xasprintf("%s/MANIFEST", dir);
        assert_int_equal(mkdir_p(dir, 0750), 0);
        assert_int_equal(write_file_atomic(p, b.data, b.len, 0640), 0);
        buf_free(&b);
        manifest_done(&m);
}

static void gen_files(const Gen *g, HistoryFile **ret, size_t *ret_n) {
        HistoryFile *f = xcalloc(N_PATHS + 1, sizeof(HistoryFile));
        size_t n = 0;
        for (size_t i = 0; i < N_PATHS; i++)
                if (g->sha[i]) {
                        f[n].path = path_of(i);
                        strcpy(f[n++].sha256, g->sha[i]);
                }
        *ret = f;
        *ret_n = n;
}

static bool gen_live(void *userdata, const char *path, const char *sha256) {
        const Gen *g = userdata;
        for (size_t i = 0; i < N_PATHS; i++)
                if (g->sha[i] && streq(g->sha[i], sha256))
                        return true;
        return false;
}

static size_t count_objects(void) {
        _cleanup_free_ char *d = xasprintf("%s/history/web/objects", root);
        _cleanup_(closedirp) DIR *dir = opendir(d);
        assert_non_null(dir);
        size_t n = 0;
        struct dirent *de;
        while ((de = readdir(dir)))
                n += de->d_name[0] != '.';
        return n;
}

static void test_random_generations(void **state) {
        _cleanup_free_ char *store = xasprintf("%s/nodes/.store", root);
        assert_int_equal(mkdir_p(store, 0750), 0);
        srand(15);
        static Gen gens[N_GENS + 1];
        uint64_t *kept = xcalloc(N_GENS + 1, sizeof(uint64_t));
        HistoryEntry **known = xcalloc(N_GENS + 1, sizeof(HistoryEntry *));
        size_t n_kept = 0;
        unsigned keep = 5;
        for (uint64_t g = 1; g <= N_GENS; g++) {
                Gen *cur = &gens[g], *prev = &gens[g - 1];
                for (size_t i = 0; i < N_PATHS; i++)
                        cur->sha[i] = prev->sha[i] ? xstrdup(prev->sha[i]) : NULL;
                /* a few random changes (at least one file stays) */
                for (int k = rand() % 4; k >= 0; k--) {
                        size_t i = (size_t) rand() % N_PATHS;
                        free(cur->sha[i]);
                        cur->sha[i] = rand() % 4 == 0 && i != 0 ? NULL : put_object((unsigned) rand() % 30);
                }
                HistoryEntry e = { .node = "web", .generation = g, .created_usec = g };
                e.changes = xcalloc(N_PATHS, sizeof(HistoryChange));
                for (size_t i = 0; i < N_PATHS; i++) {
                        const char *a = prev->sha[i] ?: "", *b = cur->sha[i] ?: "";
                        if (streq(a, b))
                                continue;
                        HistoryChange *c = &e.changes[e.n_changes++];
                        c->path = path_of(i);
                        strcpy(c->sha256, b);
                        strcpy(c->was, a);
                }
                HistoryFile *f;
                size_t n;
                gen_files(cur, &f, &n);
                e.n_files = n;
                history_files_digest(f, n, e.files_digest);
                history_files_free(f, n);
                write_copy_manifest(cur, g);
                assert_int_equal(history_record(root, &e), 0);
                kept[n_kept++] = g;
                /* every other time with the entries known (as fsxdsd keeps small ones) */
                HistoryEntry *k = NULL;
                if (g % 2 == 0) {
                        k = xmemdup(&e, sizeof e);
                        k->node = NULL;
                        e.changes = NULL;
                        e.n_changes = 0;
                }
                known[n_kept - 1] = k;
                HistoryPrune how = { .known = known, .live = gen_live, .userdata = cur };
                assert_true(history_prune(root, "web", keep, kept, &n_kept, &how) >= 0);
                e.node = NULL;
                history_entry_done(&e);
                assert_true(n_kept <= keep);
        }
        for (size_t i = 0; i < n_kept; i++)
                if (known[i]) {
                        history_entry_done(known[i]);
                        free(known[i]);
                }
        free(known);
        uint64_t *listed;
        size_t n_listed;
        assert_int_equal(history_list(root, "web", &listed, &n_listed), 0);
        assert_int_equal(n_listed, keep);
        for (size_t i = 0; i < n_listed; i++)
                assert_true(listed[i] == kept[i]);
        free(listed);

        /* the store lets go of what the copy does not hold: the history's links remain (and
         * since the objects directory must hold every object of every kept generation, the
         * store lets go of everything) */
        _cleanup_(closedirp) DIR *sd = opendir(store);
        struct dirent *de;
        while ((de = readdir(sd)))
                if (de->d_name[0] != '.') {
                        _cleanup_free_ char *p = xasprintf("%s/%s", store, de->d_name);
                        assert_int_equal(unlink(p), 0);
                }
        /* every kept generation rebuilds to its files, each object readable */
        for (size_t k = 0; k < n_kept; k++) {
                HistoryFile *f, *want;
                size_t n, n_want;
                _cleanup_free_ char *why = NULL;
                assert_int_equal(history_rebuild(root, "web", kept[k], &f, &n, &why), 0);
                gen_files(&gens[kept[k]], &want, &n_want);
                assert_int_equal(n, n_want);
                for (size_t i = 0; i < n; i++) {
                        assert_string_equal(f[i].path, want[i].path);
                        assert_string_equal(f[i].sha256, want[i].sha256);
                        uint8_t *data;
                        size_t len;
                        assert_int_equal(history_read_object(root, "web", f[i].sha256, &data, &len), 0);
                        free(data);
                }
                history_files_free(f, n);
                history_files_free(want, n_want);
        }
        /* the objects are exactly what the kept entries name, either side */
        size_t named = 0;
        char seen[2 * N_PATHS * N_GENS][65];
        for (size_t k = 0; k < n_kept; k++) {
                HistoryEntry e = {};
                _cleanup_free_ char *why = NULL;
                assert_int_equal(history_read(root, "web", kept[k], &e, &why), 0);
                for (size_t i = 0; i < e.n_changes; i++) {
                        const char *s[2] = { e.changes[i].sha256, e.changes[i].was };
                        for (size_t j = 0; j < 2; j++) {
                                bool dup = !*s[j];
                                for (size_t q = 0; q < named && !dup; q++)
                                        dup = streq(seen[q], s[j]);
                                if (!dup)
                                        strcpy(seen[named++], s[j]);
                        }
                }
                history_entry_done(&e);
        }
        /* and the files no kept entry changes (the newest generation's) */
        for (size_t i = 0; i < N_PATHS; i++) {
                const char *s = gens[N_GENS].sha[i];
                bool dup = !s;
                for (size_t q = 0; q < named && !dup; q++)
                        dup = streq(seen[q], s);
                if (!dup)
                        strcpy(seen[named++], s);
        }
        assert_int_equal(count_objects(), named);

        /* an unknown generation, one pruned, and a copy of another generation */
        HistoryFile *f;
        size_t n;
        _cleanup_free_ char *why = NULL;
        assert_int_equal(history_rebuild(root, "web", 1, &f, &n, &why), -ENOENT);
        assert_non_null(strstr(why, "not in its history"));
        free(why);
        why = NULL;
        write_copy_manifest(&gens[N_GENS], N_GENS + 1);
        assert_int_equal(history_rebuild(root, "web", kept[0], &f, &n, &why), -EBADMSG);
        assert_non_null(strstr(why, "history is broken"));
        free(kept);
        for (size_t g = 0; g <= N_GENS; g++)
                for (size_t i = 0; i < N_PATHS; i++)
                        free(gens[g].sha[i]);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_entry_round_trip),
                cmocka_unit_test_setup_teardown(test_random_generations, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
