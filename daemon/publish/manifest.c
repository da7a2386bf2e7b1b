/* SPDX-License-Identifier: MIT */
/* MANIFEST: canonical JSON of what a node directory or a source tree
 * holds; made from the files, parsed back, compared with a directory. */
#include <assert.h>
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sys/stat.h>
#include <time.h>

#include "build.h"
#include "hashmap.h"
#include "json.h"
#include "manifest.h"
#include "nodedir.h"
#include "resource.h"
#include "sha256.h"

/* what one published file may weigh before it is not worth describing */
#define DESCRIBE_FILE_MAX (1u << 30)

static const char *const manifest_kind_table[_MANIFEST_KIND_MAX] = {
        [MANIFEST_KIND_NODE] = "node",
        [MANIFEST_KIND_SOURCE] = "source",
};

DEFINE_STRING_TABLE_LOOKUP(manifest_kind, ManifestKind);

static void manifest_file_done(ManifestFile *f) {
        free(f->path);
        free(f->type_url);
        free(f->version_info);
        free(f->names_json);
        *f = (ManifestFile) {};
}

void manifest_done(Manifest *m) {
        free(m->node);
        free(m->schema_sha256);
        for (size_t i = 0; i < m->n_links; i++) {
                free(m->links[i].type);
                free(m->links[i].target);
        }
        free(m->links);
        for (size_t i = 0; i < m->n_files; i++)
                manifest_file_done(&m->files[i]);
        free(m->files);
        *m = (Manifest) {};
}

/* ---- writing ---- */

/* A JSON string of len bytes: '"' and '\' escaped, \n and \t short, other
 * control bytes (NUL too) as \u00XX, everything else as it is. */
void manifest_put_string(Buf *b, const char *s, size_t len) {
        buf_putc(b, '"');
        size_t run = 0; /* bytes from here on that need no escape, appended at once */
        for (size_t i = 0; i < len; i++) {
                unsigned char c = (unsigned char) s[i];
                if (c != '"' && c != '\\' && c >= 0x20) {
                        run++;
                        continue;
                }
                buf_append(b, s + i - run, run);
                run = 0;
                if (c == '"' || c == '\\') {
                        buf_putc(b, '\\');
                        buf_putc(b, c);
                } else if (c == '\n')
                        buf_append(b, "\\n", 2);
                else if (c == '\t')
                        buf_append(b, "\\t", 2);
                else
                        buf_printf(b, "\\u%04x", c);
        }
        buf_append(b, s + len - run, run);
        buf_putc(b, '"');
}

static void put_key(Buf *b, bool first, const char *key) {
        if (!first)
                buf_putc(b, ',');
        manifest_put_string(b, key, strlen(key));
        buf_putc(b, ':');
}

static void put_key_string(Buf *b, bool first, const char *key, const char *value) {
        put_key(b, first, key);
        manifest_put_string(b, value ? value : "", value ? strlen(value) : 0);
}

static void put_key_uint(Buf *b, bool first, const char *key, uint64_t v) {
        put_key(b, first, key);
        buf_printf(b, "%" PRIu64, v);
}

void manifest_put_file(Buf *b, const ManifestFile *f, bool node) {
        buf_putc(b, '{');
        if (node) {
                put_key(b, true, "names");
                const char *names = f->names_json ? f->names_json : "[]";
                buf_append(b, names, strlen(names));
        }
        put_key_string(b, !node, "path", f->path);
        put_key_string(b, false, "sha256", f->sha256);
        put_key_uint(b, false, "size", f->size);
        if (node) {
                put_key_string(b, false, "type_url", f->type_url);
                put_key_string(b, false, "version_info", f->version_info);
        }
        buf_putc(b, '}');
}

