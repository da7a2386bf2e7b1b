/* SPDX-License-Identifier: MIT */
/* Small helpers every module uses: allocation, buffers, files, hashing. */
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <sys/stat.h>

#include "util.h"

void *xmalloc(size_t n) {
        void *p = malloc(n ? n : 1);
        if (!p)
                abort();
        return p;
}

void *xcalloc(size_t n, size_t m) {
        void *p = calloc(n ? n : 1, m ? m : 1);
        if (!p)
                abort();
        return p;
}

void *xrealloc(void *p, size_t n) {
        p = realloc(p, n ? n : 1);
        if (!p)
                abort();
        return p;
}

char *xstrdup(const char *s) {
        char *p = strdup(s);
        if (!p)
                abort();
        return p;
}

char *xstrndup(const char *s, size_t n) {
        char *p = xmalloc(n + 1);
        memcpy(p, s, n);
        p[n] = 0;
        return p;
}

void *xmemdup(const void *p, size_t n) {
        void *q = xmalloc(MAX(n, 1));
        if (n > 0)
                memcpy(q, p, n);
        return q;
}

char *xvasprintf(const char *fmt, va_list ap) {
        char *p;
        if (vasprintf(&p, fmt, ap) < 0)
                abort();
        return p;
}

char *xasprintf(const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        char *p = xvasprintf(fmt, ap);
        va_end(ap);
        return p;
}

bool startswith(const char *s, const char *prefix) {
        return strncmp(s, prefix, strlen(prefix)) == 0;
}

bool endswith(const char *s, const char *suffix) {
        size_t a = strlen(s), b = strlen(suffix);
        return a >= b && memcmp(s + a - b, suffix, b) == 0;
}

size_t edit_distance(const char *a, const char *b, size_t max) {
        size_t la = strlen(a), lb = strlen(b);
        if ((la > lb ? la - lb : lb - la) > max)
                return max + 1;
        /* three rows of the table: this one, the last, the one before */
        size_t *rows = xcalloc(3 * (lb + 1), sizeof(size_t));
        size_t *before = rows, *last = rows + lb + 1, *cur = rows + 2 * (lb + 1);
        for (size_t j = 0; j <= lb; j++)
                last[j] = j;
        for (size_t i = 1; i <= la; i++) {
                cur[0] = i;
                size_t row_min = i;
                for (size_t j = 1; j <= lb; j++) {
                        size_t d = MIN(MIN(last[j] + 1, cur[j - 1] + 1), last[j - 1] + (a[i - 1] != b[j - 1]));
                        if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
                                d = MIN(d, before[j - 2] + 1);
                        cur[j] = d;
                        row_min = MIN(row_min, d);
                }
                /* no path through a row above max comes back under it */
                if (row_min > max) {
                        free(rows);
                        return max + 1;
                }
                size_t *t = before;
                before = last;
                last = cur;
                cur = t;
        }
        size_t d = last[lb];
        free(rows);
        return MIN(d, max + 1);
}

const char *closest_match(const char *s, const char *const *candidates, size_t n) {
        size_t ls = strlen(s);
        const char *best = NULL;
        size_t best_d = SIZE_MAX;
        bool tie = false;
        for (size_t i = 0; i < n; i++) {
                size_t limit = MAX(ls, strlen(candidates[i])) / 3;
                size_t d = edit_distance(s, candidates[i], limit);
                if (d == 0 || d > limit)
                        continue;
                if (d < best_d) {
                        best = candidates[i];
                        best_d = d;
                        tie = false;
                } else if (d == best_d && !streq(best, candidates[i]))
                        tie = true;
        }
        return tie ? NULL : best;
}

