/* SPDX-License-Identifier: MIT */
/* What fsxdsd vouches for, kept current: each node directory's MANIFEST
 * (and MANIFEST.sig) made after a publish, checked at start, reload and
 * every verify_interval, signed again when the certificate changes; and,
 * with require_signed_sources, the source tree's signed MANIFEST checked
 * before anything is built from it. */
#include <fcntl.h>
#include <inttypes.h>
#include <sys/stat.h>
#include <time.h>

#include "hashmap.h"
#include "logging.h"
#include "sha256.h"
#include "state.h"
#include "manifest.h"
#include "publish.h"
#include "upkeep.h"

/* ---- manifests ---- */

/* Differences found in a node directory or a source tree. */
typedef struct Problems {
        const char *node;
        bool log;
        size_t n;
        char *first; /* "path: message" */
} Problems;

static void note_problem(void *userdata, const char *path, const char *message) {
        Problems *p = userdata;
        if (p->n++ == 0)
                p->first = xasprintf("%s: %s", path, message);
        if (p->log)
                log_warning(p->node, "%s: %s", path, message);
}

static int open_node_dir(State *st, const char *id) {
        int fd = openat(store_output_fd(st->store), id, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        return fd < 0 ? -errno : fd;
}

/* Remembers the current MANIFEST's and signature's bytes (by hash), which
 * the periodic check compares the directory's with. */
static void manifest_pair_sha(NodeState *ns, const void *data, size_t len, const void *sig, size_t sig_len) {
        ns->manifest_sha_pending = false;
        if (data)
                sha256_hex(data, len, ns->manifest_sha);
        if (sig)
                sha256_hex(sig, sig_len, ns->sig_sha);
        else
                ns->sig_sha[0] = 0;
}

/* The hash of the MANIFEST written last, taken from the disk when it is
 * still that one (its identity: inode, size, mtime, ctime; no write keeps
 * a ctime); one replaced since gets a hash no MANIFEST has. */
static void manifest_sha_settle(NodeState *ns, int node_fd) {
        if (!ns->manifest_sha_pending)
                return;
        ns->manifest_sha_pending = false;
        _cleanup_free_ char *data = NULL;
        size_t len;
        if (node_fd >= 0 && manifest_read_same(node_fd, &ns->manifest_id, &data, &len) >= 0)
                sha256_hex(data, len, ns->manifest_sha);
        else
                memset(ns->manifest_sha, 'x', 64);
}

/* A node not published in this run (a restart) takes the generation and
 * the time of publication from the MANIFEST that describes its files, and
 * its counts when it was not built (gone from the tree, or its build fails). */
static void adopt_generation(NodeState *ns, uint64_t generation, uint64_t created_usec, const Manifest *listed) {
        if (ns->generation == 0)
                ns->generation = generation;
        if (ns->published_usec == 0)
                ns->published_usec = created_usec;
        if (listed && ns->n_files == 0 && listed->n_files > 0) {
                ns->n_files = listed->n_files;
                for (size_t i = 0; i < listed->n_files; i++) {
                        const ManifestFile *f = &listed->files[i];
                        size_t n = f->names_json ? manifest_names_count(f->names_json) : 0;
                        if (streq(f->path, LAYOUT_LDS_FILE))
                                ns->n_listeners = n;
                        else if (streq(f->path, LAYOUT_CDS_FILE))
                                ns->n_clusters = n;
                }
        }
}

/* The MANIFEST there is current and stays: its digests and generation
 * taken as the node's. Returns true. */
static bool manifest_kept(NodeState *ns, const Manifest *listed, const void *data, size_t len, const void *sig,
                          size_t sig_len) {
        manifest_pair_sha(ns, data, len, sig, sig_len);
        adopt_generation(ns, listed->generation, listed->created_usec, listed);
        return true;
}

/* Fills in m's node, generation, time and schema. */
static void manifest_head(State *st, NodeState *ns, Manifest *m, uint64_t generation) {
        free(m->node);
        m->node = xstrdup(ns->id);
        m->kind = MANIFEST_KIND_NODE;
        m->generation = generation;
        /* when the files it describes were published (read back as the
         * node's PUBLISHED after a restart); now when not known */
        m->created_usec = ns->published_usec ? ns->published_usec : now_usec(CLOCK_REALTIME);
        free(m->schema_sha256);
        m->schema_sha256 = xstrdup(schema_fingerprint(st->schema));
}

/* Writes b as the node's MANIFEST, and its signature when signing is
 * configured: the signature first, so MANIFEST is the last thing of a
 * generation that changes. */
static int write_manifest_bytes(State *st, NodeState *ns, int node_fd, const Buf *b) {
        _cleanup_free_ uint8_t *sig = NULL;
        size_t sig_len = 0;
        int r = 0;
        ns->manifest_patchable = false;
        if (st->signer) {
                r = signer_sign(st->signer, b->data, b->len, &sig, &sig_len);
                if (r < 0)
                        log_error(ns->id, "cannot sign its MANIFEST; the previous one stays");
        }
        if (r >= 0) {
                /* made durable by one syncfs after all of them (upkeep_sync_manifests) */
                r = manifest_write_pair_id(node_fd, b->data, b->len, sig, sig_len, 0640, store_gid(st->store), false,
                                           &ns->manifest_id);
                if (r < 0) {
                        log_error(ns->id, "cannot write its MANIFEST: %s", strerror(-r));
                        /* like a failed publish: the retry rebuilds the node
                         * (its build at hand) and writes it, with no source change */
                        ns->publish_failed = true;
                } else {
                        /* its hash is taken when first needed (manifest_sha_settle()),
                         * off the path of a change; its identity says it is ours */
                        manifest_pair_sha(ns, NULL, 0, sig, sig_len);
                        ns->manifest_patchable = ns->manifest_sha_pending = true;
                        st->manifests_unsynced = true;
                }
        }
        return r;
}

/* Writes m (its files and links; node, generation, time and schema
 * filled in here) as the node's MANIFEST. */
static int write_manifest(State *st, NodeState *ns, int node_fd, Manifest *m, uint64_t generation) {
        manifest_head(st, ns, m, generation);
        Buf b = {};
        manifest_format(m, &b);
        int r = write_manifest_bytes(st, ns, node_fd, &b);
        buf_free(&b);
        return r;
}

/* ---- the MANIFEST of a build ---- */

/* A build's files described for its MANIFEST. */
typedef struct BuiltFiles {
        State *st;
        Manifest *m;
        size_t cap;
        int error;
        char *why;
} BuiltFiles;

static int cmp_file_path(const void *a, const void *b) {
        return strcmp(((const ManifestFile *) a)->path, ((const ManifestFile *) b)->path);
}

static int cmp_link_type(const void *a, const void *b) {
        return strcmp(((const ManifestLink *) a)->type, ((const ManifestLink *) b)->type);
}

static void add_built(BuiltFiles *b, const char *path, const char *sha256, const uint8_t *data, size_t len) {
        if (b->error < 0)
                return;
        ManifestFile f;
        int r = manifest_describe_built(b->st->describe, store_dirfd(b->st->store), path, sha256, data, len, &f);
        if (r < 0) {
                b->error = r;
                if (r == -EBADMSG) {
                        /* edited in place since it was planned: never signed, never linked again */
                        (void) store_check_object(b->st->store, sha256);
                        b->why = xasprintf("%s: its store object is no longer the bytes its build made", path);
                } else
                        b->why = xasprintf("%s: cannot read its store object: %s", path, strerror(-r));
                return;
        }
        if (b->m->n_files >= b->cap) {
                b->cap = b->cap ? 2 * b->cap : 16;
                b->m->files = xrealloc(b->m->files, b->cap * sizeof(ManifestFile));
        }
        b->m->files[b->m->n_files++] = f;
}

static void add_plan_file(void *userdata, const char *type, const char *name, const char object[65]) {
        BuiltFiles *b = userdata;
        _cleanup_free_ char *path = xasprintf("%s/%s", type, name);
        add_built(b, path, object, NULL, 0);
}

/* The files and links of the node's MANIFEST from what its build made
 * (memo) and its plan placed (plan: the store object of each file, the
 * generation each "..data" points to); a delta plan names only what
 * changed, and the memo is then the whole build. Nothing is read from the
 * node directory. */
int upkeep_built_manifest(State *st, const NodeMemo *memo, const NodePlan *plan, Manifest *ret, char **ret_why) {
        Manifest m = { .kind = MANIFEST_KIND_NODE };
        BuiltFiles b = { .st = st, .m = &m };
        if (!plan || !node_plan_foreach_file(plan, add_plan_file, &b)) {
                if (!memo || memo->n == 0) {
                        *ret_why = xstrdup("its build is not at hand");
                        return -ENODATA;
                }
                for (size_t i = 0; i < memo->n; i++)
                        add_built(&b, memo->files[i]->path, memo->files[i]->sha256, NULL, 0);
        }
        if (b.error < 0) {
                manifest_done(&m);
                *ret_why = b.why;
                return b.error;
        }
        if (m.n_files > 1)
                qsort(m.files, m.n_files, sizeof(ManifestFile), cmp_file_path);
        for (ResourceType t = 0; plan && t < _RESOURCE_TYPE_MAX; t++) {
                const char *type = resource_type_dir(t);
                const char *gen = type ? node_plan_data_link(plan, type) : NULL;
                if (!gen)
                        continue;
                m.links = xrealloc(m.links, (m.n_links + 1) * sizeof(ManifestLink));
                m.links[m.n_links++] = (ManifestLink) { xstrdup(type), xstrdup(gen) };
        }
        if (m.n_links > 1)
                qsort(m.links, m.n_links, sizeof(ManifestLink), cmp_link_type);
        *ret = m;
        return 0;
}

int upkeep_touched_manifest(State *st, const NodeState *ns, Manifest *ret, char **ret_why) {
        Manifest m = { .kind = MANIFEST_KIND_NODE };
        BuiltFiles b = { .st = st, .m = &m };
        for (size_t i = 0; i < ns->n_touched; i++) {
                const MemoFile *f = node_memo_find(&ns->memo, ns->touched[i]);
                if (f)
                        add_built(&b, f->path, f->sha256, NULL, 0);
        }
        if (b.error < 0) {
                manifest_done(&m);
                *ret_why = b.why;
                return b.error;
        }
        *ret = m;
        return 0;
}

/* After a publish planned from the memo: the MANIFEST there (the one this
 * process wrote) patched at the touched paths. -ESTALE when it is not. */
static int patch_manifest(State *st, NodeState *ns, int fd, char **ret_why) {
        if (!ns->planned_delta || !ns->manifest_patchable)
                return -ESTALE;
        _cleanup_free_ char *old = NULL;
        size_t len;
        int r = manifest_read_same(fd, &ns->manifest_id, &old, &len);
        if (r < 0) {
                /* what fsxdsd wrote is not there: said, and made again from the build */
                log_warning(ns->id, "its MANIFEST is not the one fsxdsd wrote (%s): altered behind its back; made again "
                            "from its build", r == -ESTALE ? "replaced or written to" : strerror(-r));
                ns->manifest_patchable = false;
                return -ESTALE;
        }
        Manifest head = {};
        r = upkeep_touched_manifest(st, ns, &head, ret_why);
        if (r < 0)
                return r;
        manifest_head(st, ns, &head, ns->generation);
        Buf b = {};
        r = manifest_patch(old, len, &head, ns->touched, ns->n_touched, &b);
        manifest_done(&head);
        if (r >= 0)
                r = write_manifest_bytes(st, ns, fd, &b) < 0 ? 1 : 0;
        buf_free(&b);
        return r < 0 ? -ESTALE : r;
}

/* One syncfs for the MANIFESTs written since the last one (a durable
 * output directory only), not an fsync for each file and directory. */
void upkeep_sync_manifests(State *st) {
        if (!st->manifests_unsynced)
                return;
        st->manifests_unsynced = false;
        int r = store_sync(st->store, true);
        if (r < 0)
                log_error(NULL, "cannot sync the MANIFESTs in %s: %s", st->config->output_dir, strerror(-r));
}

/* Reads and parses a directory's MANIFEST and MANIFEST.sig (*ret_sig NULL
 * without one). Returns 0, or -ENOENT when there is none, -EBADMSG when it
 * does not parse, -errno when unreadable, *ret_why saying which. */
static int read_manifest(int dir_fd, Manifest *ret, char **ret_data, size_t *ret_len, uint8_t **ret_sig,
                         size_t *ret_sig_len, char **ret_why) {
        _cleanup_free_ char *data = NULL, *error = NULL;
        _cleanup_free_ uint8_t *sig = NULL;
        size_t len = 0, sig_len = 0;
        int r = manifest_read_pair(dir_fd, &data, &len, &sig, &sig_len);
        if (r < 0) {
                *ret_why = r == -ENOENT ? xstrdup("MANIFEST is missing") : xasprintf("cannot read MANIFEST: %s", strerror(-r));
                return r;
        }
        Manifest listed = {};
        r = manifest_parse(data, len, &listed, &error);
        if (r < 0) {
                manifest_done(&listed);
                *ret_why = xasprintf("MANIFEST: %s", error);
                return -EBADMSG;
        }
        *ret = listed;
        *ret_data = TAKE_PTR(data);
        *ret_len = len;
        *ret_sig = TAKE_PTR(sig);
        *ret_sig_len = sig_len;
        return 0;
}

/* Says w once: every rebuild tries again. */
static void manifest_warning(NodeState *ns, const char *w) {
        uint64_t h = hash_bytes(w, strlen(w));
        if (h != ns->manifest_warning)
                log_warning(ns->id, "%s", w);
        ns->manifest_warning = h;
}

static bool listed_is_current(State *st, NodeState *ns, const Manifest *listed, const char *data, size_t len,
                              const uint8_t *sig, size_t sig_len, char **ret_sig_error) {
        if (listed->kind != MANIFEST_KIND_NODE || !streq(listed->node, ns->id) ||
            !streq(listed->schema_sha256, schema_fingerprint(st->schema)))
                return false;
        return st->signer ? sig && signature_verify(data, len, sig, sig_len, NULL, st->signer, NULL, ret_sig_error) >= 0
                          : !sig;
}

bool upkeep_manifest_from_build(State *st, NodeState *ns, const NodePlan *plan, bool published) {
        _cleanup_close_ int fd = open_node_dir(st, ns->id);
        if (fd < 0) {
                ns->manifest_ok = fd == -ENOENT && !published; /* nothing to vouch for */
                return ns->manifest_ok;
        }
        if (published) {
                _cleanup_free_ char *patch_why = NULL;
                int k = patch_manifest(st, ns, fd, &patch_why);
                if (k >= 0) {
                        /* written (0), or its write failed (1: said, retried) */
                        ns->manifest_ok = k == 0;
                        if (k == 0)
                                ns->manifest_warning = 0;
                        return ns->manifest_ok;
                }
                if (k != -ESTALE)
                        log_debug(ns->id, "its MANIFEST is made whole: %s", patch_why ? patch_why : strerror(-k));
        }
        Manifest built = {}, listed = {};
        _cleanup_free_ char *why = NULL, *data = NULL, *listed_why = NULL, *sig_error = NULL;
        _cleanup_free_ uint8_t *sig = NULL;
        size_t len = 0, sig_len = 0;
        bool ok = false, same = false;
        int r = upkeep_built_manifest(st, &ns->memo, plan, &built, &why);
        if (r < 0) {
                _cleanup_free_ char *w = xasprintf("not signing its directory: %s; it is built and published again", why);
                manifest_warning(ns, w);
                /* the next verification pass starts that rebuild */
                node_forget_memo(st, ns);
                ns->force_rebuild = true;
                goto done;
        }
        if (!published && read_manifest(fd, &listed, &data, &len, &sig, &sig_len, &listed_why) >= 0) {
                same = manifest_compare(&listed, &built, NULL, NULL) == 0;
                if (same && listed_is_current(st, ns, &listed, data, len, sig, sig_len, &sig_error)) {
                        ok = manifest_kept(ns, &listed, data, len, sig, sig_len);
                        goto done;
                }
        }
        uint64_t gen = published        ? ns->generation
                       : same           ? listed.generation
                       : ns->generation ? ns->generation
                                        : st->generation;
        ok = write_manifest(st, ns, fd, &built, gen) >= 0;
        if (ok && !published)
                log_info(ns->id, "%s (generation %" PRIu64 ")",
                         !same        ? "MANIFEST made for its build, which its directory holds"
                         : st->signer ? "MANIFEST signed again: the signing certificate or the schema changed"
                                      : "MANIFEST made again, unsigned: signing is off",
                         gen);
        adopt_generation(ns, gen, same ? listed.created_usec : 0, same ? &listed : NULL);
done:
        manifest_done(&built);
        manifest_done(&listed);
        ns->manifest_ok = ok;
        if (ok)
                ns->manifest_warning = 0;
        return ok;
}

/* Makes the node's MANIFEST current without its build at hand (the
 * signing pair changed, the node's build failed). The one there is kept
 * when it lists what the directory holds, names the node and the schema,
 * and is signed by the current certificate (or not signed, without one).
 * When only the signature is not current, that MANIFEST is signed again,
 * provided fsxdsd wrote it in this run or the previous certificate signed
 * it, and the directory still holds what it lists. Anything else waits
 * for the node's build: a MANIFEST is never made from the directory, so
 * bytes altered behind fsxdsd's back are never signed. */
static bool ensure_manifest(State *st, NodeState *ns) {
        _cleanup_close_ int fd = open_node_dir(st, ns->id);
        if (fd < 0) {
                ns->manifest_ok = fd == -ENOENT; /* nothing to vouch for */
                return ns->manifest_ok;
        }
        Problems p = { .node = ns->id };
        Manifest scanned = {}, listed = {};
        /* here: the gotos below jump past later declarations */
        _cleanup_free_ char *data = NULL, *why = NULL, *sig_error = NULL, *prev_error = NULL;
        _cleanup_free_ uint8_t *sig = NULL;
        size_t len = 0, sig_len = 0;
        bool ok = false;
        manifest_scan_node(fd, st->describe, note_problem, &p, &scanned);
        (void) read_manifest(fd, &listed, &data, &len, &sig, &sig_len, &why); /* why says it */
        bool same = !why && listed.kind == MANIFEST_KIND_NODE && streq(listed.node, ns->id) && p.n == 0 &&
                    streq(listed.schema_sha256, schema_fingerprint(st->schema)) &&
                    manifest_compare(&listed, &scanned, NULL, NULL) == 0;
        if (same && listed_is_current(st, ns, &listed, data, len, sig, sig_len, &sig_error)) {
                ok = manifest_kept(ns, &listed, data, len, sig, sig_len);
                goto done;
        }
        char sha[65] = "";
        if (same)
                sha256_hex(data, len, sha);
        manifest_sha_settle(ns, fd);
        bool ours = same && ns->manifest_sha[0] && streq(sha, ns->manifest_sha);
        bool by_previous = same && sig && st->previous_signer &&
                           signature_verify(data, len, sig, sig_len, NULL, st->previous_signer, NULL, &prev_error) >= 0;
        if (ours || by_previous) {
                uint64_t gen = listed.generation, created = listed.created_usec;
                ok = write_manifest(st, ns, fd, &listed, gen) >= 0;
                if (ok)
                        log_info(ns->id, "%s (generation %" PRIu64 ")",
                                 st->signer ? "MANIFEST signed again: the signing certificate changed"
                                            : "MANIFEST made again, unsigned: signing is off",
                                 gen);
                adopt_generation(ns, gen, created, NULL);
        } else {
                _cleanup_free_ char *w =
                        same ? xasprintf("its MANIFEST is not signed by the current certificate (%s), and fsxdsd has "
                                         "not checked its files in this run; they are signed again once it builds",
                                         sig_error ? sig_error : "no signature")
                             : xasprintf("its directory differs from its MANIFEST (%s) and its build is not at hand "
                                         "(the node has errors, or was not built in this run); not signing it",
                                         why ? why : p.first ? p.first : "other files, or another schema");
                manifest_warning(ns, w);
        }
done:
        manifest_done(&scanned);
        manifest_done(&listed);
        free(p.first);
        ns->manifest_ok = ok;
        if (ok)
                ns->manifest_warning = 0;
        return ok;
}

/* At start and on reload: each node directory against its MANIFEST, every
 * difference logged. The rebuild that follows plans from the disk, so
 * what was altered behind fsxdsd's back is published again. */
void upkeep_verify_outputs(State *st) {
        for (size_t i = 0; i < st->n_nodes; i++) {
                NodeState *ns = st->nodes[i];
                _cleanup_close_ int fd = open_node_dir(st, ns->id);
                if (fd < 0)
                        continue;
                Manifest listed = {}, scanned = {};
                _cleanup_free_ char *data = NULL, *why = NULL, *sig_error = NULL;
                _cleanup_free_ uint8_t *sig = NULL;
                size_t len = 0, sig_len = 0;
                if (read_manifest(fd, &listed, &data, &len, &sig, &sig_len, &why) < 0) {
                        log_warning(ns->id, "%s; a new one is made after the rebuild", why);
                        continue;
                }
                if (!streq(listed.node, ns->id))
                        log_warning(ns->id, "its MANIFEST is node %s's", listed.node);
                if (sig && st->signer &&
                    signature_verify(data, len, sig, sig_len, NULL, st->signer, NULL, &sig_error) < 0)
                        log_info(ns->id, "MANIFEST.sig: %s", sig_error);
                Problems p = { .node = ns->id, .log = true };
                manifest_scan_node(fd, st->describe, note_problem, &p, &scanned);
                manifest_compare(&listed, &scanned, note_problem, &p);
                if (p.n > 0)
                        log_warning(ns->id, "%zu differences from its MANIFEST (generation %" PRIu64
                                    "): altered behind fsxdsd's back; what differs from its build is published again",
                                    p.n, listed.generation);
                else if (ns->generation == 0 && streq(listed.node, ns->id))
                        ns->generation = listed.generation;
                st->metrics.manifest_verification_failures += p.n > 0;
                free(p.first);
                manifest_done(&listed);
                manifest_done(&scanned);
        }
}

/* Every MANIFEST that is not known to be current made so. */
void upkeep_ensure_manifests(State *st) {
        bool all = true;
        for (size_t i = 0; i < st->n_nodes; i++)
                if (st->nodes[i]->publish_failed && !st->nodes[i]->manifest_ok)
                        all = false; /* its retry builds it and writes its MANIFEST */
                else if (!st->nodes[i]->manifest_ok)
                        all = ensure_manifest(st, st->nodes[i]) && all;
        upkeep_sync_manifests(st);
        if (all)
                st->previous_signer = signer_free(st->previous_signer);
}

static int cmp_scanned_path(const void *key, const void *f) {
        return strcmp(key, ((const ManifestFile *) f)->path);
}

/* What the check found altered, looked at again: the store object of a
 * listed file whose bytes or mode changed is re-hashed (a file edited in
 * place, or chmodded, is a link of it): one that is no longer its digest
 * is dropped from the store (its name goes into poisoned), a wrong mode
 * is put right. The node is then planned from the disk and what differs
 * is published again from its build. */
static void recheck_altered(State *st, const Manifest *listed, const Manifest *scanned, Problems *p, Hashmap *poisoned) {
        for (size_t i = 0; i < scanned->n_files; i++) {
                const ManifestFile *f = &scanned->files[i];
                const ManifestFile *l = listed->n_files ? bsearch(f->path, listed->files, listed->n_files,
                                                                  sizeof(ManifestFile), cmp_scanned_path)
                                                        : NULL;
                bool mode_wrong = f->mode != 0 && f->mode != STORE_OBJECT_MODE;
                if (mode_wrong) {
                        _cleanup_free_ char *m = xasprintf("mode %04o, not %04o", f->mode, STORE_OBJECT_MODE);
                        note_problem(p, f->path, m);
                }
                if (!l || (!mode_wrong && l->size == f->size && streq(l->sha256, f->sha256)))
                        continue;
                int r = store_check_object(st->store, l->sha256);
                if (r < 0)
                        log_warning(p->node, "%s: cannot check its store object %s: %s", f->path, l->sha256, strerror(-r));
                else if (r > 0) {
                        log_warning(p->node, "%s: edited in place, and with it its store object %s, which every node "
                                    "linking it shares: dropped from the store", f->path, l->sha256);
                        if (!hashmap_get(poisoned, l->sha256, 64))
                                hashmap_put(poisoned, xstrdup(l->sha256), 64, (void *) 1);
                }
        }
}

static bool memo_links(const NodeState *ns, const Hashmap *poisoned) {
        for (size_t i = 0; i < ns->memo.n; i++)
                if (hashmap_get(poisoned, ns->memo.files[i]->sha256, 64))
                        return true;
        return false;
}

/* Entries of a node directory that fsxdsd did not make. */
typedef struct Strays {
        size_t n;
        Buf names; /* "a, b, ..." (the first STRAYS_NAMED) */
} Strays;

#define STRAYS_NAMED 16

static void note_stray(void *userdata, const char *path, const char *message) {
        Strays *s = userdata;
        if (s->n++ < STRAYS_NAMED)
                buf_printf(&s->names, "%s%s", s->n > 1 ? ", " : "", path);
}

/* Reported, left alone (they may be an operator's): said once for each
 * set of them. */
static void report_strays(NodeState *ns, int node_fd) {
        Strays s = {};
        manifest_scan_strays(node_fd, note_stray, &s);
        uint64_t h = s.n ? hash_bytes(s.names.data, s.names.len) * 31 + s.n : 0;
        if (h != ns->stray_warning && s.n > 0)
                log_warning(ns->id, "%zu %s in its directory %s not fsxdsd's; left alone: %.*s%s", s.n,
                            s.n == 1 ? "entry" : "entries", s.n == 1 ? "is" : "are", (int) s.names.len,
                            (const char *) s.names.data, s.n > STRAYS_NAMED ? ", ..." : "");
        ns->stray_warning = h;
        buf_free(&s.names);
}

/* Marks the node to be built and planned from the disk at once. */
static void node_altered(State *st, NodeState *ns) {
        node_forget_memo(st, ns);
        ns->force_rebuild = true;
        ns->manifest_ok = ns->live_verified = false;
        st->metrics.manifest_verification_failures++;
}

/* verify_interval: every node whose MANIFEST is current is compared with
 * its directory: MANIFEST and MANIFEST.sig with the bytes fsxdsd wrote,
 * the files with MANIFEST (a stat each: files are read again only when
 * their inode, size or mtime changed) and their mode. What differs is
 * re-hashed (recheck_altered()). A node that differs, or that links a
 * store object found edited in place, is built and planned from the disk
 * at once, which publishes again what differs, and gets a new MANIFEST
 * made from its build. Entries fsxdsd did not make are reported once. */
bool upkeep_check_outputs_slice(State *st, uint64_t budget_usec, size_t *ret_n_altered) {
        VerifyPass *v = &st->verify;
        if (!v->running)
                *v = (VerifyPass) { .running = true };
        uint64_t start = now_usec(CLOCK_MONOTONIC);
        v->n_slices++;
        for (size_t done = 0; v->next < st->n_nodes; v->next++, done++) {
                if (done > 0 && (done >= VERIFY_SLICE_NODES || now_usec(CLOCK_MONOTONIC) - start >= budget_usec))
                        return false; /* the loop runs; the pass goes on from v->next */
                NodeState *ns = st->nodes[v->next];
                if (ns->force_rebuild && ns->present) {
                        /* its MANIFEST could not be made from its build */
                        v->n_altered++;
                        continue;
                }
                if (!ns->manifest_ok)
                        continue;
                _cleanup_close_ int fd = open_node_dir(st, ns->id);
                manifest_sha_settle(ns, fd);
                if (!ns->manifest_sha[0])
                        continue;
                _cleanup_free_ char *data = NULL, *error = NULL;
                _cleanup_free_ uint8_t *sig = NULL;
                size_t len = 0, sig_len = 0;
                Problems p = { .node = ns->id, .log = true };
                int r = fd < 0 ? fd : manifest_read_pair(fd, &data, &len, &sig, &sig_len);
                char sha[65], sig_sha[65] = "";
                if (r < 0)
                        note_problem(&p, MANIFEST_NAME, r == -ENOENT ? "missing" : strerror(-r));
                else {
                        sha256_hex(data, len, sha);
                        if (sig)
                                sha256_hex(sig, sig_len, sig_sha);
                }
                Manifest listed = {}, scanned = {};
                if (r < 0)
                        ;
                else if (!streq(sha, ns->manifest_sha))
                        note_problem(&p, MANIFEST_NAME, "replaced: not the one fsxdsd wrote");
                else if (!streq(sig_sha, ns->sig_sha))
                        note_problem(&p, MANIFEST_SIG_NAME, sig ? "replaced: not the one fsxdsd wrote" : "missing");
                /* the files against the MANIFEST fsxdsd wrote */
                if (r >= 0 && streq(sha, ns->manifest_sha) && manifest_parse(data, len, &listed, &error) >= 0) {
                        manifest_scan_node(fd, st->describe, note_problem, &p, &scanned);
                        manifest_compare(&listed, &scanned, note_problem, &p);
                        recheck_altered(st, &listed, &scanned, &p, &v->poisoned);
                }
                if (fd >= 0)
                        report_strays(ns, fd);
                manifest_done(&listed);
                manifest_done(&scanned);
                free(p.first);
                if (p.n == 0)
                        continue;
                log_warning(ns->id, "%zu differences from what fsxdsd published: altered behind its back; publishing it again",
                            p.n);
                node_altered(st, ns);
                v->n_altered++;
        }
        /* every node that links a dropped object: its bytes were those too */
        if (v->poisoned.n > 0)
                for (size_t i = 0; i < st->n_nodes; i++) {
                        NodeState *ns = st->nodes[i];
                        if (ns->force_rebuild || !ns->present || (ns->memo.n > 0 && !memo_links(ns, &v->poisoned)))
                                continue;
                        node_altered(st, ns);
                        v->n_altered++;
                }
        *ret_n_altered = v->n_altered;
        log_debug(NULL, "verification pass: %zu node%s checked in %zu slice%s, %zu altered", st->n_nodes,
                  st->n_nodes == 1 ? "" : "s", v->n_slices, v->n_slices == 1 ? "" : "s", v->n_altered);
        upkeep_verify_pass_done(st);
        return true;
}

void upkeep_verify_pass_done(State *st) {
        VerifyPass *v = &st->verify;
        for (size_t i = 0; i < v->poisoned.cap; i++)
                free((char *) v->poisoned.entries[i].key);
        hashmap_free(&v->poisoned);
        *v = (VerifyPass) {};
}

size_t upkeep_check_outputs(State *st) {
        size_t n_altered = 0;
        upkeep_verify_pass_done(st);
        while (!upkeep_check_outputs_slice(st, UINT64_MAX, &n_altered))
                ;
        return n_altered;
}


/* ---- signed sources ---- */

static int cmp_manifest_path(const void *key, const void *f) {
        return strcmp(key, ((const ManifestFile *) f)->path);
}

typedef struct CacheCheck {
        const Manifest *listed;
        Problems *problems;
} CacheCheck;

static void check_cached_file(void *userdata, const char *rel, const char *sha256) {
        CacheCheck *c = userdata;
        const ManifestFile *f = bsearch(rel, c->listed->files, c->listed->n_files, sizeof(ManifestFile), cmp_manifest_path);
        if (!f)
                note_problem(c->problems, rel, "not listed in the signed MANIFEST");
        else if (!streq(f->sha256, sha256))
                note_problem(c->problems, rel, "changed after its signature was checked");
}

/* require_signed_sources: the tree's MANIFEST must verify against the CA
 * and list exactly the source files there are, byte for byte. Returns 0
 * when it does (*ret_listed the MANIFEST), else -ENOENT (no MANIFEST or no
 * signature), -EBADMSG (it does not verify, parse or match) or -errno,
 * *ret_why saying why. */
static int sources_refusal(State *st, Manifest *ret_listed, char **ret_why) {
        const char *dir = st->config->source_dir, *ca = st->config->require_signed_sources_ca;
        _cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0) {
                int r = -errno;
                *ret_why = xasprintf("cannot open %s: %s", dir, strerror(-r));
                return r;
        }
        _cleanup_free_ char *data = NULL, *error = NULL;
        _cleanup_free_ uint8_t *sig = NULL;
        size_t len = 0, sig_len = 0;
        int r = manifest_read_pair(fd, &data, &len, &sig, &sig_len);
        if (r < 0) {
                *ret_why = r == -ENOENT ? xasprintf("%s/MANIFEST is missing: sign the tree with fsxds sign", dir)
                                        : xasprintf("cannot read %s/MANIFEST: %s", dir, strerror(-r));
                return r;
        }
        if (!sig) {
                *ret_why = xasprintf("%s/MANIFEST.sig is missing: sign the tree with fsxds sign", dir);
                return -ENOENT;
        }
        if (signature_verify(data, len, sig, sig_len, ca, NULL, NULL, &error) < 0) {
                *ret_why = xasprintf("%s/MANIFEST.sig does not verify against %s: %s", dir, ca, error);
                return -EBADMSG;
        }
        Manifest listed = {};
        if (manifest_parse(data, len, &listed, &error) < 0) {
                manifest_done(&listed);
                *ret_why = xasprintf("%s/MANIFEST: %s", dir, error);
                return -EBADMSG;
        }
        if (listed.kind != MANIFEST_KIND_SOURCE) {
                manifest_done(&listed);
                *ret_why = xasprintf("%s/MANIFEST is a node directory's, not a source tree's", dir);
                return -EBADMSG;
        }
        Manifest scanned = {};
        Problems p = {};
        r = manifest_scan_sources(dir, note_problem, &p, &scanned);
        if (r >= 0)
                manifest_compare(&listed, &scanned, note_problem, &p);
        manifest_done(&scanned);
        _cleanup_free_ char *first = p.first;
        if (r < 0 || p.n > 0) {
                manifest_done(&listed);
                *ret_why = r < 0 ? xasprintf("cannot read %s: %s", dir, strerror(-r))
                                 : xasprintf("%zu source files differ from the signed MANIFEST (first: %s)", p.n, first);
                return r < 0 ? r : -EBADMSG;
        }
        *ret_listed = listed;
        return 0;
}

