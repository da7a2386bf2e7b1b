/* SPDX-License-Identifier: MIT */
/* A node's generation history in state_dir: entries, their objects, and
 * a generation rebuilt from the last good copy (see history.h). */
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hashmap.h"
#include "history.h"
#include "json.h"
#include "layout.h"
#include "manifest.h"
#include "nodedir.h"
#include "resource.h"
#include "statedir.h"

#define OBJECTS "objects"

void history_entry_done(HistoryEntry *e) {
        free(e->node);
        for (size_t i = 0; i < e->n_changes; i++)
                free(e->changes[i].path);
        free(e->changes);
        *e = (HistoryEntry) {};
}

void history_files_free(HistoryFile *f, size_t n) {
        for (size_t i = 0; i < n; i++)
                free(f[i].path);
        free(f);
}

/* ---- the entry ---- */

static void put_str(Buf *b, const char *s) {
        manifest_put_string(b, s, strlen(s));
}

void history_entry_format(const HistoryEntry *e, Buf *out) {
        buf_printf(out, "{\"changes\":[");
        for (size_t i = 0; i < e->n_changes; i++) {
                const HistoryChange *c = &e->changes[i];
                buf_printf(out, "%s{\"path\":", i ? "," : "");
                put_str(out, c->path);
                buf_printf(out, ",\"sha256\":\"%s\",\"was\":\"%s\"}", c->sha256, c->was);
        }
        buf_printf(out,
                   "],\"created_usec\":%" PRIu64 ",\"files_digest\":\"%s\",\"format\":%d,\"generation\":%" PRIu64
                   ",\"kind\":\"history\",\"n_files\":%" PRIu64 ",\"node\":",
                   e->created_usec, e->files_digest, HISTORY_FORMAT, e->generation, e->n_files);
        put_str(out, e->node);
        buf_printf(out, ",\"rollback_of\":%" PRIu64 ",\"source_sha256\":\"%s\"}\n", e->rollback_of, e->source_sha256);
}

static bool is_sha(const char *s, bool empty_ok) {
        if (!s)
                return false;
        if (!*s)
                return empty_ok;
        if (strlen(s) != 64)
                return false;
        for (const char *p = s; *p; p++)
                if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
                        return false;
        return true;
}

static bool get_u64(const Json *j, const char *key, uint64_t *ret) {
        int64_t v;
        if (!json_get_int(j, key, &v) || v < 0)
                return false;
        *ret = (uint64_t) v;
        return true;
}

static int entry_from_json(const Json *root, HistoryEntry *e, char **ret_error) {
        uint64_t format;
        const char *kind = json_get_str(root, "kind"), *node = json_get_str(root, "node"),
                   *files = json_get_str(root, "files_digest"), *source = json_get_str(root, "source_sha256");
        const Json *changes = json_get(root, "changes");
        if (root->kind != JSON_OBJECT || !kind || !streq(kind, "history") || !get_u64(root, "format", &format) ||
            format != HISTORY_FORMAT) {
                *ret_error = xstrdup("not a history entry of format 1");
                return -EBADMSG;
        }
        if (!node || !node_id_is_valid(node) || !get_u64(root, "generation", &e->generation) ||
            !get_u64(root, "created_usec", &e->created_usec) || !get_u64(root, "n_files", &e->n_files) ||
            !get_u64(root, "rollback_of", &e->rollback_of) || !is_sha(files, false) || !is_sha(source, true) ||
            !changes || changes->kind != JSON_ARRAY) {
                *ret_error = xstrdup("a field is missing or of the wrong kind");
                return -EBADMSG;
        }
        e->node = xstrdup(node);
        memcpy(e->files_digest, files, 65);
        memcpy(e->source_sha256, source, strlen(source) + 1);
        e->changes = xcalloc(changes->n + 1, sizeof(HistoryChange));
        for (size_t i = 0; i < changes->n; i++) {
                const Json *c = changes->items[i];
                const char *path = json_get_str(c, "path"), *sha = json_get_str(c, "sha256"),
                           *was = json_get_str(c, "was");
                if (c->kind != JSON_OBJECT || !path || !*path || !is_sha(sha, true) || !is_sha(was, true) ||
                    (!*sha && !*was) || (i > 0 && strcmp(e->changes[i - 1].path, path) >= 0)) {
                        *ret_error = xasprintf("changes[%zu]: not a change (path, sha256, was; sorted by path)", i);
                        return -EBADMSG;
                }
                HistoryChange *h = &e->changes[e->n_changes++];
                h->path = xstrdup(path);
                memcpy(h->sha256, sha, strlen(sha) + 1);
                memcpy(h->was, was, strlen(was) + 1);
        }
        return 0;
}

