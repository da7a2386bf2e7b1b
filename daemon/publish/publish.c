/* SPDX-License-Identifier: MIT */
/* Publishing a generation into <output_dir>/<node>/<type>/: a plan (plan.c)
 * compares the next node output with what is live on disk, then
 * make-before-break phases link store objects into place (rename mode: linkat to a temporary
 * name + renameat over the file; watched_directory mode: a new generation
 * directory per type and a rename of its "..data" symlink), and the removal
 * phases unlink what nothing names any more. Only directory fds and *at()
 * calls below the output directory; no symlink is ever followed there. */
#include <assert.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/openat2.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "manifest.h"
#include "nodedir.h"
#include "publish-internal.h"

static const char *const publish_phase_table[_PUBLISH_PHASE_MAX] = {
        [PUBLISH_PHASE_SDS] = "sds",
        [PUBLISH_PHASE_EDS] = "eds",
        [PUBLISH_PHASE_CDS] = "cds",
        [PUBLISH_PHASE_RDS] = "rds",
        [PUBLISH_PHASE_LDS] = "lds",
        [PUBLISH_PHASE_RTDS] = "rtds",
        [PUBLISH_PHASE_REMOVE_ROUTES] = "remove-routes",
        [PUBLISH_PHASE_CDS_FINAL] = "cds-final",
        [PUBLISH_PHASE_REMOVE_FILES] = "remove-files",
};

DEFINE_STRING_TABLE_LOOKUP(publish_phase, PublishPhase);

static uint64_t tmp_counter;

/* ".tmp.<file>.<16 hex>", the file part cut so the whole fits NAME_MAX. */
static void tmp_name(char buf[static NAME_MAX + 1], const char *file) {
        if (tmp_counter == 0 && getrandom(&tmp_counter, sizeof(tmp_counter), GRND_NONBLOCK) != sizeof(tmp_counter))
                tmp_counter = (uint64_t) getpid() << 32;
        snprintf(buf, NAME_MAX + 1, TMP_PREFIX "%.*s.%016" PRIx64, NAME_MAX - 6 - 16 - 1, file, ++tmp_counter);
}

/* Creates name's new entry under a temporary name, then renames it over
 * name: a hard link of a store object (store_fd >= 0: rename mode), or a
 * symlink to target (store_fd < 0). Either way one rename switches it. */
static int place_by_rename(int store_fd, const char *source, int fd, const char *name) {
        char tmp[NAME_MAX + 1];
        for (unsigned attempt = 0;; attempt++) {
                tmp_name(tmp, name);
                int r = store_fd >= 0 ? linkat(store_fd, source, fd, tmp, 0) : symlinkat(source, fd, tmp);
                if (r >= 0)
                        break;
                if (errno != EEXIST || attempt >= 16)
                        return -errno;
        }
        if (renameat(fd, tmp, fd, name) < 0) {
                int r = -errno;
                (void) unlinkat(fd, tmp, 0);
                return r;
        }
        return 0;
}

static int place_file(int store_fd, const char *object, int fd, const char *name) {
        return place_by_rename(store_fd, object, fd, name);
}

static int place_symlink(const char *target, int fd, const char *name) {
        return place_by_rename(-EBADF, target, fd, name);
}

static const char *file_object(const NodePlan *p, TypeDir t, const PlanFile *f, bool intermediate) {
        return t == TYPE_DIR_CDS && intermediate ? p->cds_intermediate : f->object;
}

static int publish_rename(NodePlan *p, TypeDir t, int fd, bool intermediate) {
        PlanDir *d = &p->dirs[t];
        for (size_t i = 0; i < d->n; i++) {
                PlanFile *f = &d->files[i];
                if (f->state == FILE_REMOVED || f->state == FILE_UNCHANGED)
                        continue;
                const char *object = file_object(p, t, f, intermediate);
                /* where nothing watches (state_dir's copies), a name that is
                 * not there yet appears whole with one link; one that is
                 * there after all is replaced by a rename, as everywhere
                 * else (Envoy reacts to a rename, never to a new link) */
                int r = f->state == FILE_NEW && store_unwatched(p->store) &&
                                        linkat(store_dirfd(p->store), object, fd, f->name, 0) >= 0
                                ? 0
                                : place_file(store_dirfd(p->store), object, fd, f->name);
                if (r == -ENOENT)
                        store_forget(p->store, object); /* removed behind the store's back */
                if (r < 0)
                        return r;
                store_unlinked(p->store, f->live_ino);
                f->live_ino = store_object_inode(p->store, object);
                d->touched = true;
        }
        return 0;
}

