/* SPDX-License-Identifier: MIT */
/* A MANIFEST made from the one before it: this process's own MANIFEST is
 * recognised by its identity (inode, size, times) and patched at the
 * paths a generation changed, so a node of thousands of files costs a
 * copy of its MANIFEST's bytes, not a description of every file. */
#include <assert.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "manifest.h"

static bool same_identity(const struct stat *a, const struct stat *b) {
        return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
               a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
               a->st_ctim.tv_sec == b->st_ctim.tv_sec && a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

int manifest_read_same(int dir_fd, const struct stat *id, char **ret_data, size_t *ret_len) {
        _cleanup_free_ char *data = NULL;
        size_t len;
        struct stat before, after;
        int r = manifest_read_at(dir_fd, MANIFEST_NAME, O_NOFOLLOW, &data, &len, &before);
        if (r < 0)
                return r == -EBADFD ? -ESTALE : r;
        /* still that inode, not written to while read */
        if (!same_identity(&before, id) || fstatat(dir_fd, MANIFEST_NAME, &after, AT_SYMLINK_NOFOLLOW) < 0 ||
            !same_identity(&after, id))
                return -ESTALE;
        *ret_data = TAKE_PTR(data);
        *ret_len = len;
        return 0;
}

static const char *find_last(const char *hay, size_t len, const char *needle) {
        size_t nl = strlen(needle);
        for (const char *p = hay + len; p >= hay + nl;) {
                const char *q = memrchr(hay, needle[nl - 1], (size_t) (p - hay));
                if (!q)
                        return NULL;
                if (q + 1 >= hay + nl && memcmp(q + 1 - nl, needle, nl) == 0)
                        return q + 1 - nl;
                p = q;
        }
        return NULL;
}

#define ENTRY_START "{\"names\":["
#define PATH_KEY "\"path\":"

/* The entry of the MANIFEST's files list that holds the "path" at p:
 * from the ENTRY_START before it to the '}' closing it. In canonical
 * JSON a '"' inside a string is escaped, so neither pattern can occur
 * inside a name. */
static bool entry_span(const char *body, const char *end, const char *p, const char **ret_start, const char **ret_end) {
        const char *s = find_last(body, (size_t) (p - body), ENTRY_START);
        const char *v = memmem(p, (size_t) (end - p), "\"version_info\":\"", 16);
        const char *e = v ? memchr(v + 16, '"', (size_t) (end - v - 16)) : NULL;
        if (!s || !e || e + 1 >= end || e[1] != '}')
                return false;
        *ret_start = s;
        *ret_end = e + 2;
        return true;
}

static void put_run(Buf *out, bool *first, const char *a, const char *b) {
        if (b <= a)
                return;
        if (!*first)
                buf_putc(out, ',');
        buf_append(out, a, (size_t) (b - a));
        *first = false;
}

int manifest_patch(const char *old, size_t old_len, const Manifest *head, char *const *touched, size_t n_touched,
                   Buf *out) {
        assert(head->kind == MANIFEST_KIND_NODE);
        /* head's own text without files: its prefix up to the list, its suffix after */
        Manifest bare = *head;
        bare.n_files = 0;
        Buf h = {};
        manifest_format(&bare, &h);
        const char *hl = memmem(h.data, h.len, "\"files\":[],\"format\":", 20);
        const char *ol = memmem(old, old_len, "\"files\":[", 9);
        const char *oe = find_last(old, old_len, "],\"format\":");
        if (!hl || !ol || !oe || oe < ol + 9 || old_len < 2 || old[old_len - 1] != '\n') {
                buf_free(&h);
                return -EBADMSG;
        }
        const char *body = ol + 9, *end = oe, *cursor = body;
        buf_append(out, h.data, (size_t) (hl - (const char *) h.data) + 9);
        bool first = true;
        size_t next_file = 0;
        for (size_t k = 0; k < n_touched; k++) {
                Buf key = {};
                buf_append(&key, PATH_KEY, strlen(PATH_KEY));
                manifest_put_string(&key, touched[k], strlen(touched[k]));
                buf_append(&key, ",", 1);
                const char *at = memmem(cursor, (size_t) (end - cursor), key.data, key.len);
                const char *es = NULL, *ee = NULL;
                if (at) {
                        if (!entry_span(body, end, at, &es, &ee)) {
                                buf_free(&key);
                                buf_free(&h);
                                return -EBADMSG;
                        }
                } else {
                        /* not listed: it goes before the first entry whose path sorts after it */
                        const char *p = cursor;
                        es = ee = end;
                        while ((p = memmem(p, (size_t) (end - p), PATH_KEY "\"", strlen(PATH_KEY) + 1))) {
                                const char *name = p + strlen(PATH_KEY) + 1;
                                const char *q = memchr(name, '"', (size_t) (end - name));
                                if (!q || memchr(name, '\\', (size_t) (q - name))) {
                                        buf_free(&key);
                                        buf_free(&h);
                                        return -EBADMSG;
                                }
                                size_t nl = (size_t) (q - name), tl = strlen(touched[k]);
                                int c = memcmp(name, touched[k], MIN(nl, tl));
                                if (c > 0 || (c == 0 && nl > tl)) {
                                        const char *ignored;
                                        if (!entry_span(body, end, p, &es, &ignored)) {
                                                buf_free(&key);
                                                buf_free(&h);
                                                return -EBADMSG;
                                        }
                                        ee = es;
                                        break;
                                }
                                p = q;
                        }
                }
                buf_free(&key);
                /* the entries before it as they are, without the ',' before es */
                put_run(out, &first, cursor, es > cursor && es[-1] == ',' ? es - 1 : es);
                while (next_file < head->n_files && strcmp(head->files[next_file].path, touched[k]) < 0)
                        next_file++;
                if (next_file < head->n_files && streq(head->files[next_file].path, touched[k])) {
                        if (!first)
                                buf_putc(out, ',');
                        manifest_put_file(out, &head->files[next_file++], true);
                        first = false;
                }
                cursor = ee < end && *ee == ',' ? ee + 1 : ee;
        }
        put_run(out, &first, cursor, end);
        buf_append(out, hl + 9, h.len - (size_t) (hl + 9 - (const char *) h.data));
        buf_free(&h);
        return 0;
}