int history_entry_parse(const char *data, size_t len, HistoryEntry *ret, char **ret_error) {
        _cleanup_(json_freep) Json *root = NULL;
        if (json_parse(data, len, ret_error, &root) < 0)
                return -EBADMSG;
        HistoryEntry e = {};
        int r = entry_from_json(root, &e, ret_error);
        if (r < 0) {
                history_entry_done(&e);
                return r;
        }
        Buf canon = {};
        history_entry_format(&e, &canon);
        bool same = canon.len == len && memcmp(canon.data, data, len) == 0;
        buf_free(&canon);
        if (!same) {
                history_entry_done(&e);
                *ret_error = xstrdup("not in canonical form (sorted keys, no whitespace but the final newline, "
                                     "known keys only, integers only)");
                return -EBADMSG;
        }
        *ret = e;
        return 0;
}

void history_digest_line(Sha256 *h, const char *path, const char *sha256) {
        sha256_update(h, path, strlen(path));
        sha256_update(h, " ", 1);
        sha256_update(h, sha256, strlen(sha256));
        sha256_update(h, "\n", 1);
}

void history_sum_update(HistorySum *s, const char *path, const char *sha256, bool add) {
        Sha256 h;
        uint8_t t[SHA256_DIGEST_LENGTH];
        sha256_init(&h);
        sha256_update(&h, path, strlen(path) + 1); /* the NUL too: "path\0sha256" */
        sha256_update(&h, sha256, strlen(sha256));
        SHA256_Final(t, &h.ctx);
        /* s->v and t as big-endian 256-bit numbers: s += t or s -= t */
        unsigned carry = 0;
        for (size_t i = sizeof s->v; i-- > 0;) {
                if (add) {
                        unsigned v = (unsigned) s->v[i] + t[i] + carry;
                        s->v[i] = (uint8_t) v;
                        carry = v >> 8;
                } else {
                        int v = (int) s->v[i] - (int) t[i] - (int) carry;
                        carry = v < 0;
                        s->v[i] = (uint8_t) (v + (v < 0 ? 256 : 0));
                }
        }
}

void history_sum_hex(const HistorySum *s, char ret[65]) {
        static const char hex[] = "0123456789abcdef";
        for (size_t i = 0; i < sizeof s->v; i++) {
                ret[2 * i] = hex[s->v[i] >> 4];
                ret[2 * i + 1] = hex[s->v[i] & 15];
        }
        ret[64] = 0;
}

void history_files_digest(const HistoryFile *f, size_t n, char ret[65]) {
        HistorySum s = {};
        for (size_t i = 0; i < n; i++)
                history_sum_update(&s, f[i].path, f[i].sha256, true);
        history_sum_hex(&s, ret);
}

/* ---- on disk ---- */

char *history_dir(const char *state_dir, const char *node) {
        return xasprintf("%s/" STATEDIR_HISTORY "/%s", state_dir, node);
}

static int cmp_u64(const void *a, const void *b) {
        uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
        return x < y ? -1 : x > y;
}

/* "G.json" with G a decimal without leading zeros */
static bool entry_name(const char *name, uint64_t *ret) {
        if (!endswith(name, ".json") || name[0] < '1' || name[0] > '9')
                return false;
        char *end;
        errno = 0;
        unsigned long long v = strtoull(name, &end, 10);
        if (errno || !streq(end, ".json"))
                return false;
        *ret = v;
        return true;
}