/* Refreshes the source cache; with require_signed_sources only from a
 * tree whose signature verifies, and only when what was compiled is what
 * was signed. A refused tree is not built: every node keeps its output. */
bool upkeep_refresh_sources(State *st, int *ret_changed) {
        const char *ca = st->config->require_signed_sources_ca;
        Manifest listed = {};
        char *why = NULL;
        if (ca)
                (void) sources_refusal(st, &listed, &why); /* why says it */
        *ret_changed = 0;
        if (!why) {
                *ret_changed = source_cache_refresh(st->cache, st->config->source_dir, NULL);
                if (*ret_changed < 0) {
                        _cleanup_free_ char *reason = unreadable_reason(st->config->source_dir, *ret_changed);
                        /* once, not at every rescan while it lasts */
                        if (!st->sources_error || !streq(st->sources_error, reason))
                                log_error(NULL, "%s; every node keeps its last good output", reason);
                }
                Problems p = {};
                CacheCheck c = { &listed, &p };
                if (ca)
                        source_cache_foreach_file(st->cache, check_cached_file, &c);
                if (p.n > 0)
                        why = xasprintf("%zu source files differ from the signed MANIFEST (first: %s)", p.n, p.first);
                free(p.first);
        }
        manifest_done(&listed);
        if (why) {
                if (!st->sources_error || !streq(st->sources_error, why))
                        log_error(NULL, "source tree refused: %s; every node keeps its last good output", why);
                free(st->sources_error);
                st->sources_error = why;
                /* what the cache now holds was not built: build all from it later */
                st->recheck_all = true;
                for (size_t i = 0; i < st->n_nodes; i++)
                        node_forget_memo(st, st->nodes[i]);
                return false;
        }
        if (st->sources_error)
                log_info(NULL, startswith(st->sources_error, SOURCES_UNREADABLE) ? "the source tree %s can be read again"
                                                                                : "the source tree's signature verifies again",
                         st->config->source_dir);
        free(st->sources_error);
        st->sources_error = NULL;
        return true;
}