void manifest_format(const Manifest *m, Buf *b) {
        bool node = m->kind == MANIFEST_KIND_NODE;
        buf_putc(b, '{');
        put_key_uint(b, true, "created_usec", m->created_usec);
        if (node) {
                put_key(b, false, "data_links");
                buf_putc(b, '{');
                for (size_t i = 0; i < m->n_links; i++)
                        put_key_string(b, i == 0, m->links[i].type, m->links[i].target);
                buf_putc(b, '}');
        }
        put_key(b, false, "files");
        buf_putc(b, '[');
        for (size_t i = 0; i < m->n_files; i++) {
                if (i)
                        buf_putc(b, ',');
                manifest_put_file(b, &m->files[i], node);
        }
        buf_putc(b, ']');
        put_key_uint(b, false, "format", MANIFEST_FORMAT);
        if (node)
                put_key_uint(b, false, "generation", m->generation);
        put_key_string(b, false, "kind", manifest_kind_to_string(m->kind));
        if (node) {
                put_key_string(b, false, "node", m->node);
                put_key_string(b, false, "schema_sha256", m->schema_sha256);
        }
        buf_append(b, "}\n", 2);
}

/* ---- reading ---- */

static bool is_sha256_hex(const char *s) {
        if (!s || strlen(s) != 64)
                return false;
        for (; *s; s++)
                if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
                        return false;
        return true;
}

/* An unsigned integer member (the manifest has no other numbers). */
static bool get_uint(const Json *j, const char *key, uint64_t *ret) {
        int64_t v;
        if (!json_get_int(j, key, &v) || v < 0)
                return false;
        *ret = (uint64_t) v;
        return true;
}

static char *dup_str(const Json *j, const char *key) {
        const char *s = json_get_str(j, key);
        return s ? xstrdup(s) : NULL;
}

static int manifest_from_json(const Json *root, Manifest *m, char **ret_error) {
        uint64_t format = 0;
        if (root->kind != JSON_OBJECT || !get_uint(root, "format", &format) || format != MANIFEST_FORMAT) {
                *ret_error = xasprintf("not a manifest of format %d", MANIFEST_FORMAT);
                return -EBADMSG;
        }
        const char *kind = json_get_str(root, "kind");
        m->kind = kind ? manifest_kind_from_string(kind) : _MANIFEST_KIND_INVALID;
        if (m->kind < 0) {
                *ret_error = xstrdup("\"kind\" is neither \"node\" nor \"source\"");
                return -EBADMSG;
        }
        bool node = m->kind == MANIFEST_KIND_NODE;
        const Json *files = json_get(root, "files");
        if (!get_uint(root, "created_usec", &m->created_usec) || !files || files->kind != JSON_ARRAY) {
                *ret_error = xstrdup("\"created_usec\" or \"files\" is missing");
                return -EBADMSG;
        }
        if (node) {
                const Json *links = json_get(root, "data_links");
                m->node = dup_str(root, "node");
                m->schema_sha256 = dup_str(root, "schema_sha256");
                if (!get_uint(root, "generation", &m->generation) || !links || links->kind != JSON_OBJECT || !m->node ||
                    !m->schema_sha256) {
                        *ret_error = xstrdup("\"generation\", \"data_links\", \"node\" or \"schema_sha256\" is missing");
                        return -EBADMSG;
                }
                m->links = xcalloc(links->n + 1, sizeof(ManifestLink));
                for (size_t i = 0; i < links->n; i++, m->n_links++) {
                        if (links->items[i]->kind != JSON_STRING) {
                                *ret_error = xstrdup("\"data_links\" holds a value that is not a string");
                                return -EBADMSG;
                        }
                        m->links[i].type = xstrdup(links->keys[i]);
                        m->links[i].target = xstrdup(links->items[i]->str);
                }
        }
        m->files = xcalloc(files->n + 1, sizeof(ManifestFile));
        for (size_t i = 0; i < files->n; i++) {
                const Json *o = files->items[i];
                ManifestFile *f = &m->files[m->n_files++]; /* counted now: manifest_done() frees it on errors */
                const char *sha = json_get_str(o, "sha256");
                f->path = dup_str(o, "path");
                if (!get_uint(o, "size", &f->size) || !f->path || !is_sha256_hex(sha)) {
                        *ret_error = xasprintf("files[%zu]: \"path\", \"size\" or \"sha256\" is missing or malformed", i);
                        return -EBADMSG;
                }
                memcpy(f->sha256, sha, 65);
                if (!node)
                        continue;
                const Json *names = json_get(o, "names");
                f->type_url = dup_str(o, "type_url");
                f->version_info = dup_str(o, "version_info");
                if (!names || names->kind != JSON_ARRAY || !f->type_url || !f->version_info) {
                        *ret_error = xasprintf("files[%zu] (%s): \"names\", \"type_url\" or \"version_info\" is missing", i,
                                               f->path);
                        return -EBADMSG;
                }
                Buf nb = {};
                buf_putc(&nb, '[');
                for (size_t k = 0; k < names->n; k++) {
                        if (names->items[k]->kind != JSON_STRING) {
                                buf_free(&nb);
                                *ret_error = xasprintf("files[%zu] (%s): a name that is not a string", i, f->path);
                                return -EBADMSG;
                        }
                        if (k)
                                buf_putc(&nb, ',');
                        manifest_put_string(&nb, names->items[k]->str, strlen(names->items[k]->str));
                }
                buf_putc(&nb, ']');
                f->names_json = buf_steal_str(&nb);
        }
        return 0;
}