int history_list(const char *state_dir, const char *node, uint64_t **ret, size_t *ret_n) {
        _cleanup_free_ char *dir = history_dir(state_dir, node);
        _cleanup_(closedirp) DIR *d = NULL;
        *ret = NULL;
        *ret_n = 0;
        int r = opendir_at(AT_FDCWD, dir, O_NOFOLLOW, &d);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return r;
        uint64_t *g = NULL;
        size_t n = 0;
        struct dirent *de;
        while ((de = readdir(d))) {
                uint64_t v;
                if (!entry_name(de->d_name, &v))
                        continue;
                g = xrealloc(g, (n + 1) * sizeof(uint64_t));
                g[n++] = v;
        }
        if (n)
                qsort(g, n, sizeof(uint64_t), cmp_u64);
        *ret = g;
        *ret_n = n;
        return 0;
}

int history_read(const char *state_dir, const char *node, uint64_t gen, HistoryEntry *ret, char **ret_error) {
        _cleanup_free_ char *path = xasprintf("%s/" STATEDIR_HISTORY "/%s/%" PRIu64 ".json", state_dir, node, gen);
        _cleanup_close_ int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
        if (fd < 0) {
                int r = -errno;
                *ret_error = xasprintf("%s: %s", path, strerror(-r));
                return r;
        }
        _cleanup_free_ uint8_t *data = NULL;
        size_t len;
        int r = read_regular_fd(fd, HISTORY_ENTRY_MAX, &data, &len);
        if (r < 0) {
                *ret_error = xasprintf("%s: %s", path, read_error_string(r));
                return r;
        }
        _cleanup_free_ char *why = NULL;
        HistoryEntry e = {};
        r = history_entry_parse((const char *) data, len, &e, &why);
        if (r < 0) {
                *ret_error = xasprintf("%s: %s", path, why);
                return r;
        }
        if (e.generation != gen || !streq(e.node, node)) {
                *ret_error = xasprintf("%s: names generation %" PRIu64 " of node %s", path, e.generation, e.node);
                history_entry_done(&e);
                return -EBADMSG;
        }
        *ret = e;
        return 0;
}

static int mkdir_one(const char *path) {
        if (mkdir(path, 0750) < 0 && errno != EEXIST)
                return -errno;
        return 0;
}

static int record_dirs(const char *state_dir, const char *node) {
        _cleanup_free_ char *top = statedir_path(state_dir, STATEDIR_HISTORY);
        _cleanup_free_ char *dir = history_dir(state_dir, node);
        _cleanup_free_ char *objects = xasprintf("%s/" OBJECTS, dir);
        int r = mkdir_one(top);
        if (r >= 0)
                r = mkdir_one(dir);
        return r < 0 ? r : mkdir_one(objects);
}

/* The objects and the entry; -ENOENT when a directory is missing (or an
 * object is not in the store). Paths, not directory fds: a generation of
 * a thousand nodes opens nothing more. */
static int record_once(const char *state_dir, const HistoryEntry *e, const Buf *text) {
        for (size_t i = 0; i < e->n_changes; i++) {
                const char *sha = e->changes[i].sha256;
                if (!*sha)
                        continue;
                _cleanup_free_ char *from = xasprintf("%s/" STATEDIR_NODES "/.store/%s", state_dir, sha);
                _cleanup_free_ char *to = xasprintf("%s/" STATEDIR_HISTORY "/%s/" OBJECTS "/%s", state_dir, e->node, sha);
                if (linkat(AT_FDCWD, from, AT_FDCWD, to, 0) < 0 && errno != EEXIST)
                        return -errno;
        }
        _cleanup_free_ char *path = xasprintf("%s/" STATEDIR_HISTORY "/%s/%" PRIu64 ".json", state_dir, e->node,
                                              e->generation);
        return write_file_atomic(path, text->data, text->len, 0640);
}

int history_record(const char *state_dir, const HistoryEntry *e) {
        Buf b = {};
        history_entry_format(e, &b);
        int r = record_once(state_dir, e, &b);
        if (r == -ENOENT) {
                /* the node's first entry: its directories made, once */
                r = record_dirs(state_dir, e->node);
                if (r >= 0)
                        r = record_once(state_dir, e, &b);
        }
        buf_free(&b);
        return r;
}

static void name_shas(Hashmap *h, const HistoryEntry *e) {
        for (size_t i = 0; i < e->n_changes; i++) {
                const HistoryChange *c = &e->changes[i];
                if (*c->sha256)
                        hashmap_put(h, c->sha256, 64, (void *) c);
                if (*c->was)
                        hashmap_put(h, c->was, 64, (void *) c);
        }
}