char *format_bytes(uint64_t n, char ret[static FORMAT_BYTES_MAX]) {
        static const char *const units[] = { "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
        if (n < 1024) {
                snprintf(ret, FORMAT_BYTES_MAX, "%" PRIu64 " byte%s", n, n == 1 ? "" : "s");
                return ret;
        }
        size_t u = 0;
        while (u + 1 < ELEMENTSOF(units) && n >> (10 * (u + 2)) > 0)
                u++;
        uint64_t unit = UINT64_C(1) << (10 * (u + 1));
        uint64_t whole = n / unit, rest = n % unit;
        if (rest == 0) {
                snprintf(ret, FORMAT_BYTES_MAX, "%" PRIu64 " %s", whole, units[u]);
                return ret;
        }
        /* tenths, rounded to nearest (rest * 10 fits: rest < 2^60) */
        uint64_t tenths = whole * 10 + (rest * 10 + unit / 2) / unit;
        snprintf(ret, FORMAT_BYTES_MAX, "%" PRIu64 ".%" PRIu64 " %s", tenths / 10, tenths % 10, units[u]);
        return ret;
}

void buf_reserve(Buf *b, size_t extra) {
        if (b->len + extra <= b->cap)
                return;
        size_t n = b->cap ? b->cap : 256;
        while (n < b->len + extra)
                n *= 2;
        b->data = xrealloc(b->data, n);
        b->cap = n;
}

void buf_append(Buf *b, const void *p, size_t n) {
        if (n == 0)
                return;
        buf_reserve(b, n);
        memcpy(b->data + b->len, p, n);
        b->len += n;
}

void buf_putc(Buf *b, uint8_t c) {
        buf_reserve(b, 1);
        b->data[b->len++] = c;
}

void buf_printf(Buf *b, const char *fmt, ...) {
        va_list ap, aq;
        va_start(ap, fmt);
        va_copy(aq, ap);
        /* formatted into the room there is; again only when it did not fit */
        buf_reserve(b, 64);
        size_t room = b->cap - b->len;
        int n = vsnprintf((char *) b->data + b->len, room, fmt, ap);
        va_end(ap);
        if (n < 0)
                abort();
        if ((size_t) n >= room) {
                buf_reserve(b, (size_t) n + 1);
                vsnprintf((char *) b->data + b->len, (size_t) n + 1, fmt, aq);
        }
        va_end(aq);
        b->len += (size_t) n;
}

void buf_free(Buf *b) {
        free(b->data);
        *b = (Buf) {};
}

char *buf_steal_str(Buf *b) {
        buf_putc(b, 0);
        char *s = (char *) b->data;
        *b = (Buf) {};
        return s;
}

int opendir_at(int dir_fd, const char *name, int flags, DIR **ret) {
        int fd = openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | flags);
        if (fd < 0)
                return -errno;
        DIR *d = fdopendir(fd);
        if (!d) {
                int r = -errno;
                close(fd);
                return r;
        }
        *ret = d;
        return 0;
}

int open_regular(const char *path) {
        /* O_NONBLOCK: opening a FIFO for reading waits for a writer, forever
         * when a hostile or broken tree holds one; then fstat() on what was
         * opened, not stat() before (the name can be swapped in between) */
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0)
                return -errno;
        struct stat st;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (S_ISDIR(st.st_mode))
                return -EISDIR;
        if (!S_ISREG(st.st_mode))
                return -EBADFD;
        int flags = fcntl(fd, F_GETFL);
        if (flags < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) < 0)
                return -errno;
        return TAKE_FD(fd);
}

const char *read_error_string(int r) {
        return r == -EBADFD ? "not a regular file (fsxds never reads a FIFO, socket or device)" : strerror(-r);
}

int read_file_bounded(const char *path, size_t max, char **ret, size_t *ret_len) {
        _cleanup_close_ int fd = open_regular(path);
        if (fd < 0)
                return fd;
        struct stat st;
        if (fstat(fd, &st) < 0)
                return -errno;
        if ((uint64_t) st.st_size > max)
                return -EFBIG;
        Buf b = {};
        for (;;) {
                buf_reserve(&b, 65536);
                ssize_t n = read(fd, b.data + b.len, b.cap - b.len);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        int r = -errno;
                        buf_free(&b);
                        return r;
                }
                if (n == 0)
                        break;
                b.len += (size_t) n;
                if (b.len > max) {
                        buf_free(&b);
                        return -EFBIG;
                }
        }
        size_t len = b.len;
        *ret = buf_steal_str(&b);
        if (ret_len)
                *ret_len = len;
        return 0;
}

int read_regular_fd(int fd, size_t max, uint8_t **ret, size_t *ret_len) {
        struct stat st;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return -EBADFD;
        if ((uint64_t) st.st_size > max)
                return -EFBIG;
        size_t size = (size_t) st.st_size;
        _cleanup_free_ uint8_t *data = xmalloc(size + 1);
        size_t len = 0;
        while (len < size + 1) {
                ssize_t k = read(fd, data + len, size + 1 - len);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (k == 0)
                        break;
                len += (size_t) k;
        }
        if (len > size)
                return -EFBIG; /* grew under us */
        data[len] = 0;
        *ret = TAKE_PTR(data);
        *ret_len = len;
        return 0;
}