int manifest_parse(const char *data, size_t len, Manifest *ret, char **ret_error) {
        _cleanup_(json_freep) Json *root = NULL;
        if (json_parse(data, len, ret_error, &root) < 0)
                return -EBADMSG;
        Manifest m = {};
        int r = manifest_from_json(root, &m, ret_error);
        if (r < 0) {
                manifest_done(&m);
                return r;
        }
        Buf canon = {};
        manifest_format(&m, &canon);
        bool same = canon.len == len && memcmp(canon.data, data, len) == 0;
        buf_free(&canon);
        if (!same) {
                manifest_done(&m);
                *ret_error = xstrdup("not in canonical form (sorted keys, no whitespace but the final newline, "
                                     "known keys only, integers only)");
                return -EBADMSG;
        }
        for (size_t i = 1; i < m.n_files; i++)
                if (strcmp(m.files[i - 1].path, m.files[i].path) >= 0) {
                        manifest_done(&m);
                        *ret_error = xstrdup("files are not sorted by path, or a path is listed twice");
                        return -EBADMSG;
                }
        *ret = m;
        return 0;
}

/* ---- describing files ---- */

/* Not ctime: every hard link of a store object into a node directory
 * changes it. A file edited in place changes its mtime (one edited with
 * its mtime put back is found when the cache is empty: at start). */
typedef struct DescribeKey {
        ino_t ino;
        off_t size;
        struct timespec mtime;
} DescribeKey;

typedef struct Description {
        DescribeKey key;
        char sha256[65];
        char *type_url, *version_info, *names_json;
} Description;

struct DescribeCache {
        Hashmap map; /* DescribeKey → Description */
        Hashmap by_sha; /* sha256 hex → Description: the descriptions of a build's files */
        Description **items;
        size_t n;
        size_t bytes; /* of the descriptions' strings */
};

/* What the cache may hold; past it, it starts again. A description larger
 * than a 128th of it (a node's own cds.pb of 10,000 clusters has 200 kB of
 * names) is not kept. */
#define DESCRIBE_CACHE_BYTES (8u << 20)

DescribeCache *describe_cache_new(void) {
        return xcalloc(1, sizeof(DescribeCache));
}

static void description_free(Description *d) {
        free(d->type_url);
        free(d->version_info);
        free(d->names_json);
        free(d);
}

static void describe_cache_clear(DescribeCache *c) {
        for (size_t i = 0; i < c->n; i++)
                description_free(c->items[i]);
        free(c->items);
        hashmap_free(&c->map);
        hashmap_free(&c->by_sha);
        *c = (DescribeCache) {};
}

DescribeCache *describe_cache_free(DescribeCache *c) {
        if (!c)
                return NULL;
        describe_cache_clear(c);
        free(c);
        return NULL;
}

typedef struct NameList {
        Buf json;
        size_t n;
} NameList;

static void add_name(void *userdata, const char *name, size_t len) {
        NameList *l = userdata;
        if (l->n++)
                buf_putc(&l->json, ',');
        manifest_put_string(&l->json, name, len);
}

static void describe_response(const uint8_t *data, size_t len, Description *d) {
        NameList names = {};
        buf_putc(&names.json, '[');
        ResponseInfo info;
        response_walk(data, len, &info, add_name, &names);
        buf_putc(&names.json, ']');
        d->names_json = xstrndup((const char *) names.json.data, names.json.len); /* not the Buf's slack */
        buf_free(&names.json);
        d->version_info = xstrndup(info.version_info ? info.version_info : "", info.version_info_len);
        d->type_url = xstrndup(info.type_url ? info.type_url : "", info.type_url_len);
}