static void known_free(HistoryEntry **known, size_t from, size_t to) {
        for (size_t i = from; known && i < to; i++)
                if (known[i]) {
                        history_entry_done(known[i]);
                        free(known[i]);
                        known[i] = NULL;
                }
}

int history_prune(const char *state_dir, const char *node, unsigned keep, uint64_t *gens, size_t *n,
                  const HistoryPrune *how) {
        static const HistoryPrune none = {};
        how = how ?: &none;
        if (keep == 0) {
                int r = history_remove(state_dir, node);
                size_t dropped = *n;
                known_free(how->known, 0, *n);
                *n = 0;
                return r < 0 ? r : (int) dropped;
        }
        if (*n <= keep)
                return 0;
        size_t all = *n, n_drop = *n - keep;
        _cleanup_free_ char *dir = history_dir(state_dir, node);
        /* what the kept entries name: from memory, else read */
        Hashmap kept = {};
        HistoryEntry *read_back = xcalloc(all + 1, sizeof(HistoryEntry));
        const HistoryEntry **entries = xcalloc(all + 1, sizeof(HistoryEntry *));
        int r = 0;
        for (size_t i = 0; i < all; i++) {
                entries[i] = how->known && how->known[i] ? how->known[i] : &read_back[i];
                if (entries[i] == &read_back[i]) {
                        _cleanup_free_ char *why = NULL;
                        int k = history_read(state_dir, node, gens[i], &read_back[i], &why);
                        if (k < 0 && k != -ENOENT && i >= n_drop) {
                                /* what it names is unknown: nothing is unlinked */
                                r = k;
                                goto out;
                        }
                }
                if (i >= n_drop)
                        name_shas(&kept, entries[i]);
        }
        for (size_t i = 0; i < n_drop; i++) {
                _cleanup_free_ char *path = xasprintf("%s/%" PRIu64 ".json", dir, gens[i]);
                if (unlink(path) < 0 && errno != ENOENT) {
                        r = -errno;
                        goto out;
                }
        }
        for (size_t i = 0; i < n_drop; i++)
                for (size_t k = 0; k < entries[i]->n_changes; k++) {
                        const HistoryChange *c = &entries[i]->changes[k];
                        const char *shas[2] = { c->sha256, c->was };
                        for (size_t s = 0; s < 2; s++) {
                                if (!*shas[s] || hashmap_get(&kept, shas[s], 64) ||
                                    (how->live && how->live(how->userdata, c->path, shas[s])))
                                        continue;
                                /* (named twice by what is dropped: unlinked once) */
                                hashmap_put(&kept, shas[s], 64, (void *) c);
                                _cleanup_free_ char *obj = xasprintf("%s/" OBJECTS "/%s", dir, shas[s]);
                                struct stat o;
                                if (lstat(obj, &o) < 0)
                                        continue;
                                if (unlink(obj) < 0) {
                                        if (errno != ENOENT && r == 0)
                                                r = -errno;
                                } else if (how->unlinked)
                                        how->unlinked(how->userdata, o.st_ino);
                        }
                }
        hashmap_free(&kept); /* (its keys point into the entries) */
        known_free(how->known, 0, n_drop);
        memmove(gens, gens + n_drop, keep * sizeof(uint64_t));
        if (how->known)
                memmove(how->known, how->known + n_drop, keep * sizeof(HistoryEntry *));
        *n = keep;
        if (r == 0)
                r = (int) n_drop;
out:
        hashmap_free(&kept);
        for (size_t i = 0; i < all; i++)
                history_entry_done(&read_back[i]);
        free(read_back);
        free(entries);
        return r;
}

int history_remove(const char *state_dir, const char *node) {
        _cleanup_free_ char *top = statedir_path(state_dir, STATEDIR_HISTORY);
        return statedir_remove_entry(top, node);
}

/* ---- a generation rebuilt ---- */

typedef struct FileSet {
        HistoryFile *f;
        size_t n;
} FileSet;