/* Removes a generation directory: hard links (or symlinks) and itself.
 * The store (when given) learns which objects lost a link. */
static int remove_gen_dir(Store *s, int fd, const char *name) {
        _cleanup_close_ int gen_fd = nodedir_open(fd, name);
        if (gen_fd < 0)
                return gen_fd == -ENOENT ? 0 : gen_fd;
        _cleanup_free_ DirReader *dir = xmalloc(sizeof(DirReader));
        nodedir_reader_init(dir, gen_fd);
        struct dirent64 *de = NULL;
        int r;
        while ((r = nodedir_read(dir, &de)) > 0) {
                if (unlinkat(gen_fd, de->d_name, 0) < 0 && errno != ENOENT)
                        return -errno;
                if (s)
                        store_unlinked(s, de->d_ino);
        }
        if (r < 0)
                return r;
        if (unlinkat(fd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
                return -errno;
        return 1;
}

/* watched_directory mode: a new generation directory with every file of
 * the type (and the removed ones, until their removal phase), then one
 * rename of "..data" switches them all. */
static int publish_watched(NodePlan *p, TypeDir t, int fd, bool intermediate) {
        PlanDir *d = &p->dirs[t];
        int store_fd = store_dirfd(p->store);
        char gen[sizeof(GEN_PREFIX) + 21];
        _cleanup_close_ int gen_fd = -EBADF;
        for (unsigned attempt = 0; gen_fd < 0; attempt++) {
                snprintf(gen, sizeof(gen), GEN_PREFIX "%" PRIu64, ++d->gen_max);
                bool made = false;
                gen_fd = nodedir_make(fd, gen, store_gid(p->store), &made);
                if (gen_fd >= 0 && !made) {
                        close(gen_fd);
                        gen_fd = -EEXIST;
                }
                if (gen_fd < 0 && (gen_fd != -EEXIST || attempt >= 16))
                        return gen_fd;
        }
        _cleanup_close_ int live_gen_fd = -EBADF;
        if (d->gen_live) {
                live_gen_fd = nodedir_open(fd, d->gen_live);
                if (live_gen_fd < 0 && live_gen_fd != -ENOENT)
                        return live_gen_fd;
        }
        d->touched = true;

        int r = 0;
        for (size_t i = 0; i < d->n; i++) {
                PlanFile *f = &d->files[i];
                if (f->state != FILE_REMOVED) {
                        r = linkat(store_fd, file_object(p, t, f, intermediate), gen_fd, f->name, 0);
                        if (r < 0 && errno == ENOENT)
                                store_forget(p->store, file_object(p, t, f, intermediate));
                }
                else if (f->live_ino && (!f->live_in_gen || live_gen_fd >= 0))
                        /* removed files stay readable until the removal phase */
                        r = linkat(f->live_in_gen ? live_gen_fd : fd, f->name, gen_fd, f->name, 0);
                else
                        continue;
                if (r < 0) {
                        r = -errno;
                        goto fail;
                }
        }

        /* new names: their symlinks dangle until the swap, which nothing reads */
        for (size_t i = 0; i < d->n; i++) {
                PlanFile *f = &d->files[i];
                if (f->state == FILE_REMOVED || f->has_entry)
                        continue;
                _cleanup_free_ char *target = nodedir_data_target(f->name);
                if (symlinkat(target, fd, f->name) < 0) {
                        if (errno != EEXIST) {
                                r = -errno;
                                goto fail;
                        }
                        f->relink = true;
                }
                f->has_entry = true;
        }

        (void) unlinkat(fd, DATA_TMP, 0);
        if (symlinkat(gen, fd, DATA_TMP) < 0) {
                r = -errno;
                goto fail;
        }
        if (renameat(fd, DATA_TMP, fd, DATA_LINK) < 0) {
                r = -errno;
                (void) unlinkat(fd, DATA_TMP, 0);
                goto fail;
        }
        free(d->gen_live);
        d->gen_live = xstrdup(gen);
        ino_t *replaced = xcalloc(d->n + 1, sizeof(ino_t));
        for (size_t i = 0; i < d->n; i++) {
                PlanFile *f = &d->files[i];
                if (f->live_ino && !f->live_in_gen)
                        replaced[i] = f->live_ino; /* a regular file at the top, replaced below */
                if (f->state != FILE_REMOVED)
                        f->live_ino = store_object_inode(p->store, file_object(p, t, f, intermediate));
                if (f->live_ino)
                        f->live_in_gen = true;
        }

        /* entries of another layout (a regular file from rename mode, a stray
         * symlink): replaced only now that "..data" resolves */
        for (size_t i = 0; i < d->n; i++) {
                PlanFile *f = &d->files[i];
                if (f->state == FILE_REMOVED || !f->relink)
                        continue;
                _cleanup_free_ char *target = nodedir_data_target(f->name);
                r = place_symlink(target, fd, f->name);
                if (r < 0) {
                        free(replaced);
                        return r;
                }
                f->relink = false;
                store_unlinked(p->store, replaced[i]);
        }
        free(replaced);
        return 0;

fail:
        /* nothing points to it: not even half a generation stays */
        (void) remove_gen_dir(NULL, fd, gen);
        return r;
}

static int open_node(NodePlan *p, bool create, int *ret) {
        bool made = false;
        int fd = create ? nodedir_make_replacing(store_output_fd(p->store), p->node, store_gid(p->store), &made)
                        : nodedir_open(store_output_fd(p->store), p->node);
        if (fd < 0)
                return fd;
        if (made)
                p->touched_output = true;
        *ret = fd;
        return 0;
}

/* <output_dir>/<node>/<type> in one call that refuses a symlink anywhere
 * on the way (-ELOOP for a planted one, as the step-by-step opens give):
 * publishing to a thousand nodes is mostly these opens. */
static int open_type_dir_beneath(NodePlan *p, TypeDir t) {
        char path[NAME_MAX + 16];
        snprintf(path, sizeof path, "%s/%s", p->node, type_dir_name(t));
        struct open_how how = {
                .flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC,
                .resolve = RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_BENEATH,
        };
        long fd = syscall(SYS_openat2, store_output_fd(p->store), path, &how, sizeof how);
        return fd < 0 ? -errno : (int) fd;
}

/* *node_fd is opened (creating the node directory) only when the type
 * directory is not there yet. */
static int publish_type(NodePlan *p, int *node_fd, TypeDir t, bool intermediate) {
        if (!p->dirs[t].publish)
                return 0;
        _cleanup_close_ int fd = open_type_dir_beneath(p, t);
        /* -ELOOP, -ENOTDIR: a symlink or a file planted at the node's or the
         * type's name, replaced step by step below */
        if (fd == -ENOENT || fd == -ENOSYS || fd == -ELOOP || fd == -ENOTDIR) {
                if (*node_fd < 0) {
                        int r = open_node(p, true, node_fd);
                        if (r < 0)
                                return r;
                }
                bool made = false;
                fd = nodedir_make_replacing(*node_fd, type_dir_name(t), store_gid(p->store), &made);
                if (made)
                        p->touched_node = true;
        }
        if (fd < 0)
                return fd;
        return p->mode == PUBLISH_MODE_WATCHED_DIRECTORY ? publish_watched(p, t, fd, intermediate)
                                                         : publish_rename(p, t, fd, intermediate);
}

static int remove_type(NodePlan *p, int node_fd, TypeDir t) {
        PlanDir *d = &p->dirs[t];
        if (!d->remove)
                return 0;
        _cleanup_close_ int fd = nodedir_open(node_fd, type_dir_name(t));
        if (fd == -ENOENT)
                return 0;
        if (fd < 0)
                return fd;
        _cleanup_close_ int gen_fd = -EBADF;
        if (d->gen_live) {
                gen_fd = nodedir_open(fd, d->gen_live);
                if (gen_fd < 0 && gen_fd != -ENOENT)
                        return gen_fd;
        }
        for (size_t i = 0; i < d->n; i++) {
                PlanFile *f = &d->files[i];
                if (f->state != FILE_REMOVED)
                        continue;
                if (unlinkat(fd, f->name, 0) < 0 && errno != ENOENT)
                        return -errno;
                /* the link in the live generation: a subdirectory, which no
                 * Envoy watches, so this is no event for anyone */
                if (f->live_in_gen && gen_fd >= 0 && unlinkat(gen_fd, f->name, 0) < 0 && errno != ENOENT)
                        return -errno;
                store_unlinked(p->store, f->live_ino);
                d->touched = true;
        }
        return 0;
}

/* Leftovers in a type directory: temporary names, "..data.tmp", generation
 * directories other than keep (NULL: all of them). */
static int prune_type_dir(Store *s, int fd, const char *keep, bool temporaries) {
        _cleanup_free_ DirReader *dir = xmalloc(sizeof(DirReader));
        nodedir_reader_init(dir, fd);
        int n = 0, r;
        struct dirent64 *de = NULL;
        while ((r = nodedir_read(dir, &de)) > 0) {
                if (nodedir_is_gen_name(de->d_name, NULL)) {
                        if (keep && streq(keep, de->d_name))
                                continue;
                        r = remove_gen_dir(s, fd, de->d_name);
                        if (r < 0)
                                return r;
                        n += r;
                } else if (temporaries && (startswith(de->d_name, TMP_PREFIX) || streq(de->d_name, DATA_TMP))) {
                        if (unlinkat(fd, de->d_name, 0) >= 0)
                                n++;
                        else if (errno == EISDIR && remove_gen_dir(s, fd, de->d_name) > 0)
                                n++;
                        else if (errno != ENOENT)
                                return -errno;
                }
        }
        if (r < 0)
                return r;
        return n;
}

/* rename mode after watched_directory mode: "..data" and the generations
 * go once no "*.pb" symlink points through them. */
static int take_down_watched_layout(Store *s, int fd) {
        _cleanup_free_ DirReader *dir = xmalloc(sizeof(DirReader));
        nodedir_reader_init(dir, fd);
        struct dirent64 *de = NULL;
        int r;
        while ((r = nodedir_read(dir, &de)) > 0) {
                struct stat st;
                if (nodedir_is_pb_name(de->d_name) && fstatat(fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) >= 0 &&
                    S_ISLNK(st.st_mode))
                        return 0;
        }
        if (r < 0)
                return r;
        if (unlinkat(fd, DATA_LINK, 0) < 0 && errno != ENOENT)
                return -errno;
        if (lseek(fd, 0, SEEK_SET) < 0)
                return -errno;
        return prune_type_dir(s, fd, NULL, false);
}

static int prune_type(NodePlan *p, int node_fd, TypeDir t) {
        PlanDir *d = &p->dirs[t];
        if (!d->prune)
                return 0;
        _cleanup_close_ int fd = nodedir_open(node_fd, type_dir_name(t));
        if (fd == -ENOENT)
                return 0;
        if (fd < 0)
                return fd;
        int r = p->mode == PUBLISH_MODE_WATCHED_DIRECTORY ? prune_type_dir(p->store, fd, d->gen_live, false)
                                                          : take_down_watched_layout(p->store, fd);
        if (r < 0)
                return r;
        d->touched = true;
        return 0;
}

static int run_phase(NodePlan *p, PublishPhase phase) {
        bool removal = phase == PUBLISH_PHASE_REMOVE_ROUTES || phase == PUBLISH_PHASE_REMOVE_FILES;
        int r;
        _cleanup_close_ int node_fd = -EBADF;
        if (removal) {
                r = open_node(p, false, &node_fd);
                if (r == -ENOENT)
                        return 0;
                if (r < 0)
                        return r;
        } else {
                /* every plan's new objects reach the disk before the first is linked */
                r = store_sync(p->store, false);
                if (r < 0)
                        return r;
        }

        switch (phase) {
        case PUBLISH_PHASE_SDS:
                return publish_type(p, &node_fd, TYPE_DIR_SDS, false);
        case PUBLISH_PHASE_EDS:
                return publish_type(p, &node_fd, TYPE_DIR_EDS, false);
        case PUBLISH_PHASE_CDS:
                return publish_type(p, &node_fd, TYPE_DIR_CDS, p->cds_intermediate[0] != 0);
        case PUBLISH_PHASE_RDS:
                r = publish_type(p, &node_fd, TYPE_DIR_RDS, false);
                return r < 0 ? r : publish_type(p, &node_fd, TYPE_DIR_SRDS, false);
        case PUBLISH_PHASE_LDS:
                return publish_type(p, &node_fd, TYPE_DIR_LDS, false);
        case PUBLISH_PHASE_RTDS:
                return publish_type(p, &node_fd, TYPE_DIR_RTDS, false);
        case PUBLISH_PHASE_REMOVE_ROUTES:
                r = remove_type(p, node_fd, TYPE_DIR_RDS);
                return r < 0 ? r : remove_type(p, node_fd, TYPE_DIR_SRDS);
        case PUBLISH_PHASE_CDS_FINAL:
                return publish_type(p, &node_fd, TYPE_DIR_CDS, false);
        case PUBLISH_PHASE_REMOVE_FILES:
                for (TypeDir t = 0; t < _TYPE_DIR_MAX; t++)
                        if (type_dirs[t].remove_phase == PUBLISH_PHASE_REMOVE_FILES) {
                                r = remove_type(p, node_fd, t);
                                if (r < 0)
                                        return r;
                        }
                for (TypeDir t = 0; t < _TYPE_DIR_MAX; t++) {
                        r = prune_type(p, node_fd, t);
                        if (r < 0)
                                return r;
                }
                return 0;
        default:
                assert(false);
                return -EINVAL;
        }
}

int node_plan_run_phase(NodePlan *p, PublishPhase phase) {
        assert(p);
        assert(phase >= 0 && phase < _PUBLISH_PHASE_MAX);
        if (!p->phases[phase])
                return 0;
        if (p->error < 0)
                return -ECANCELED;
        int r = run_phase(p, phase);
        if (r < 0) {
                p->error = r;
                p->failed_phase = phase;
        }
        return r;
}

int node_plan_error(const NodePlan *p) {
        return p->error;
}

PublishPhase node_plan_failed_phase(const NodePlan *p) {
        return p->error < 0 ? p->failed_phase : _PUBLISH_PHASE_INVALID;
}

int publish_finish(Store *s, NodePlan **plans, size_t n) {
        assert(s);
        assert(plans || n == 0);
        bool touched = false;
        for (size_t i = 0; i < n && !touched; i++) {
                NodePlan *p = plans[i];
                if (!p)
                        continue;
                touched = p->touched_output || p->touched_node;
                for (TypeDir t = 0; t < _TYPE_DIR_MAX; t++)
                        touched = touched || p->dirs[t].touched;
        }
        /* The directories' new entries, in one batch. One syncfs(2) beats an
         * fsync of each touched directory by far: on ext4 each directory
         * fsync costs a cache flush even when its journal commit is done
         * (1,000 directories: ~2 s against ~50-100 ms); the price is that
         * syncfs also waits for what others wrote on the same filesystem. */
        int r = store_sync(s, touched);
        if (r < 0)
                return r;
        return store_collect(s);
}

/* Links in the live generation that no name of the type directory shows:
 * a removal phase cut short between the top name's unlink and its link's
 * in the generation. Nothing reads them; they only keep an object alive. */
static int prune_live_gen(int fd, const char *data) {
        _cleanup_close_ int gen_fd = nodedir_open(fd, data);
        if (gen_fd < 0)
                return gen_fd == -ENOENT || gen_fd == -ELOOP || gen_fd == -ENOTDIR ? 0 : gen_fd;
        _cleanup_free_ DirReader *dir = xmalloc(sizeof(DirReader));
        nodedir_reader_init(dir, gen_fd);
        struct dirent64 *de = NULL;
        int n = 0, r;
        while ((r = nodedir_read(dir, &de)) > 0) {
                struct stat st;
                if (fstatat(fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) >= 0 || errno != ENOENT)
                        continue;
                if (unlinkat(gen_fd, de->d_name, 0) < 0 && errno != ENOENT)
                        return -errno;
                n++;
        }
        return r < 0 ? r : n;
}

int publish_clean_node(const char *output_dir, const char *node) {
        assert(output_dir);
        assert(node);
        if (!node_id_is_valid(node))
                return -EINVAL;
        _cleanup_close_ int out_fd = open(output_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (out_fd < 0)
                return errno == ENOENT ? 0 : -errno;
        _cleanup_close_ int node_fd = nodedir_open(out_fd, node);
        if (node_fd == -ENOENT)
                return 0;
        if (node_fd < 0)
                return node_fd;
        /* the MANIFEST's and its signature's temporary names */
        int n = manifest_clean_tmp(node_fd);
        if (n < 0)
                return n;
        for (TypeDir t = 0; t < _TYPE_DIR_MAX; t++) {
                _cleanup_close_ int fd = nodedir_open(node_fd, type_dir_name(t));
                if (fd == -ENOENT)
                        continue;
                if (fd < 0)
                        return fd;
                _cleanup_free_ char *data = NULL;
                int r = nodedir_read_link(fd, DATA_LINK, &data);
                if (r < 0 && r != -ENOENT && r != -EINVAL)
                        return r;
                r = prune_type_dir(NULL, fd, data, true);
                if (r < 0)
                        return r;
                n += r;
                if (data && nodedir_is_gen_name(data, NULL)) {
                        r = prune_live_gen(fd, data);
                        if (r < 0)
                                return r;
                        n += r;
                }
        }
        return n;
}
