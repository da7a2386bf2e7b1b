/* SPDX-License-Identifier: MIT */
/* A directory's listing for the watch's rescan, and the comparison of two
 * (interface in dirscan.h). Both listings are sorted by name, so the
 * comparison is one merge. */
#include <dirent.h>
#include <fcntl.h>

#include "dirscan.h"

void dirscan_add(DirScan *s, const char *name, const struct stat *st) {
        s->entries = xrealloc(s->entries, (s->n + 1) * sizeof(DirScanEntry));
        s->entries[s->n++] = (DirScanEntry) {
                .name = xstrdup(name),
                .is_dir = S_ISDIR(st->st_mode),
                .dev = st->st_dev,
                .ino = st->st_ino,
                .size = st->st_size,
                .mtime = st->st_mtim,
                .ctime = st->st_ctim,
        };
}

static int entry_compare(const void *a, const void *b) {
        return strcmp(((const DirScanEntry *) a)->name, ((const DirScanEntry *) b)->name);
}

void dirscan_sort(DirScan *s) {
        if (s->n > 1)
                qsort(s->entries, s->n, sizeof(DirScanEntry), entry_compare);
}

void dirscan_done(DirScan *s) {
        if (!s)
                return;
        for (size_t i = 0; i < s->n; i++)
                free(s->entries[i].name);
        free(s->entries);
        *s = (DirScan) {};
}

int dirscan_read(const char *path, DirScan *ret) {
        _cleanup_closedir_ DIR *dir = NULL;
        int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NONBLOCK);
        if (fd < 0)
                return -errno;
        dir = fdopendir(fd);
        if (!dir) {
                int r = -errno;
                close(fd);
                return r;
        }
        DirScan s = {};
        for (;;) {
                errno = 0;
                struct dirent *de = readdir(dir);
                if (!de) {
                        if (errno != 0) {
                                int r = -errno;
                                dirscan_done(&s);
                                return r;
                        }
                        break;
                }
                if (de->d_name[0] == '.')
                        continue;
                if (s.n >= DIRSCAN_ENTRIES_MAX) {
                        dirscan_done(&s);
                        return -E2BIG;
                }
                struct stat st;
                if (fstatat(dirfd(dir), de->d_name, &st, 0) < 0 &&
                    fstatat(dirfd(dir), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                        continue; /* gone meanwhile: the next listing says so */
                dirscan_add(&s, de->d_name, &st);
        }
        dirscan_sort(&s);
        *ret = s;
        return 0;
}

static bool entry_same(const DirScanEntry *a, const DirScanEntry *b) {
        return a->is_dir == b->is_dir && a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
               a->mtime.tv_sec == b->mtime.tv_sec && a->mtime.tv_nsec == b->mtime.tv_nsec &&
               a->ctime.tv_sec == b->ctime.tv_sec && a->ctime.tv_nsec == b->ctime.tv_nsec;
}

size_t dirscan_diff(const DirScan *old, const DirScan *new, DirScanChange cb, void *userdata) {
        size_t i = 0, j = 0, n = 0;
        while (i < old->n || j < new->n) {
                int c = i == old->n ? 1 : j == new->n ? -1 : strcmp(old->entries[i].name, new->entries[j].name);
                if (c < 0) {
                        cb(userdata, old->entries[i].name, old->entries[i].is_dir); /* removed */
                        i++;
                        n++;
                } else if (c > 0) {
                        cb(userdata, new->entries[j].name, new->entries[j].is_dir); /* added */
                        j++;
                        n++;
                } else {
                        /* a directory's own mtime changes with its entries,
                         * which its own listing covers */
                        const DirScanEntry *a = &old->entries[i], *b = &new->entries[j];
                        bool dirs = a->is_dir && b->is_dir;
                        if (dirs ? a->dev != b->dev || a->ino != b->ino : !entry_same(a, b)) {
                                cb(userdata, b->name, a->is_dir || b->is_dir);
                                n++;
                        }
                        i++;
                        j++;
                }
        }
        return n;
}