int write_file_atomic(const char *path, const void *data, size_t len, mode_t mode) {
        _cleanup_free_ char *tmp = xasprintf("%s.tmp.%d", path, (int) getpid());
        _cleanup_close_ int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
        if (fd < 0)
                return -errno;
        const uint8_t *p = data;
        size_t left = len;
        while (left > 0) {
                ssize_t n = write(fd, p, left);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        int r = -errno;
                        unlink(tmp);
                        return r;
                }
                p += n;
                left -= (size_t) n;
        }
        if (fchmod(fd, mode) < 0 || close(TAKE_FD(fd)) < 0 || rename(tmp, path) < 0) {
                int r = -errno;
                unlink(tmp);
                return r;
        }
        return 0;
}

bool write_file_atomic_is_tmp(const char *name, const char *base) {
        const char *t = strstr(name, ".tmp.");
        /* the last ".tmp.": "<base>.tmp.<pid>" */
        for (const char *u = t; u; u = strstr(u + 1, ".tmp."))
                t = u;
        if (!t || t == name || !t[5])
                return false;
        if (base && (strlen(base) != (size_t) (t - name) || strncmp(name, base, (size_t) (t - name)) != 0))
                return false;
        for (const char *p = t + 5; *p; p++)
                if (*p < '0' || *p > '9')
                        return false;
        return true;
}

int mkdir_p(const char *path, mode_t mode) {
        _cleanup_free_ char *p = xstrdup(path);
        for (char *s = p + 1; *s; s++) {
                if (*s != '/')
                        continue;
                *s = 0;
                if (mkdir(p, mode) < 0 && errno != EEXIST)
                        return -errno;
                *s = '/';
        }
        if (mkdir(p, mode) < 0 && errno != EEXIST)
                return -errno;
        return 0;
}

void buf_put_index(Buf *b, size_t i) {
        char digits[24], *p = digits + sizeof digits;
        *--p = ']';
        do
                *--p = (char) ('0' + i % 10);
        while ((i /= 10) > 0);
        *--p = '[';
        buf_append(b, p, (size_t) (digits + sizeof digits - p));
}

void buf_put_json_string(Buf *b, const char *s) {
        buf_putc(b, '"');
        for (const unsigned char *p = (const unsigned char *) s; *p; p++) {
                switch (*p) {
                case '"':
                        buf_append(b, "\\\"", 2);
                        break;
                case '\\':
                        buf_append(b, "\\\\", 2);
                        break;
                case '\n':
                        buf_append(b, "\\n", 2);
                        break;
                case '\t':
                        buf_append(b, "\\t", 2);
                        break;
                default:
                        if (*p < 0x20)
                                buf_printf(b, "\\u%04x", *p);
                        else
                                buf_putc(b, *p);
                }
        }
        buf_putc(b, '"');
}

int64_t read_int_file(const char *path) {
        _cleanup_free_ char *data = NULL;
        size_t len;
        if (read_file_bounded(path, 64, &data, &len) < 0)
                return -1;
        char *end;
        errno = 0;
        long long v = strtoll(data, &end, 10);
        return errno == 0 && end != data ? (int64_t) v : -1;
}

char *path_clean_lexical(const char *path) {
        _cleanup_free_ char *copy = xstrdup(path);
        char *out = xmalloc(strlen(path) + 2);
        size_t len = 0;
        for (char *save = NULL, *c = strtok_r(copy, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
                if (streq(c, "."))
                        continue;
                if (streq(c, "..")) {
                        while (len > 0 && out[len - 1] != '/')
                                len--;
                        if (len > 0)
                                len--; /* the '/' before the dropped component */
                        continue;
                }
                out[len++] = '/';
                size_t n = strlen(c);
                memcpy(out + len, c, n);
                len += n;
        }
        if (len == 0)
                out[len++] = '/';
        out[len] = 0;
        return out;
}

uint64_t now_usec(clockid_t clock) {
        struct timespec ts;
        clock_gettime(clock, &ts);
        return (uint64_t) ts.tv_sec * 1000000 + (uint64_t) ts.tv_nsec / 1000;
}