char *unreadable_reason(const char *source_dir, int error) {
        /* the listing says how, not where: find the directory that fails */
        _cleanup_close_ int root = open(source_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (root < 0)
                return xasprintf(SOURCES_UNREADABLE " %s: %s", source_dir,
                                 errno == ENOENT ? "it does not exist (waiting for it)" : strerror(errno));
        static const char *const subdirs[] = { "nodes", "common" };
        for (size_t i = 0; i < ELEMENTSOF(subdirs); i++) {
                struct stat sb;
                if (fstatat(root, subdirs[i], &sb, 0) < 0) {
                        if (errno == ENOENT)
                                continue;
                } else if (!S_ISDIR(sb.st_mode))
                        return xasprintf(SOURCES_UNREADABLE " %s: %s/ is not a directory", source_dir, subdirs[i]);
                else {
                        _cleanup_close_ int fd = openat(root, subdirs[i], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                        if (fd >= 0)
                                continue;
                }
                return xasprintf(SOURCES_UNREADABLE " %s: %s/: %s", source_dir, subdirs[i], strerror(errno));
        }
        return xasprintf(SOURCES_UNREADABLE " %s: %s", source_dir, strerror(-error));
}

/* Loads signing's pair; the one in use before stays as previous_signer
 * until every MANIFEST is signed with the new one. A refused pair fails. */
int upkeep_load_signer(State *st) {
        const SigningConfig *c = st->config->signing;
        Signer *s = NULL;
        if (c) {
                _cleanup_free_ char *error = NULL;
                int r = signer_load(c->key, c->cert, c->chain, &error, &s);
                if (r < 0) {
                        log_error(NULL, "signing: %s", error ? error : strerror(-r));
                        return r;
                }
        }
        if (s && signer_same(s, st->signer)) {
                signer_free(s);
                return 0;
        }
        if (s) {
                time_t t = (time_t) signer_not_after(s);
                struct tm tm;
                char when[32] = "?";
                if (gmtime_r(&t, &tm))
                        strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S UTC", &tm);
                log_info(NULL, "signing MANIFESTs as %s (certificate valid until %s)", signer_subject(s), when);
        } else if (st->signer)
                log_info(NULL, "MANIFESTs are no longer signed");
        if (st->signer) {
                signer_free(st->previous_signer);
                st->previous_signer = st->signer;
        }
        st->signer = s;
        for (size_t i = 0; i < st->n_nodes; i++)
                st->nodes[i]->manifest_ok = false;
        return 0;
}