static size_t fileset_lower(const FileSet *s, const char *path) {
        size_t lo = 0, hi = s->n;
        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                if (strcmp(s->f[mid].path, path) < 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return lo;
}

/* path is to have sha256 (""): set, added or removed. */
static void fileset_set(FileSet *s, const char *path, const char *sha256) {
        size_t i = fileset_lower(s, path);
        bool there = i < s->n && streq(s->f[i].path, path);
        if (!*sha256) {
                if (there) {
                        free(s->f[i].path);
                        memmove(s->f + i, s->f + i + 1, (s->n - i - 1) * sizeof(HistoryFile));
                        s->n--;
                }
                return;
        }
        if (!there) {
                s->f = xrealloc(s->f, (s->n + 1) * sizeof(HistoryFile));
                memmove(s->f + i + 1, s->f + i, (s->n - i) * sizeof(HistoryFile));
                s->f[i].path = xstrdup(path);
                s->n++;
        }
        memcpy(s->f[i].sha256, sha256, 65);
}

static int copy_files(const char *state_dir, const char *node, FileSet *ret, uint64_t *ret_generation, char **ret_error) {
        _cleanup_free_ char *path = xasprintf("%s/" STATEDIR_NODES "/%s/" MANIFEST_NAME, state_dir, node);
        _cleanup_free_ char *data = NULL, *why = NULL;
        size_t len;
        int r = read_file_bounded(path, MANIFEST_MAX, &data, &len);
        if (r < 0) {
                *ret_error = xasprintf("its last good copy's MANIFEST %s cannot be read: %s", path, read_error_string(r));
                return r;
        }
        Manifest m = {};
        r = manifest_parse(data, len, &m, &why);
        if (r < 0) {
                *ret_error = xasprintf("its last good copy's MANIFEST %s does not parse: %s", path, why);
                return r;
        }
        FileSet s = { xcalloc(m.n_files + 1, sizeof(HistoryFile)), m.n_files };
        for (size_t i = 0; i < m.n_files; i++) {
                s.f[i].path = TAKE_PTR(m.files[i].path);
                memcpy(s.f[i].sha256, m.files[i].sha256, 65);
        }
        *ret_generation = m.generation;
        manifest_done(&m);
        *ret = s;
        return 0;
}

int history_rebuild(const char *state_dir, const char *node, uint64_t gen, HistoryFile **ret, size_t *ret_n,
                    char **ret_error) {
        _cleanup_free_ uint64_t *gens = NULL;
        _cleanup_free_ char *why = NULL;
        size_t n;
        int r = history_list(state_dir, node, &gens, &n);
        if (r < 0) {
                *ret_error = xasprintf("the history of %s cannot be listed: %s", node, strerror(-r));
                return r;
        }
        size_t at = n;
        for (size_t i = 0; i < n; i++)
                if (gens[i] == gen)
                        at = i;
        if (at == n) {
                if (n == 0)
                        *ret_error = xasprintf("generation %" PRIu64 " of %s is not in its history: it has none", gen,
                                               node);
                else
                        *ret_error = xasprintf("generation %" PRIu64 " of %s is not in its history (it keeps %zu: "
                                               "%" PRIu64 " to %" PRIu64 "; see fsxds history %s)",
                                               gen, node, n, gens[0], gens[n - 1], node);
                return -ENOENT;
        }
        FileSet s = {};
        uint64_t copy_gen;
        r = copy_files(state_dir, node, &s, &copy_gen, &why);
        if (r < 0)
                goto fail;
        if (copy_gen != gens[n - 1]) {
                why = xasprintf("its last good copy is of generation %" PRIu64 ", its newest history entry of %" PRIu64
                                ": the history is broken after that point", copy_gen, gens[n - 1]);
                r = -EBADMSG;
                goto fail;
        }
        for (size_t i = n; i-- > at;) {
                HistoryEntry e = {};
                _cleanup_free_ char *ewhy = NULL;
                r = history_read(state_dir, node, gens[i], &e, &ewhy);
                if (r < 0) {
                        why = xasprintf("its entry is unreadable: %s", ewhy);
                        goto fail;
                }
                if (i == at) {
                        char digest[65];
                        history_files_digest(s.f, s.n, digest);
                        if (!streq(digest, e.files_digest) || s.n != e.n_files) {
                                why = i == n - 1 ? xasprintf("its last good copy does not hold the files its entry "
                                                             "lists (another file set, %zu files, entry %" PRIu64 ")",
                                                             s.n, e.n_files)
                                                 : xasprintf("undoing the newer entries gives another file set than "
                                                             "it had (%zu files, entry %" PRIu64 "): the history is "
                                                             "broken", s.n, e.n_files);
                                history_entry_done(&e);
                                r = -EBADMSG;
                                goto fail;
                        }
                } else
                        for (size_t k = 0; k < e.n_changes; k++)
                                fileset_set(&s, e.changes[k].path, e.changes[k].was);
                history_entry_done(&e);
        }
        *ret = s.f;
        *ret_n = s.n;
        return 0;
fail:
        history_files_free(s.f, s.n);
        *ret_error = xasprintf("generation %" PRIu64 " of %s cannot be rebuilt: %s", gen, node, why);
        return r;
}

int history_read_object(const char *state_dir, const char *node, const char *sha256, uint8_t **ret, size_t *ret_len) {
        _cleanup_free_ char *a = xasprintf("%s/" STATEDIR_HISTORY "/%s/" OBJECTS "/%s", state_dir, node, sha256);
        _cleanup_free_ char *b = xasprintf("%s/" STATEDIR_NODES "/.store/%s", state_dir, sha256);
        const char *paths[2] = { a, b };
        int r = -ENOENT;
        for (size_t i = 0; i < 2 && r == -ENOENT; i++) {
                _cleanup_close_ int fd = open(paths[i], O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
                if (fd < 0) {
                        r = errno == ENOENT ? -ENOENT : -errno;
                        continue;
                }
                uint8_t *data = NULL;
                size_t len;
                r = read_regular_fd(fd, 1u << 30, &data, &len);
                if (r < 0)
                        return r;
                char sha[65];
                sha256_hex(data, len, sha);
                if (!streq(sha, sha256)) {
                        free(data);
                        r = -EBADMSG;
                        continue; /* the other one may be whole */
                }
                *ret = data;
                *ret_len = len;
                return 0;
        }
        return r;
}

static int cmp_node_file(const void *a, const void *b) {
        return strcmp(((const NodeFile *) a)->path, ((const NodeFile *) b)->path);
}

int history_load_output(const char *state_dir, const char *node, uint64_t gen, NodeOutput *ret, char **ret_error) {
        HistoryFile *f = NULL;
        size_t n = 0;
        int r = history_rebuild(state_dir, node, gen, &f, &n, ret_error);
        if (r < 0)
                return r;
        NodeOutput o = { xcalloc(n + 1, sizeof(NodeFile)), 0 };
        for (size_t i = 0; i < n; i++) {
                const char *slash = strchr(f[i].path, '/');
                _cleanup_free_ char *type = slash ? xstrndup(f[i].path, (size_t) (slash - f[i].path)) : NULL;
                ResourceType t = type ? resource_type_from_dir(type) : _RESOURCE_TYPE_INVALID;
                uint8_t *data = NULL;
                size_t len = 0;
                r = t < 0 || strchr(slash + 1, '/') || !nodedir_is_pb_name(slash + 1)
                            ? -EBADMSG
                            : history_read_object(state_dir, node, f[i].sha256, &data, &len);
                if (r >= 0 && !statedir_is_response(data, len)) {
                        free(data);
                        r = -EBADMSG;
                }
                if (r < 0) {
                        *ret_error = xasprintf("generation %" PRIu64 " of %s cannot be rebuilt: %s's object %.12s… is %s",
                                               gen, node, f[i].path, f[i].sha256,
                                               r == -ENOENT    ? "missing"
                                               : r == -EBADMSG ? "not what its digest says (or no DiscoveryResponse)"
                                                               : strerror(-r));
                        node_output_done(&o);
                        history_files_free(f, n);
                        return r;
                }
                ResponseInfo info;
                NodeFile nf = { .path = xstrdup(f[i].path), .len = len, .type = t,
                                .n_resources = response_walk(data, len, &info, NULL, NULL), .data = data };
                memcpy(nf.sha256, f[i].sha256, 65);
                if (info.version_info && info.version_info_len < sizeof nf.version) {
                        memcpy(nf.version, info.version_info, info.version_info_len);
                        nf.version[info.version_info_len] = 0;
                }
                o.files[o.n++] = nf;
        }
        qsort(o.files, o.n, sizeof(NodeFile), cmp_node_file);
        history_files_free(f, n);
        *ret = o;
        return 0;
}