static int describe_fd(int fd, Description **ret) {
        struct stat st;
        if (fstat(fd, &st) < 0)
                return -errno;
        _cleanup_free_ uint8_t *data = NULL;
        size_t got;
        int r = read_regular_fd(fd, DESCRIBE_FILE_MAX, &data, &got);
        if (r < 0)
                return r;
        Description *d = xcalloc(1, sizeof(Description));
        d->key = (DescribeKey) { st.st_ino, (off_t) got, st.st_mtim };
        sha256_hex(data, got, d->sha256);
        describe_response(data, got, d);
        *ret = d;
        return 0;
}

/* Keeps d in the cache (under its sha256 too) when it is worth keeping;
 * else hands it to *ret_owned. */
static void cache_keep(DescribeCache *c, Description *d, bool by_key, Description **ret_owned) {
        size_t bytes = sizeof(Description) + strlen(d->type_url) + strlen(d->version_info) + strlen(d->names_json);
        if (!c || bytes > DESCRIBE_CACHE_BYTES / 128) {
                *ret_owned = d;
                return;
        }
        if (c->bytes + bytes > DESCRIBE_CACHE_BYTES)
                describe_cache_clear(c);
        c->items = xrealloc(c->items, (c->n + 1) * sizeof(Description *));
        c->items[c->n++] = d;
        c->bytes += bytes;
        if (by_key)
                hashmap_put(&c->map, (const char *) &d->key, sizeof d->key, d);
        hashmap_put(&c->by_sha, d->sha256, 64, d);
}

/* The description of name in dir_fd, whose stat (following symlinks) is
 * st: from the cache when its inode, size and mtime are known, without
 * opening it (store objects never change in place). */
static int describe(DescribeCache *c, int dir_fd, const char *name, const struct stat *st, const Description **ret,
                    Description **ret_owned) {
        DescribeKey key = { st->st_ino, st->st_size, st->st_mtim };
        if (c) {
                Description *d = hashmap_get(&c->map, (const char *) &key, sizeof key);
                if (d) {
                        *ret = d;
                        return 0;
                }
        }
        _cleanup_close_ int fd = openat(dir_fd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0)
                return -errno;
        Description *d = NULL;
        int r = describe_fd(fd, &d);
        if (r < 0)
                return r;
        /* a node's own cds.pb with thousands of names is not worth keeping */
        if (c && memcmp(&d->key, &key, sizeof key) == 0)
                cache_keep(c, d, true, ret_owned);
        else
                *ret_owned = d;
        *ret = d;
        return 0;
}

int manifest_describe_built(DescribeCache *c, int store_fd, const char *path, const char sha256[65],
                            const uint8_t *data, size_t len, ManifestFile *ret) {
        assert(path);
        assert(sha256);
        assert(ret);
        const Description *desc = c ? hashmap_get(&c->by_sha, sha256, 64) : NULL;
        _cleanup_free_ uint8_t *read_back = NULL;
        Description *owned = NULL;
        if (!desc) {
                if (!data) {
                        /* the object of the build's digest, checked against it */
                        _cleanup_close_ int fd = openat(store_fd, sha256, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK | O_NOFOLLOW);
                        if (fd < 0)
                                return -errno;
                        int r = read_regular_fd(fd, DESCRIBE_FILE_MAX, &read_back, &len);
                        if (r < 0)
                                return r;
                        char hex[65];
                        sha256_hex(read_back, len, hex);
                        if (!streq(hex, sha256))
                                return -EBADMSG;
                        data = read_back;
                }
                Description *d = xcalloc(1, sizeof(Description));
                d->key.size = (off_t) len;
                memcpy(d->sha256, sha256, 64);
                describe_response(data, len, d);
                cache_keep(c, d, false, &owned);
                desc = d;
        }
        *ret = (ManifestFile) {
                .path = xstrdup(path),
                .size = (uint64_t) desc->key.size,
                .type_url = xstrdup(desc->type_url),
                .version_info = xstrdup(desc->version_info),
                .names_json = xstrdup(desc->names_json),
        };
        memcpy(ret->sha256, desc->sha256, 65);
        if (owned)
                description_free(owned);
        return 0;
}

