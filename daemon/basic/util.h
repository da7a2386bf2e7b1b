/* SPDX-License-Identifier: MIT */
/* Small helpers every module uses: cleanup attributes, ownership transfer,
 * checked allocation and a growable byte buffer. */
#pragma once

#include <errno.h>
#include <dirent.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _unused_ __attribute__((unused))
#define _fallthrough_ __attribute__((fallthrough))
#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define _likely_(x) __builtin_expect(!!(x), 1)
#define _unlikely_(x) __builtin_expect(!!(x), 0)
#define ELEMENTSOF(a) (sizeof(a) / sizeof((a)[0]))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

#define TAKE_PTR(p)                                                            \
        ({                                                                     \
                __typeof__(p) _p = (p);                                        \
                (p) = NULL;                                                    \
                _p;                                                            \
        })
#define TAKE_FD(fd)                                                            \
        ({                                                                     \
                int _fd = (fd);                                                \
                (fd) = -EBADF;                                                 \
                _fd;                                                           \
        })

static inline void freep(void *p) {
        free(*(void **) p);
}
#define _cleanup_free_ _cleanup_(freep)

static inline void closep(int *fd) {
        if (*fd >= 0)
                close(*fd);
}
#define _cleanup_close_ _cleanup_(closep)

static inline void fclosep(FILE **f) {
        if (*f)
                fclose(*f);
}
#define _cleanup_fclose_ _cleanup_(fclosep)

#define DEFINE_TRIVIAL_CLEANUP_FUNC(type, func)                                \
        static inline void func##p(type *p) {                                  \
                if (*p)                                                        \
                        func(*p);                                              \
        }

static inline void closedirp(DIR **d) {
        if (*d)
                closedir(*d);
}
#define _cleanup_closedir_ _cleanup_(closedirp)

/* An enum's string table, written once: given
 *   static const char *const name##_table[_MAX] = { [VALUE] = "value", ... };
 * defines name##_to_string(value) (NULL out of range) and
 * name##_from_string(s) (the enum's _INVALID sentinel, -EINVAL, for an
 * unknown string). */
#define DEFINE_STRING_TABLE_LOOKUP(name, type)                                 \
        const char *name##_to_string(type v) {                                 \
                return (int) v >= 0 && (size_t) v < ELEMENTSOF(name##_table)   \
                        ? name##_table[v] : NULL;                              \
        }                                                                      \
        type name##_from_string(const char *s) {                               \
                for (size_t _i = 0; _i < ELEMENTSOF(name##_table); _i++)       \
                        if (name##_table[_i] && streq(name##_table[_i], s))    \
                                return (type) _i;                              \
                return (type) -EINVAL;                                         \
        }

/* Allocation failure is not recoverable in a useful way for a config
 * compiler; abort loudly rather than threading ENOMEM through every walk. */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t m);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
void *xmemdup(const void *p, size_t n);
char *xasprintf(const char *fmt, ...) _printf_(1, 2);
char *xvasprintf(const char *fmt, va_list ap) _printf_(1, 0);

static inline bool streq(const char *a, const char *b) {
        return strcmp(a, b) == 0;
}
static inline bool strneq_len(const char *a, size_t alen, const char *b) {
        size_t bl = strlen(b);
        return alen == bl && memcmp(a, b, bl) == 0;
}
bool startswith(const char *s, const char *prefix);
bool endswith(const char *s, const char *suffix);

/* How many edits turn a into b (optimal string alignment: inserting,
 * deleting or replacing a byte, or swapping two adjacent ones, costs 1);
 * max + 1 for anything above max. */
size_t edit_distance(const char *a, const char *b, size_t max);
/* The one of the n candidates that s is likely a typo of, for a "did you
 * mean": one edit per three bytes of the longer of the two at most (so
 * "webb" suggests "web", "r9" no "r0"), and closer than every other
 * candidate (a tie suggests nothing); NULL when there is none. */
const char *closest_match(const char *s, const char *const *candidates, size_t n);

/* A size for people: "512 bytes", "64 KiB", "1.5 MiB", "128 MiB" (binary
 * units, one decimal unless whole). Exact byte counts stay exact where they
 * are compared; limits and sizes a person reads go through this. */
#define FORMAT_BYTES_MAX 32
char *format_bytes(uint64_t n, char ret[static FORMAT_BYTES_MAX]);

/* Growable byte buffer. */
typedef struct Buf {
        uint8_t *data;
        size_t len;
        size_t cap;
} Buf;

void buf_reserve(Buf *b, size_t extra);
void buf_append(Buf *b, const void *p, size_t n);
void buf_putc(Buf *b, uint8_t c);
void buf_printf(Buf *b, const char *fmt, ...) _printf_(2, 3);
void buf_free(Buf *b);
/* Returns the contents NUL-terminated and leaves b empty. */
char *buf_steal_str(Buf *b);

/* File helpers. */
/* A whole file (or what it reads until its end), NUL-terminated; -EFBIG
 * past max bytes, -EISDIR for a directory. */
/* Opens a regular file for reading (O_CLOEXEC): never blocks on a FIFO,
 * never returns anything else: -EISDIR, -EBADFD for a FIFO, socket or
 * device (checked on the descriptor opened, not on the name). */
int open_regular(const char *path);
/* Opens the directory name (relative to dir_fd) for reading its entries,
 * O_DIRECTORY|O_CLOEXEC plus flags (O_NOFOLLOW...); -errno. */
int opendir_at(int dir_fd, const char *name, int flags, DIR **ret);
/* strerror(-r), and what -EBADFD from open_regular() means. */
const char *read_error_string(int r);
int read_file_bounded(const char *path, size_t max, char **ret, size_t *ret_len);
/* The number a small file holds, such as a limit in /proc/sys (as this
 * user namespace has it: /proc/sys/user/ holds the namespace's own,
 * /proc/sys/fs/inotify/ the host's); -1: unknown. */
int64_t read_int_file(const char *path);
/* An absolute path cleaned lexically: "." and ".." components, "//" and a
 * trailing "/" gone ("/" stays "/"); no symlink is resolved. */
char *path_clean_lexical(const char *path);
/* A regular file from its fd, in one allocation of its size (so a secret
 * leaves no copies behind), NUL-terminated; -EBADFD when not a regular
 * file, -EFBIG past max bytes or when it grew while read. */
int read_regular_fd(int fd, size_t max, uint8_t **ret, size_t *ret_len);
/* Writes via a temporary file in the same directory and rename(2). */
int write_file_atomic(const char *path, const void *data, size_t len, mode_t mode);
/* Whether name is a temporary name write_file_atomic() makes beside a file
 * named base ("<base>.tmp.<pid>"); base NULL: beside any file. */
bool write_file_atomic_is_tmp(const char *name, const char *base);
int mkdir_p(const char *path, mode_t mode);

/* sha256 of data, as 64 lowercase hex digits plus NUL. */

/* Appends s as a JSON string literal (quoted, escaped). */
void buf_put_json_string(Buf *b, const char *s);
/* "[i]", without printf (field paths are built for every list item). */
void buf_put_index(Buf *b, size_t i);

/* clock's time in microseconds (CLOCK_REALTIME: since the epoch). */
uint64_t now_usec(clockid_t clock);