/* ---- scanning ---- */

static void report(ManifestReport f, void *userdata, const char *path, const char *fmt, ...) _printf_(4, 5);
static void report(ManifestReport f, void *userdata, const char *path, const char *fmt, ...) {
        if (!f)
                return;
        va_list ap;
        va_start(ap, fmt);
        _cleanup_free_ char *msg = xvasprintf(fmt, ap);
        va_end(ap);
        f(userdata, path, msg);
}

static int cmp_file(const void *a, const void *b) {
        return strcmp(((const ManifestFile *) a)->path, ((const ManifestFile *) b)->path);
}

static int cmp_link(const void *a, const void *b) {
        return strcmp(((const ManifestLink *) a)->type, ((const ManifestLink *) b)->type);
}

static void add_file(Manifest *m, size_t *cap, ManifestFile f) {
        if (m->n_files >= *cap) {
                *cap = *cap ? *cap * 2 : 16;
                m->files = xrealloc(m->files, *cap * sizeof(ManifestFile));
        }
        m->files[m->n_files++] = f;
}

static void scan_type_dir(int type_fd, const char *type, DescribeCache *cache, ManifestReport rep, void *userdata,
                          Manifest *m, size_t *cap) {
        _cleanup_free_ char *data = NULL;
        (void) nodedir_read_link(type_fd, "..data", &data);
        if (data) {
                m->links = xrealloc(m->links, (m->n_links + 1) * sizeof(ManifestLink));
                m->links[m->n_links++] = (ManifestLink) { xstrdup(type), xstrdup(data) };
        }
        int dfd = dup(type_fd);
        _cleanup_closedir_ DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
        if (!d) {
                if (dfd >= 0)
                        close(dfd);
                report(rep, userdata, type, "cannot list: %s", strerror(errno));
                return;
        }
        struct dirent *de;
        while ((de = readdir(d))) {
                if (!nodedir_is_pb_name(de->d_name))
                        continue;
                _cleanup_free_ char *path = xasprintf("%s/%s", type, de->d_name);
                struct stat st;
                if (fstatat(type_fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                        continue; /* gone while listing */
                if (S_ISLNK(st.st_mode)) {
                        _cleanup_free_ char *target = NULL;
                        (void) nodedir_read_link(type_fd, de->d_name, &target);
                        _cleanup_free_ char *expected = nodedir_data_target(de->d_name);
                        if (!target || !streq(target, expected)) {
                                report(rep, userdata, path, "is a symlink to %s, not to %s", target ? target : "?",
                                       expected);
                                continue;
                        }
                        if (fstatat(type_fd, de->d_name, &st, 0) < 0) {
                                report(rep, userdata, path, "cannot read: %s", strerror(errno));
                                continue;
                        }
                }
                if (!S_ISREG(st.st_mode)) {
                        report(rep, userdata, path, "is not a regular file");
                        continue;
                }
                const Description *desc = NULL;
                Description *owned = NULL;
                int r = describe(cache, type_fd, de->d_name, &st, &desc, &owned);
                if (r < 0) {
                        report(rep, userdata, path, "cannot read: %s", strerror(-r));
                        continue;
                }
                ManifestFile f = {
                        .path = TAKE_PTR(path),
                        .size = (uint64_t) desc->key.size,
                        .type_url = xstrdup(desc->type_url),
                        .version_info = xstrdup(desc->version_info),
                        .names_json = xstrdup(desc->names_json),
                };
                memcpy(f.sha256, desc->sha256, 65);
                f.mode = (uint32_t) (st.st_mode & 07777);
                add_file(m, cap, f);
                if (owned)
                        description_free(owned);
        }
}

int manifest_scan_node(int node_fd, DescribeCache *cache, ManifestReport rep, void *userdata, Manifest *ret) {
        Manifest m = { .kind = MANIFEST_KIND_NODE };
        size_t cap = 0;
        for (ResourceType t = 0; t < _RESOURCE_TYPE_MAX; t++) {
                const char *type = resource_type_dir(t);
                if (!type)
                        continue;
                _cleanup_close_ int fd = openat(node_fd, type, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (fd < 0) {
                        if (errno != ENOENT)
                                report(rep, userdata, type, "cannot open: %s", strerror(errno));
                        continue;
                }
                scan_type_dir(fd, type, cache, rep, userdata, &m, &cap);
        }
        if (m.n_files > 1)
                qsort(m.files, m.n_files, sizeof(ManifestFile), cmp_file);
        if (m.n_links > 1)
                qsort(m.links, m.n_links, sizeof(ManifestLink), cmp_link);
        *ret = m;
        return 0;
}

int manifest_scan_sources(const char *dir, ManifestReport rep, void *userdata, Manifest *ret) {
        char **paths = NULL;
        int r = build_list_sources(dir, &paths);
        if (r < 0)
                return r;
        Manifest m = { .kind = MANIFEST_KIND_SOURCE };
        size_t cap = 0, skip = strlen(dir) + 1;
        for (char **p = paths; *p; p++) {
                _cleanup_close_ int fd = open(*p, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
                struct stat st;
                if (fd < 0 || fstat(fd, &st) < 0) {
                        report(rep, userdata, *p + skip, "cannot read: %s", strerror(errno));
                        continue;
                }
                char *data;
                size_t len;
                _cleanup_free_ char *rel = xstrdup(*p + skip);
                r = read_file_bounded(*p, DESCRIBE_FILE_MAX, &data, &len);
                if (r < 0) {
                        char limit[FORMAT_BYTES_MAX];
                        if (r == -EFBIG)
                                report(rep, userdata, rel, "cannot read: larger than %s", format_bytes(DESCRIBE_FILE_MAX, limit));
                        else
                                report(rep, userdata, rel, "cannot read: %s", strerror(-r));
                        continue;
                }
                ManifestFile f = { .path = TAKE_PTR(rel), .size = len };
                sha256_hex(data, len, f.sha256);
                free(data);
                add_file(&m, &cap, f);
        }
        for (char **p = paths; *p; p++)
                free(*p);
        free(paths);
        if (m.n_files > 1)
                qsort(m.files, m.n_files, sizeof(ManifestFile), cmp_file);
        *ret = m;
        return 0;
}

size_t manifest_compare(const Manifest *listed, const Manifest *scanned, ManifestReport rep, void *userdata) {
        size_t n = 0, i = 0, j = 0;
        while (i < listed->n_files || j < scanned->n_files) {
                const ManifestFile *a = i < listed->n_files ? &listed->files[i] : NULL;
                const ManifestFile *b = j < scanned->n_files ? &scanned->files[j] : NULL;
                int c = !a ? 1 : !b ? -1 : strcmp(a->path, b->path);
                if (c < 0) {
                        report(rep, userdata, a->path, "listed in MANIFEST but missing");
                        i++;
                } else if (c > 0) {
                        report(rep, userdata, b->path, "present but not listed in MANIFEST");
                        j++;
                } else {
                        if (a->size != b->size)
                                report(rep, userdata, a->path, "size %" PRIu64 ", MANIFEST says %" PRIu64, b->size,
                                       a->size);
                        else if (!streq(a->sha256, b->sha256))
                                report(rep, userdata, a->path, "sha256 %s, MANIFEST says %s", b->sha256, a->sha256);
                        else {
                                i++, j++;
                                continue;
                        }
                        i++, j++;
                }
                n++;
        }
        i = j = 0;
        while (i < listed->n_links || j < scanned->n_links) {
                const ManifestLink *a = i < listed->n_links ? &listed->links[i] : NULL;
                const ManifestLink *b = j < scanned->n_links ? &scanned->links[j] : NULL;
                int c = !a ? 1 : !b ? -1 : strcmp(a->type, b->type);
                if (c < 0) {
                        report(rep, userdata, a->type, "..data is missing; MANIFEST says it points to %s", a->target);
                        i++;
                } else if (c > 0) {
                        report(rep, userdata, b->type, "..data points to %s, which MANIFEST does not list", b->target);
                        j++;
                } else {
                        i++, j++;
                        if (streq(a->target, b->target))
                                continue;
                        report(rep, userdata, a->type, "..data points to %s, MANIFEST says %s", b->target, a->target);
                }
                n++;
        }
        return n;
}

/* ---- the pair on disk ---- */

int manifest_read_at(int dir_fd, const char *name, int flags, char **ret, size_t *ret_len, struct stat *ret_st) {
        _cleanup_close_ int fd = openat(dir_fd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK | flags);
        if (fd < 0)
                return -errno;
        struct stat st;
        if (fstat(fd, ret_st ?: &st) < 0)
                return -errno;
        return read_regular_fd(fd, MANIFEST_MAX, (uint8_t **) ret, ret_len);
}

int manifest_read_pair(int dir_fd, char **ret_data, size_t *ret_len, uint8_t **ret_sig, size_t *ret_sig_len) {
        for (unsigned attempt = 0;; attempt++) {
                char *data = NULL, *sig = NULL;
                size_t len = 0, sig_len = 0;
                struct stat st, st_sig = {}, again;
                int r = manifest_read_at(dir_fd, MANIFEST_NAME, 0, &data, &len, &st);
                if (r < 0)
                        return r;
                r = manifest_read_at(dir_fd, MANIFEST_SIG_NAME, 0, &sig, &sig_len, &st_sig);
                if (r < 0 && r != -ENOENT) {
                        free(data);
                        return r;
                }
                /* the writer replaces the signature, then MANIFEST */
                if (attempt < 8 && fstatat(dir_fd, MANIFEST_NAME, &again, 0) == 0 && again.st_ino != st.st_ino) {
                        free(data);
                        free(sig);
                        continue;
                }
                *ret_data = data;
                *ret_len = len;
                *ret_sig = (uint8_t *) sig;
                *ret_sig_len = sig_len;
                return 0;
        }
}

/* ret_id (when not NULL): the identity of the inode written, taken from
 * its own descriptor once it is in place (never by its name, which anyone
 * who can write the directory could have replaced meanwhile). */
static int write_at(int dir_fd, const char *name, const void *data, size_t len, mode_t mode, gid_t gid, bool sync,
                    struct stat *ret_id) {
        char tmp[64];
        snprintf(tmp, sizeof tmp, ".%s.tmp.%d", name, (int) getpid());
        _cleanup_close_ int fd = openat(dir_fd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
        if (fd < 0 && errno == EEXIST) {
                /* a leftover of a crash (same pid after a restart): removed, once */
                (void) unlinkat(dir_fd, tmp, 0);
                fd = openat(dir_fd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
        }
        if (fd < 0)
                return -errno;
        const uint8_t *p = data;
        size_t left = len;
        int r = 0;
        while (left > 0 && r == 0) {
                ssize_t n = write(fd, p, left);
                if (n < 0 && errno != EINTR)
                        r = -errno;
                else if (n > 0) {
                        p += n;
                        left -= (size_t) n;
                }
        }
        if (r == 0 && (fchmod(fd, mode) < 0 || (gid != (gid_t) -1 && fchown(fd, (uid_t) -1, gid) < 0) ||
                       (sync && fsync(fd) < 0) || renameat(dir_fd, tmp, dir_fd, name) < 0))
                r = -errno;
        else if (r == 0 && ret_id && fstat(fd, ret_id) < 0)
                return -errno;
        if (r < 0)
                (void) unlinkat(dir_fd, tmp, 0);
        return r;
}

int manifest_write_pair(int dir_fd, const void *data, size_t len, const void *sig, size_t sig_len, mode_t mode,
                        gid_t gid, bool sync) {
        return manifest_write_pair_id(dir_fd, data, len, sig, sig_len, mode, gid, sync, NULL);
}

int manifest_write_pair_id(int dir_fd, const void *data, size_t len, const void *sig, size_t sig_len, mode_t mode,
                           gid_t gid, bool sync, struct stat *ret_id) {
        int r = sig ? write_at(dir_fd, MANIFEST_SIG_NAME, sig, sig_len, mode, gid, sync, NULL)
                    : (unlinkat(dir_fd, MANIFEST_SIG_NAME, 0) < 0 && errno != ENOENT ? -errno : 0);
        if (r < 0)
                return r;
        r = write_at(dir_fd, MANIFEST_NAME, data, len, mode, gid, sync, ret_id);
        if (r < 0)
                return r;
        if (sync && fsync(dir_fd) < 0)
                return -errno;
        return 0;
}

uint64_t manifest_highest_generation(const char *output_dir) {
        _cleanup_close_ int out_fd = open(output_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (out_fd < 0)
                return 0;
        int fd = dup(out_fd);
        _cleanup_closedir_ DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
        if (!d) {
                if (fd >= 0)
                        close(fd);
                return 0;
        }
        uint64_t highest = 0;
        struct dirent *de;
        while ((de = readdir(d))) {
                if (!node_id_is_valid(de->d_name))
                        continue;
                _cleanup_close_ int node_fd = nodedir_open(out_fd, de->d_name);
                _cleanup_free_ char *data = NULL;
                _cleanup_free_ uint8_t *sig = NULL;
                size_t len, sig_len;
                if (node_fd < 0 || manifest_read_pair(node_fd, &data, &len, &sig, &sig_len) < 0)
                        continue;
                Manifest m = {};
                if (manifest_parse(data, len, &m, NULL) >= 0 && m.generation > highest)
                        highest = m.generation;
                manifest_done(&m);
        }
        return highest;
}

bool manifest_is_tmp_name(const char *name) {
        static const char sig_prefix[] = "." MANIFEST_SIG_NAME ".tmp.", prefix[] = "." MANIFEST_NAME ".tmp.";
        const char *rest = startswith(name, sig_prefix) ? name + strlen(sig_prefix)
                           : startswith(name, prefix)   ? name + strlen(prefix)
                                                        : NULL;
        if (!rest || !*rest)
                return false;
        for (; *rest; rest++)
                if (*rest < '0' || *rest > '9')
                        return false;
        return true;
}

int manifest_clean_tmp(int dir_fd) {
        _cleanup_closedir_ DIR *d = NULL;
        int r = opendir_at(dir_fd, ".", 0, &d);
        if (r < 0)
                return r;
        int n = 0;
        struct dirent *de;
        while ((errno = 0, de = readdir(d))) {
                if (!manifest_is_tmp_name(de->d_name))
                        continue;
                if (unlinkat(dir_fd, de->d_name, 0) >= 0)
                        n++;
                else if (errno != ENOENT)
                        return -errno;
        }
        return errno != 0 ? -errno : n;
}

static bool is_type_dir_name(const char *name) {
        for (ResourceType t = 0; t < _RESOURCE_TYPE_MAX; t++)
                if (resource_type_dir(t) && streq(resource_type_dir(t), name))
                        return true;
        return false;
}

/* Lists dir_fd (not closed), reporting each name keep() refuses as prefix/name. */
static size_t report_strays(int dir_fd, const char *prefix, bool (*keep)(const char *name), ManifestReport rep,
                            void *userdata) {
        int fd = dup(dir_fd);
        _cleanup_closedir_ DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
        if (!d) {
                if (fd >= 0)
                        close(fd);
                return 0;
        }
        size_t n = 0;
        struct dirent *de;
        while ((de = readdir(d))) {
                if (streq(de->d_name, ".") || streq(de->d_name, "..") || keep(de->d_name))
                        continue;
                _cleanup_free_ char *path = prefix ? xasprintf("%s/%s", prefix, de->d_name) : xstrdup(de->d_name);
                report(rep, userdata, path, "not fsxdsd's (left alone)");
                n++;
        }
        return n;
}

static bool node_dir_keeps(const char *name) {
        return is_type_dir_name(name) || streq(name, MANIFEST_NAME) || streq(name, MANIFEST_SIG_NAME);
}

static bool type_dir_keeps(const char *name) {
        return nodedir_is_pb_name(name) || streq(name, "..data") || nodedir_is_gen_name(name, NULL);
}

size_t manifest_scan_strays(int node_fd, ManifestReport rep, void *userdata) {
        size_t n = report_strays(node_fd, NULL, node_dir_keeps, rep, userdata);
        for (ResourceType t = 0; t < _RESOURCE_TYPE_MAX; t++) {
                const char *type = resource_type_dir(t);
                if (!type)
                        continue;
                _cleanup_close_ int fd = openat(node_fd, type, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (fd >= 0)
                        n += report_strays(fd, type, type_dir_keeps, rep, userdata);
        }
        return n;
}

size_t manifest_names_count(const char *names_json) {
        _cleanup_(json_freep) Json *j = NULL;
        _cleanup_free_ char *error = NULL;
        if (json_parse(names_json, strlen(names_json), &error, &j) < 0 || j->kind != JSON_ARRAY)
                return 0;
        return j->n;
}
