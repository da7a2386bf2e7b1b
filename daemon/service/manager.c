/* SPDX-License-Identifier: MIT */
/* fsxdsd's manager: the sd-event loop and the rebuild cycle. A change in
 * the source tree arms the settle timer; when it fires, the source cache is
 * refreshed (only changed files are compiled again), every node is built,
 * checked against the removal guard, planned against what is live, and
 * published phase by phase for all nodes together, pausing between phases.
 * A node whose inputs have errors keeps its last good generation. */
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <grp.h>
#include <signal.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-event.h>
#include <time.h>

#include "hashmap.h"
#include "logging.h"
#include "manager.h"
#include "manifest.h"
#include "publish.h"
#include "sign.h"
#include "store.h"
#include "watch.h"
#include "wire.h"

typedef struct NodeState {
        char *id;
        bool present;         /* in the tree or the config at the last rebuild */
        bool present_before;  /* built at least once since start while present */
        uint64_t generation;  /* of its last publish */
        uint64_t published_usec;
        size_t n_files, n_listeners, n_clusters;
        bool removal_blocked;
        bool state_checked;   /* its state_dir copy was compared since start */
        Diag error;           /* the first error of the last build; message NULL when good */
        size_t n_errors;
        uint64_t diag_fingerprint;
        /* its last good build, which the next one starts from (under
         * MEMO_BUDGET), made after refresh memo_seq */
        NodeOutput memo;
        uint64_t memo_seq;
        size_t memo_bytes;
        bool live_known;      /* its output directory holds memo as this process published it */
        bool state_known;     /* and so does its state_dir copy */
        bool live_verified;   /* its output directory holds what its last good build made (checked by a plan) */
        bool manifest_ok;     /* its MANIFEST (and MANIFEST.sig) are current */
        char manifest_sha[65], sig_sha[65]; /* of the current ones ("" without a signature) */
        bool force_rebuild;   /* its directory was altered: build and plan it from the disk */
        uint64_t manifest_warning; /* hash of the last warning about its MANIFEST: said once */
} NodeState;

/* What the memos of all nodes may hold. A memo costs about 100 bytes a
 * file plus its per-node files' bytes (the lds/cds/srds files and wired
 * route configurations; one-resource files are shared with the source
 * cache): a few thousand files for one node, or ten files for each of a
 * thousand nodes. Nodes past it are built whole and planned from the disk. */
#define MEMO_BUDGET (4u << 20)

struct Manager {
        sd_event *event;
        char *config_path;
        Config *config;
        Schema *schema;
        SourceCache *cache;
        Store *store;       /* <output_dir>/.store */
        Store *state_store; /* <state_dir>/nodes/.store: last good copies */
        char *state_nodes_dir;
        Watch *watch;
        gid_t gid;
        sd_event_source *watch_source;
        sd_event_source *settle_timer;
        uint64_t burst_start;
        bool settle_armed;
        uint64_t generation;
        uint64_t last_rebuild_usec;
        bool recheck_all;   /* build every node (start, reload), not only changed ones */
        int allow_fd;       /* inotify on <state_dir>/allow-removal */
        sd_event_source *allow_source;
        NodeState **nodes; /* pointers stay valid while the array grows */
        size_t n_nodes;
        size_t memo_bytes;  /* of all nodes' memos */
        uint64_t host_address_fingerprint; /* of the last reported nodes binding one address */
        Hashmap node_index; /* id → NodeState */
        bool watchdog;
        Signer *signer;          /* NULL: MANIFESTs are not signed */
        Signer *previous_signer; /* until every MANIFEST is signed by signer */
        DescribeCache *describe; /* published files already hashed and parsed */
        int signing_fd;          /* inotify on the directories of the key, cert and chain */
        sd_event_source *signing_source, *signing_timer;
        sd_event_source *verify_timer; /* verify_interval */
        char *sources_error;     /* require_signed_sources: why the tree was refused; NULL: accepted */
        uint64_t manifest_usec;  /* spent on MANIFESTs by the last rebuild */
        const char *reload_error; /* why the last reload was not taken; NULL: it was */
        bool manifests_unsynced; /* MANIFESTs written since the last syncfs */
        uint64_t publish_usec;   /* spent on the phases by the last rebuild */
};

static uint64_t now_usec(clockid_t clock) {
        struct timespec ts;
        clock_gettime(clock, &ts);
        return (uint64_t) ts.tv_sec * 1000000 + (uint64_t) ts.tv_nsec / 1000;
}

static void node_state_clear_error(NodeState *n) {
        free(n->error.file);
        free(n->error.path);
        free(n->error.message);
        free(n->error.rule);
        n->error = (Diag) {};
        n->n_errors = 0;
}

static NodeState *node_state(Manager *m, const char *id) {
        NodeState *n = hashmap_get(&m->node_index, id, strlen(id));
        if (n)
                return n;
        m->nodes = xrealloc(m->nodes, (m->n_nodes + 1) * sizeof(NodeState *));
        n = xcalloc(1, sizeof(NodeState));
        n->id = xstrdup(id);
        m->nodes[m->n_nodes++] = n;
        hashmap_put(&m->node_index, n->id, strlen(n->id), n);
        return n;
}

static void node_forget_memo(Manager *m, NodeState *ns) {
        node_output_done(&ns->memo);
        m->memo_bytes -= ns->memo_bytes;
        ns->memo_bytes = 0;
        ns->live_known = ns->state_known = false;
}

static size_t node_output_bytes(const NodeOutput *o) {
        size_t n = sizeof(NodeOutput);
        for (size_t i = 0; i < o->n; i++)
                n += sizeof(NodeFile) + strlen(o->files[i].path) + 1 + (o->files[i].borrowed ? 0 : o->files[i].len);
        return n;
}

/* ---- state_dir ---- */

static int read_counter(const char *path, uint64_t *ret) {
        _cleanup_free_ char *s = NULL;
        int r = read_file_bounded(path, 64, &s, NULL);
        if (r < 0)
                return r;
        char *end;
        errno = 0;
        unsigned long long v = strtoull(s, &end, 10);
        if (errno || end == s || (*end && *end != '\n'))
                return -EBADMSG;
        *ret = v;
        return 0;
}

static void write_counter(Manager *m) {
        _cleanup_free_ char *p = xasprintf("%s/generation", m->config->state_dir);
        char buf[32];
        int n = snprintf(buf, sizeof buf, "%" PRIu64 "\n", m->generation);
        int r = write_file_atomic(p, buf, (size_t) n, 0640);
        if (r < 0)
                log_error(NULL, "cannot write %s: %s", p, strerror(-r));
}

/* A node directory on disk (output or state copy) read back as a NodeOutput. */
static int load_node_dir(const char *dir, NodeOutput *ret) {
        NodeOutput o = {};
        for (ResourceType t = 0; t < _RESOURCE_TYPE_MAX; t++) {
                const char *type = resource_type_dir(t);
                if (!type)
                        continue;
                _cleanup_free_ char *tdir = xasprintf("%s/%s", dir, type);
                DIR *d = opendir(tdir);
                if (!d)
                        continue;
                struct dirent *de;
                while ((de = readdir(d))) {
                        if (de->d_name[0] == '.' || !endswith(de->d_name, ".pb"))
                                continue;
                        _cleanup_free_ char *p = xasprintf("%s/%s", tdir, de->d_name);
                        char *data;
                        size_t len;
                        if (read_file_bounded(p, 1u << 30, &data, &len) < 0)
                                continue;
                        o.files = xrealloc(o.files, (o.n + 1) * sizeof(NodeFile));
                        o.files[o.n++] = (NodeFile) {
                                .path = xasprintf("%s/%s", type, de->d_name),
                                .data = (uint8_t *) data,
                                .len = len,
                        };
                }
                closedir(d);
        }
        *ret = o;
        return o.n > 0 ? 0 : -ENOENT;
}

/* After a reboot output_dir is empty: when nothing of the node is live,
 * its last good generation is read back from the state copy. */
static bool load_last_good_if_absent(Manager *m, const char *id, const char *why, NodeOutput *ret) {
        _cleanup_free_ char *live = xasprintf("%s/%s/" LAYOUT_LDS_FILE, m->config->output_dir, id);
        _cleanup_free_ char *saved = xasprintf("%s/%s", m->state_nodes_dir, id);
        if (access(live, F_OK) == 0 || load_node_dir(saved, ret) < 0)
                return false;
        log_warning(id, "%s; republishing its last good generation from %s", why, saved);
        return true;
}

/* An error of the node that is not about its source files. */
static void node_fail(NodeState *ns, char *message) {
        node_state_clear_error(ns);
        ns->error = (Diag) { .level = DIAG_ERROR, .message = message };
        ns->n_errors = 1;
        log_error(ns->id, "%s", message);
}

/* ---- the removal guard ---- */

static void put_name(void *userdata, const char *name, size_t len) {
        hashmap_put(userdata, name, len, (void *) 1);
}

/* Names (field 1 of Listener and Cluster) of a DiscoveryResponse's resources. */
static size_t response_names(const uint8_t *data, size_t len, Hashmap *names) {
        return response_walk(data, len, NULL, names ? put_name : NULL, names);
}

static const NodeFile *node_output_file(const NodeOutput *o, const char *path) {
        for (size_t i = 0; i < o->n; i++)
                if (streq(o->files[i].path, path))
                        return &o->files[i];
        return NULL;
}

/* How many of the live file's resources next no longer has. */
static void removed_count(const char *live_path, const NodeFile *next, size_t *ret_removed, size_t *ret_total) {
        *ret_removed = *ret_total = 0;
        _cleanup_free_ char *data = NULL;
        size_t len;
        if (read_file_bounded(live_path, 1u << 30, &data, &len) < 0)
                return;
        Hashmap new_names = {};
        if (next)
                response_names(next->data, next->len, &new_names);
        Hashmap old_names = {};
        *ret_total = response_names((const uint8_t *) data, len, &old_names);
        for (size_t i = 0; i < old_names.cap; i++)
                if (old_names.entries[i].key &&
                    !hashmap_get(&new_names, old_names.entries[i].key, old_names.entries[i].key_len))
                        (*ret_removed)++;
        hashmap_free(&old_names);
        hashmap_free(&new_names);
}

/* Whether next may replace what is live; the allowance file lets one
 * generation through. */
static bool removal_allowed(Manager *m, NodeState *ns, const NodeOutput *next, char **ret_reason) {
        static const struct {
                const char *path, *what;
        } kinds[] = { { LAYOUT_LDS_FILE, "listeners" }, { LAYOUT_CDS_FILE, "clusters" } };
        for (size_t i = 0; i < ELEMENTSOF(kinds); i++) {
                _cleanup_free_ char *live = xasprintf("%s/%s/%s", m->config->output_dir, ns->id, kinds[i].path);
                if (access(live, F_OK) < 0) {
                        /* after a reboot the last good generation is the state copy */
                        free(live);
                        live = xasprintf("%s/%s/%s", m->state_nodes_dir, ns->id, kinds[i].path);
                }
                size_t removed, total;
                removed_count(live, node_output_file(next, kinds[i].path), &removed, &total);
                if (total == 0 || (double) removed / (double) total <= m->config->max_removal)
                        continue;
                _cleanup_free_ char *allow = xasprintf("%s/allow-removal/%s", m->config->state_dir, ns->id);
                if (unlink(allow) == 0) {
                        log_warning(ns->id, "removing %zu of %zu %s, allowed once by fsxds allow-removal", removed, total,
                                    kinds[i].what);
                        return true;
                }
                *ret_reason = xasprintf("this generation would remove %zu of %zu %s (more than max_removal %.2f); "
                                        "'fsxds allow-removal %s' lets it through once",
                                        removed, total, kinds[i].what, m->config->max_removal, ns->id);
                return false;
        }
        return true;
}

/* ---- status ---- */

static void status_write(Manager *m) {
        Buf b = {};
        buf_printf(&b, "{\"version\":1,\"generation\":%" PRIu64 ",\"time_usec\":%" PRIu64 ",\"backend\":",
                   m->generation, m->last_rebuild_usec);
        buf_put_json_string(&b, m->watch ? watch_backend_to_string(watch_get_backend(m->watch)) : "none");
        buf_printf(&b, ",\"publish_mode\":");
        buf_put_json_string(&b, publish_mode_to_string(m->config->publish_mode));
        buf_printf(&b, ",\"source_dir\":");
        buf_put_json_string(&b, m->config->source_dir);
        buf_printf(&b, ",\"output_dir\":");
        buf_put_json_string(&b, m->config->output_dir);
        buf_printf(&b, ",\"signing\":");
        if (m->signer) {
                buf_printf(&b, "{\"subject\":");
                buf_put_json_string(&b, signer_subject(m->signer));
                buf_printf(&b, ",\"not_after\":%" PRId64 "}", signer_not_after(m->signer));
        } else
                buf_printf(&b, "null");
        buf_printf(&b, ",\"signed_sources\":");
        if (m->config->require_signed_sources_ca) {
                buf_printf(&b, "{\"ca\":");
                buf_put_json_string(&b, m->config->require_signed_sources_ca);
                buf_printf(&b, ",\"error\":");
                if (m->sources_error)
                        buf_put_json_string(&b, m->sources_error);
                else
                        buf_printf(&b, "null");
                buf_printf(&b, "}");
        } else
                buf_printf(&b, "null");
        buf_printf(&b, ",\"nodes\":{");
        for (size_t i = 0; i < m->n_nodes; i++) {
                NodeState *n = m->nodes[i];
                buf_printf(&b, "%s", i ? "," : "");
                buf_put_json_string(&b, n->id);
                buf_printf(&b, ":{\"generation\":%" PRIu64 ",\"published_usec\":%" PRIu64 ",\"files\":%zu,"
                           "\"listeners\":%zu,\"clusters\":%zu,\"present\":%s,\"removal_blocked\":%s,"
                           "\"manifest_current\":%s,\"error\":",
                           n->generation, n->published_usec, n->n_files, n->n_listeners, n->n_clusters,
                           n->present ? "true" : "false", n->removal_blocked ? "true" : "false",
                           n->manifest_ok ? "true" : "false");
                if (!n->error.message)
                        buf_printf(&b, "null}");
                else {
                        buf_printf(&b, "{\"file\":");
                        buf_put_json_string(&b, n->error.file ? n->error.file : "");
                        buf_printf(&b, ",\"line\":%u,\"column\":%u,\"path\":", n->error.line, n->error.column);
                        buf_put_json_string(&b, n->error.path ? n->error.path : "");
                        buf_printf(&b, ",\"message\":");
                        buf_put_json_string(&b, n->error.message);
                        buf_printf(&b, ",\"rule\":");
                        if (n->error.rule)
                                buf_put_json_string(&b, n->error.rule);
                        else
                                buf_printf(&b, "null");
                        buf_printf(&b, ",\"count\":%zu}}", n->n_errors);
                }
        }
        buf_printf(&b, "}}\n");
        _cleanup_free_ char *path = xasprintf("%s/status.json", m->config->output_dir);
        int r = write_file_atomic(path, b.data, b.len, 0640);
        if (r < 0)
                log_error(NULL, "cannot write %s: %s", path, strerror(-r));
        /* readable by the output's readers, like the files it describes */
        else if (m->gid != (gid_t) -1 && chown(path, (uid_t) -1, m->gid) < 0)
                log_warning(NULL, "cannot give %s to group %s: %s", path, m->config->output_group, strerror(errno));
        buf_free(&b);

        size_t bad = 0;
        const NodeState *first_bad = NULL;
        for (size_t i = 0; i < m->n_nodes; i++)
                if (m->nodes[i]->error.message && m->nodes[i]->present) {
                        bad++;
                        first_bad = first_bad ? first_bad : m->nodes[i];
                }
        _cleanup_free_ char *reload = m->reload_error
                ? xasprintf("; reload refused: %s (see the journal), running on the previous one", m->reload_error)
                : xstrdup("");
        if (m->sources_error)
                sd_notifyf(false, "STATUS=generation %" PRIu64 ", %zu nodes; source tree refused (last good output kept): %s%s",
                           m->generation, m->n_nodes, m->sources_error, reload);
        else if (first_bad) {
                _cleanup_free_ char *d = diag_format(&first_bad->error);
                sd_notifyf(false, "STATUS=generation %" PRIu64 ", %zu nodes, %zu with errors (last good output kept); %s: %s%s",
                           m->generation, m->n_nodes, bad, first_bad->id, d, reload);
        } else
                sd_notifyf(false, "STATUS=generation %" PRIu64 ", %zu nodes, all published%s", m->generation, m->n_nodes,
                           reload);
}

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

static int open_node_dir(Manager *m, const char *id) {
        int fd = openat(store_output_fd(m->store), id, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        return fd < 0 ? -errno : fd;
}

/* Remembers the current MANIFEST's and signature's bytes (by hash), which
 * the periodic check compares the directory's with. */
static void manifest_pair_sha(NodeState *ns, const void *data, size_t len, const void *sig, size_t sig_len) {
        sha256_hex(data, len, ns->manifest_sha);
        if (sig)
                sha256_hex(sig, sig_len, ns->sig_sha);
        else
                ns->sig_sha[0] = 0;
}

/* MANIFEST of what the node directory holds (scanned, completed here),
 * and its signature when signing is configured: the signature first, so
 * MANIFEST is the last thing of a generation that changes. */
static int write_manifest(Manager *m, NodeState *ns, int node_fd, Manifest *scanned, uint64_t generation) {
        scanned->node = xstrdup(ns->id);
        scanned->generation = generation;
        scanned->created_usec = now_usec(CLOCK_REALTIME);
        scanned->schema_sha256 = xstrdup(schema_fingerprint(m->schema));
        Buf b = {};
        manifest_format(scanned, &b);
        _cleanup_free_ uint8_t *sig = NULL;
        size_t sig_len = 0;
        int r = 0;
        if (m->signer) {
                r = signer_sign(m->signer, b.data, b.len, &sig, &sig_len);
                if (r < 0)
                        log_error(ns->id, "cannot sign its MANIFEST; the previous one stays");
        }
        if (r >= 0) {
                /* made durable by one syncfs after all of them (sync_manifests) */
                r = manifest_write_pair(node_fd, b.data, b.len, sig, sig_len, 0640, store_gid(m->store), false);
                if (r < 0)
                        log_error(ns->id, "cannot write its MANIFEST: %s", strerror(-r));
                else {
                        manifest_pair_sha(ns, b.data, b.len, sig, sig_len);
                        m->manifests_unsynced = true;
                }
        }
        buf_free(&b);
        return r;
}

/* One syncfs for the MANIFESTs written since the last one (a durable
 * output directory only), not an fsync for each file and directory. */
static void sync_manifests(Manager *m) {
        if (!m->manifests_unsynced)
                return;
        m->manifests_unsynced = false;
        int r = store_sync(m->store, true);
        if (r < 0)
                log_error(NULL, "cannot sync the MANIFESTs in %s: %s", m->config->output_dir, strerror(-r));
}

/* Reads and parses a directory's MANIFEST and MANIFEST.sig; a message
 * when there is none or it does not parse. */
static char *read_manifest(int dir_fd, Manifest *ret, char **ret_data, size_t *ret_len, uint8_t **ret_sig,
                           size_t *ret_sig_len) {
        int r = manifest_read_pair(dir_fd, ret_data, ret_len, ret_sig, ret_sig_len);
        if (r < 0)
                return r == -ENOENT ? xstrdup("MANIFEST is missing") : xasprintf("cannot read MANIFEST: %s", strerror(-r));
        _cleanup_free_ char *error = NULL;
        if (manifest_parse(*ret_data, *ret_len, ret, &error) < 0)
                return xasprintf("MANIFEST: %s", error);
        return NULL;
}

/* Makes the node's MANIFEST current. After a publish it lists what the
 * directory now holds. Otherwise the one there is kept when it lists what
 * the directory holds, names the node and the schema, and is signed by the
 * current certificate (or not signed, without one); when it is not, a new
 * one is made, but only of files fsxdsd published or found equal to its
 * build in this run, or listed in a MANIFEST the previous certificate
 * signed: files altered behind its back are never signed. Returns whether
 * the MANIFEST is current. */
static bool ensure_manifest(Manager *m, NodeState *ns, bool published) {
        _cleanup_close_ int fd = open_node_dir(m, ns->id);
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
        manifest_scan_node(fd, m->describe, note_problem, &p, &scanned);
        if (published) {
                ok = write_manifest(m, ns, fd, &scanned, ns->generation) >= 0;
                goto done;
        }
        why = read_manifest(fd, &listed, &data, &len, &sig, &sig_len);
        bool same = !why && listed.kind == MANIFEST_KIND_NODE && streq(listed.node, ns->id) && p.n == 0 &&
                    manifest_compare(&listed, &scanned, NULL, NULL) == 0;
        bool sig_current = m->signer ? sig && signature_verify(data, len, sig, sig_len, NULL, m->signer, NULL,
                                                               &sig_error) >= 0
                                     : !sig;
        if (same && sig_current && streq(listed.schema_sha256, schema_fingerprint(m->schema))) {
                ok = true;
                manifest_pair_sha(ns, data, len, sig, sig_len);
                if (ns->generation == 0)
                        ns->generation = listed.generation;
                goto done;
        }
        bool by_previous = same && sig && m->previous_signer &&
                           signature_verify(data, len, sig, sig_len, NULL, m->previous_signer, NULL, &prev_error) >= 0;
        if ((ns->live_verified && p.n == 0) || by_previous) {
                uint64_t gen = same ? listed.generation : ns->generation ? ns->generation : m->generation;
                ok = write_manifest(m, ns, fd, &scanned, gen) >= 0;
                if (ok)
                        log_info(ns->id, "%s (generation %" PRIu64 ")",
                                 !same ? "MANIFEST made for the files it holds"
                                 : m->signer ? "MANIFEST signed again: the signing certificate or the schema changed"
                                             : "MANIFEST made again, unsigned: signing is off",
                                 gen);
                if (ns->generation == 0)
                        ns->generation = gen;
        } else {
                _cleanup_free_ char *w =
                        !why && p.n == 0 && same
                                ? xasprintf("its MANIFEST is not signed by the current certificate (%s), and fsxdsd has "
                                            "not checked its files in this run; they are signed again once it builds",
                                            sig_error ? sig_error : "no signature")
                                : xasprintf("its directory differs from its MANIFEST (%s) in a way fsxdsd has not "
                                            "checked in this run (the node has errors, or its files are not what it "
                                            "published); not signing it",
                                            why ? why : p.first ? p.first : "other files");
                /* every rebuild tries again: say it once */
                uint64_t h = hash_bytes(w, strlen(w));
                if (h != ns->manifest_warning)
                        log_warning(ns->id, "%s", w);
                ns->manifest_warning = h;
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
static void verify_outputs(Manager *m) {
        for (size_t i = 0; i < m->n_nodes; i++) {
                NodeState *ns = m->nodes[i];
                _cleanup_close_ int fd = open_node_dir(m, ns->id);
                if (fd < 0)
                        continue;
                Manifest listed = {}, scanned = {};
                _cleanup_free_ char *data = NULL, *why = NULL, *sig_error = NULL;
                _cleanup_free_ uint8_t *sig = NULL;
                size_t len = 0, sig_len = 0;
                why = read_manifest(fd, &listed, &data, &len, &sig, &sig_len);
                if (why) {
                        log_warning(ns->id, "%s; a new one is made after the rebuild", why);
                        manifest_done(&listed);
                        continue;
                }
                if (!streq(listed.node, ns->id))
                        log_warning(ns->id, "its MANIFEST is node %s's", listed.node);
                if (sig && m->signer &&
                    signature_verify(data, len, sig, sig_len, NULL, m->signer, NULL, &sig_error) < 0)
                        log_info(ns->id, "MANIFEST.sig: %s", sig_error);
                Problems p = { .node = ns->id, .log = true };
                manifest_scan_node(fd, m->describe, note_problem, &p, &scanned);
                manifest_compare(&listed, &scanned, note_problem, &p);
                if (p.n > 0)
                        log_warning(ns->id, "%zu differences from its MANIFEST (generation %" PRIu64
                                    "): altered behind fsxdsd's back; what differs from its build is published again",
                                    p.n, listed.generation);
                else if (ns->generation == 0 && streq(listed.node, ns->id))
                        ns->generation = listed.generation;
                free(p.first);
                manifest_done(&listed);
                manifest_done(&scanned);
        }
}

/* Every MANIFEST that is not known to be current made so. */
static void ensure_manifests(Manager *m) {
        bool all = true;
        for (size_t i = 0; i < m->n_nodes; i++)
                if (!m->nodes[i]->manifest_ok)
                        all = ensure_manifest(m, m->nodes[i], false) && all;
        sync_manifests(m);
        if (all)
                m->previous_signer = signer_free(m->previous_signer);
}

static void on_change(void *userdata, const char *path);

/* verify_interval: every node whose MANIFEST is current is compared with
 * its directory: MANIFEST and MANIFEST.sig with the bytes fsxdsd wrote,
 * the files with MANIFEST (a stat each: files are read again only when
 * their inode, size or ctime changed). A node that differs is built and
 * planned from the disk at once, which publishes again what differs, and
 * gets a new MANIFEST. */
static void check_outputs(Manager *m) {
        size_t n_altered = 0;
        for (size_t i = 0; i < m->n_nodes; i++) {
                NodeState *ns = m->nodes[i];
                if (!ns->manifest_ok || !ns->manifest_sha[0])
                        continue;
                _cleanup_close_ int fd = open_node_dir(m, ns->id);
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
                else if (manifest_parse(data, len, &listed, &error) >= 0) {
                        manifest_scan_node(fd, m->describe, note_problem, &p, &scanned);
                        manifest_compare(&listed, &scanned, note_problem, &p);
                }
                manifest_done(&listed);
                manifest_done(&scanned);
                free(p.first);
                if (p.n == 0)
                        continue;
                log_warning(ns->id, "%zu differences from what fsxdsd published: altered behind its back; publishing it again",
                            p.n);
                node_forget_memo(m, ns);
                ns->force_rebuild = true;
                ns->manifest_ok = ns->live_verified = false;
                n_altered++;
        }
        if (n_altered > 0)
                on_change(m, NULL);
}

static int on_verify_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;
        check_outputs(m);
        sd_event_source_set_time(s, now_usec(CLOCK_MONOTONIC) + m->config->verify_interval_usec);
        sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
        return 0;
}

/* (Re)arms the periodic check after start and reload. */
static int setup_verify_timer(Manager *m) {
        uint64_t interval = m->config->verify_interval_usec;
        if (!m->verify_timer) {
                int r = sd_event_add_time(m->event, &m->verify_timer, CLOCK_MONOTONIC, UINT64_MAX, 1000, on_verify_timer, m);
                if (r < 0)
                        return r;
        }
        sd_event_source_set_time(m->verify_timer, now_usec(CLOCK_MONOTONIC) + interval);
        return sd_event_source_set_enabled(m->verify_timer, interval > 0 ? SD_EVENT_ONESHOT : SD_EVENT_OFF);
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
 * and list exactly the source files there are, byte for byte. NULL when it
 * does, else why not. */
static char *sources_refusal(Manager *m, Manifest *listed) {
        const char *dir = m->config->source_dir, *ca = m->config->require_signed_sources_ca;
        _cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return xasprintf("cannot open %s: %s", dir, strerror(errno));
        _cleanup_free_ char *data = NULL, *error = NULL;
        _cleanup_free_ uint8_t *sig = NULL;
        size_t len = 0, sig_len = 0;
        int r = manifest_read_pair(fd, &data, &len, &sig, &sig_len);
        if (r < 0)
                return r == -ENOENT ? xasprintf("%s/MANIFEST is missing: sign the tree with fsxds sign", dir)
                                    : xasprintf("cannot read %s/MANIFEST: %s", dir, strerror(-r));
        if (!sig)
                return xasprintf("%s/MANIFEST.sig is missing: sign the tree with fsxds sign", dir);
        if (signature_verify(data, len, sig, sig_len, ca, NULL, NULL, &error) < 0)
                return xasprintf("%s/MANIFEST.sig does not verify against %s: %s", dir, ca, error);
        if (manifest_parse(data, len, listed, &error) < 0)
                return xasprintf("%s/MANIFEST: %s", dir, error);
        if (listed->kind != MANIFEST_KIND_SOURCE)
                return xasprintf("%s/MANIFEST is a node directory's, not a source tree's", dir);
        Manifest scanned = {};
        Problems p = {};
        r = manifest_scan_sources(dir, note_problem, &p, &scanned);
        if (r >= 0)
                manifest_compare(listed, &scanned, note_problem, &p);
        manifest_done(&scanned);
        _cleanup_free_ char *first = p.first;
        if (r < 0)
                return xasprintf("cannot read %s: %s", dir, strerror(-r));
        if (p.n > 0)
                return xasprintf("%zu source files differ from the signed MANIFEST (first: %s)", p.n, first);
        return NULL;
}

/* Refreshes the source cache; with require_signed_sources only from a
 * tree whose signature verifies, and only when what was compiled is what
 * was signed. A refused tree is not built: every node keeps its output. */
static bool refresh_sources(Manager *m, int *ret_changed) {
        const char *ca = m->config->require_signed_sources_ca;
        Manifest listed = {};
        char *why = ca ? sources_refusal(m, &listed) : NULL;
        *ret_changed = 0;
        if (!why) {
                *ret_changed = source_cache_refresh(m->cache, m->config->source_dir, NULL);
                if (*ret_changed < 0)
                        log_error(NULL, "cannot read the source tree %s: %s", m->config->source_dir,
                                  strerror(-*ret_changed));
                Problems p = {};
                CacheCheck c = { &listed, &p };
                if (ca)
                        source_cache_foreach_file(m->cache, check_cached_file, &c);
                if (p.n > 0)
                        why = xasprintf("%zu source files differ from the signed MANIFEST (first: %s)", p.n, p.first);
                free(p.first);
        }
        manifest_done(&listed);
        if (why) {
                if (!m->sources_error || !streq(m->sources_error, why))
                        log_error(NULL, "source tree refused: %s; every node keeps its last good output", why);
                free(m->sources_error);
                m->sources_error = why;
                /* what the cache now holds was not built: build all from it later */
                m->recheck_all = true;
                for (size_t i = 0; i < m->n_nodes; i++)
                        node_forget_memo(m, m->nodes[i]);
                return false;
        }
        if (m->sources_error)
                log_info(NULL, "the source tree's signature verifies again");
        free(m->sources_error);
        m->sources_error = NULL;
        return true;
}

/* ---- the rebuild ---- */

static uint64_t diags_fingerprint(const DiagList *d) {
        uint64_t h = d->n_errors * 1000003 + d->n_warnings;
        for (size_t i = 0; i < d->n; i++) {
                h = h * 31 + hash_bytes(d->items[i].message, strlen(d->items[i].message));
                h = h * 31 + d->items[i].line;
        }
        return h;
}

static void pause_between_phases(Manager *m) {
        uint64_t left = m->config->phase_pause_usec;
        while (left > 0) {
                uint64_t step = MIN(left, (uint64_t) 100000);
                struct timespec ts = { (time_t) (step / 1000000), (long) (step % 1000000) * 1000 };
                nanosleep(&ts, NULL);
                left -= step;
                if (m->watchdog)
                        sd_notify(false, "WATCHDOG=1");
        }
}

static void run_plans(Manager *m, NodePlan **plans, size_t n, bool pause) {
        for (PublishPhase ph = 0; ph < _PUBLISH_PHASE_MAX; ph++) {
                bool any = false;
                for (size_t i = 0; i < n; i++) {
                        if (!node_plan_has_phase(plans[i], ph))
                                continue;
                        int r = node_plan_run_phase(plans[i], ph);
                        if (r < 0)
                                log_error(NULL, "publishing phase %s: %s", publish_phase_to_string(ph), strerror(-r));
                        any = true;
                }
                bool later = false;
                for (PublishPhase q = ph + 1; q < _PUBLISH_PHASE_MAX && !later; q++)
                        for (size_t i = 0; i < n && !later; i++)
                                later = node_plan_has_phase(plans[i], q);
                if (pause && any && later)
                        pause_between_phases(m);
        }
}

static void collect_node_ids(Manager *m, char ***ret, size_t *ret_n) {
        const char *const *tree = source_cache_nodes(m->cache);
        size_t n_tree = 0;
        while (tree[n_tree])
                n_tree++;
        char **ids = xcalloc(n_tree + m->config->n_nodes + 1, sizeof(char *));
        size_t n = 0;
        Hashmap seen = {};
        for (size_t i = 0; i < n_tree + m->config->n_nodes; i++) {
                char *id = i < n_tree ? (char *) tree[i] : m->config->nodes[i - n_tree];
                if (!hashmap_put(&seen, id, strlen(id), id))
                        ids[n++] = id;
        }
        hashmap_free(&seen);
        *ret = ids;
        *ret_n = n;
}

static size_t count_dir_entries(const char *path) {
        DIR *d = opendir(path);
        size_t n = 0;
        if (!d)
                return 0;
        while (readdir(d))
                n++;
        closedir(d);
        return n;
}

/* Nodes that are gone from the tree keep their output; after a reboot
 * (empty output_dir) that output comes back from the state copy. */
static void restore_absent_nodes(Manager *m, char **ids, size_t n_ids, NodePlan **plans, NodeState **published,
                                 size_t *n_plans) {
        DIR *d = opendir(m->state_nodes_dir);
        if (!d)
                return;
        Hashmap present = {};
        for (size_t i = 0; i < n_ids; i++)
                hashmap_put(&present, ids[i], strlen(ids[i]), ids[i]);
        struct dirent *de;
        while ((de = readdir(d))) {
                if (!node_id_is_valid(de->d_name) || hashmap_get(&present, de->d_name, strlen(de->d_name)))
                        continue;
                NodeOutput out = {};
                if (!load_last_good_if_absent(m, de->d_name, "not in the source tree", &out))
                        continue;
                NodeState *ns = node_state(m, de->d_name);
                NodePlan *plan = NULL;
                if (publish_plan(m->store, m->config->output_dir, ns->id, m->config->publish_mode, &out, &plan) >= 0) {
                        plans[*n_plans] = plan;
                        published[(*n_plans)++] = ns;
                }
                node_output_done(&out);
        }
        closedir(d);
        hashmap_free(&present);
}

/* Plans waiting for their phases, with the nodes they publish. */
typedef struct Batch {
        NodePlan **plans, **state_plans;
        NodeState **published, **state_published;
        size_t n_plans, n_state_plans, n_files;
        bool bumped; /* this rebuild started a generation */
} Batch;

/* Publishes the planned nodes phase by phase, then their state copies,
 * and frees the plans. The first call of a rebuild that publishes starts a
 * new generation. A node published whole from its memo has its directory
 * known from then on; one that failed is read from the disk next time. */
static size_t flush_plans(Manager *m, Batch *b) {
        size_t n_failed = 0;
        if (b->n_plans > 0) {
                if (!b->bumped)
                        m->generation++;
                b->bumped = true;
                uint64_t t_publish = now_usec(CLOCK_MONOTONIC);
                run_plans(m, b->plans, b->n_plans, true);
                int r = publish_finish(m->store, b->plans, b->n_plans);
                if (r < 0)
                        log_error(NULL, "finishing the publish: %s", strerror(-r));
                m->publish_usec += now_usec(CLOCK_MONOTONIC) - t_publish;
                uint64_t t = now_usec(CLOCK_REALTIME);
                size_t n_ok = 0, n_files = 0;
                for (size_t i = 0; i < b->n_plans; i++) {
                        NodeState *ns = b->published[i];
                        if (node_plan_error(b->plans[i]) < 0) {
                                node_fail(ns, xasprintf("publishing failed (%s); the node keeps what it had",
                                                        strerror(-node_plan_error(b->plans[i]))));
                                ns->live_verified = ns->manifest_ok = false;
                                log_error(ns->id, "%s", ns->error.message);
                                n_failed++;
                                continue;
                        }
                        ns->live_known = ns->memo.n > 0;
                        ns->live_verified = true;
                        ns->generation = m->generation;
                        ns->published_usec = t;
                        n_ok++;
                        n_files += node_plan_n_changes(b->plans[i]);
                        log_debug(ns->id, "published generation %" PRIu64 " (%zu changed files)", m->generation,
                                  node_plan_n_changes(b->plans[i]));
                }
                /* one line per generation, not per node: a thousand nodes make a thousand lines */
                if (b->n_plans == 1 && n_ok == 1)
                        log_info(b->published[0]->id, "published generation %" PRIu64 " (%zu changed files)", m->generation,
                                 n_files);
                else
                        log_info(NULL, "published generation %" PRIu64 " to %zu nodes (%zu changed files)", m->generation, n_ok,
                                 n_files);
                write_counter(m);
                /* written last, after every phase of every node */
                uint64_t t0 = now_usec(CLOCK_MONOTONIC);
                for (size_t i = 0; i < b->n_plans; i++)
                        if (node_plan_error(b->plans[i]) >= 0)
                                ensure_manifest(m, b->published[i], true);
                sync_manifests(m);
                m->manifest_usec += now_usec(CLOCK_MONOTONIC) - t0;
        }
        if (b->n_state_plans > 0) {
                run_plans(m, b->state_plans, b->n_state_plans, false);
                publish_finish(m->state_store, b->state_plans, b->n_state_plans);
                for (size_t i = 0; i < b->n_state_plans; i++)
                        b->state_published[i]->state_known =
                                b->state_published[i]->memo.n > 0 && node_plan_error(b->state_plans[i]) >= 0;
        }
        for (size_t i = 0; i < b->n_plans; i++)
                node_plan_free(b->plans[i]);
        for (size_t i = 0; i < b->n_state_plans; i++)
                node_plan_free(b->state_plans[i]);
        b->n_plans = b->n_state_plans = b->n_files = 0;
        return n_failed;
}

/* Plans hold an entry per file of their node; past this many entries the
 * nodes planned so far are published before more are planned, which bounds
 * memory when many large nodes change at once (each batch costs its own
 * phase pauses). */
#define PLAN_BATCH_FILES 49152

/* Timings of one rebuild, for the debug log. */
typedef struct RebuildTimes {
        uint64_t refresh, build, plan, state;
} RebuildTimes;

/* Builds one node whose inputs changed and plans it (and its state copy)
 * into b. Returns whether it has errors. */
static bool rebuild_node(Manager *m, NodeState *ns, Batch *b, RebuildTimes *times) {
        _cleanup_free_ char *dir = xasprintf("%s/%s", m->config->output_dir, ns->id);
        BuildOptions opts = { .output_dir = dir, .skip_notes = true };
        DiagList d = {};
        NodeOutput out = {}, before = {};
        _cleanup_free_ char *reason = NULL; /* here: the gotos below jump past later declarations */
        bool live_known = ns->live_known, state_known = ns->state_known;
        ns->force_rebuild = false;
        m->memo_bytes -= ns->memo_bytes;
        ns->memo_bytes = 0;
        ns->live_known = ns->state_known = false;
        uint64_t t0 = now_usec(CLOCK_MONOTONIC);
        int r = build_node_update(m->cache, ns->id, &opts, &ns->memo, ns->memo_seq, &d, &out, &before);
        times->build += now_usec(CLOCK_MONOTONIC) - t0;
        bool built = r >= 0, bad = false;
        uint64_t fp = diags_fingerprint(&d);
        if (fp != ns->diag_fingerprint)
                for (size_t k = 0; k < d.n; k++)
                        log_diag(ns->id, &d.items[k]);
        ns->diag_fingerprint = fp;
        node_state_clear_error(ns);
        ns->removal_blocked = false;
        if (!built) {
                bad = true;
                for (size_t k = 0; k < d.n; k++)
                        if (d.items[k].level == DIAG_ERROR) {
                                const Diag *e = &d.items[k];
                                ns->error = (Diag) { DIAG_ERROR, e->file ? xstrdup(e->file) : NULL, e->line, e->column,
                                                     e->path ? xstrdup(e->path) : NULL, xstrdup(e->message),
                                                     e->rule ? xstrdup(e->rule) : NULL };
                                break;
                        }
                ns->n_errors = d.n_errors;
                if (!load_last_good_if_absent(m, ns->id, "the build failed", &out))
                        goto done;
        }

        NodePlan *plan = NULL;
        t0 = now_usec(CLOCK_MONOTONIC);
        /* from the memo when the directory holds it: no directory is read */
        if (built && live_known && m->config->publish_mode == PUBLISH_MODE_RENAME)
                r = publish_plan_delta(m->store, ns->id, &before, &out, &plan);
        else
                r = publish_plan(m->store, m->config->output_dir, ns->id, m->config->publish_mode, &out, &plan);
        times->plan += now_usec(CLOCK_MONOTONIC) - t0;
        if (r < 0) {
                node_fail(ns, xasprintf("cannot publish into %s: %s", dir, strerror(-r)));
                bad = true;
                built = false;
                goto done;
        }
        /* the guard only matters when listeners or clusters change */
        if ((node_plan_has_phase(plan, PUBLISH_PHASE_LDS) || node_plan_has_phase(plan, PUBLISH_PHASE_CDS) ||
             node_plan_has_phase(plan, PUBLISH_PHASE_CDS_FINAL)) &&
            !removal_allowed(m, ns, &out, &reason)) {
                node_fail(ns, TAKE_PTR(reason));
                ns->removal_blocked = true;
                bad = true;
                built = false;
                plan = node_plan_free(plan);
                node_output_done(&out);
                if (!load_last_good_if_absent(m, ns->id, "the removal guard refused the new generation", &out) ||
                    publish_plan(m->store, m->config->output_dir, ns->id, m->config->publish_mode, &out, &plan) < 0)
                        goto done;
        }
        bool changed_node = node_plan_n_changes(plan) > 0;
        if (changed_node) {
                b->plans[b->n_plans] = plan;
                b->published[b->n_plans++] = ns;
                /* a plan holds an entry for each of the node's files, changed or not */
                b->n_files += out.n;
        } else {
                node_plan_free(plan);
                ns->live_known = built;
                ns->live_verified = ns->live_verified || built;
        }
        /* the last good copy in state_dir: checked at start, then only
         * when the node's output changes */
        t0 = now_usec(CLOCK_MONOTONIC);
        if (changed_node || !ns->state_checked) {
                NodePlan *sp = NULL;
                r = built && state_known
                        ? publish_plan_delta(m->state_store, ns->id, &before, &out, &sp)
                        : publish_plan(m->state_store, m->state_nodes_dir, ns->id, PUBLISH_MODE_RENAME, &out, &sp);
                if (r >= 0) {
                        ns->state_checked = true;
                        if (node_plan_n_changes(sp) > 0) {
                                b->state_plans[b->n_state_plans] = sp;
                                b->state_published[b->n_state_plans++] = ns;
                        } else {
                                node_plan_free(sp);
                                ns->state_known = built;
                        }
                }
        } else
                /* out is what the directory had, which the copy had */
                ns->state_known = built && state_known && live_known;
        times->state += now_usec(CLOCK_MONOTONIC) - t0;
        const NodeFile *lds = node_output_file(&out, LAYOUT_LDS_FILE), *cds = node_output_file(&out, LAYOUT_CDS_FILE);
        ns->n_files = out.n;
        ns->n_listeners = lds ? lds->n_resources : 0;
        ns->n_clusters = cds ? cds->n_resources : 0;
done:
        diag_list_clear(&d);
        node_output_done(&before);
        size_t bytes = built ? node_output_bytes(&out) : 0;
        if (built && m->memo_bytes + bytes <= MEMO_BUDGET) {
                ns->memo = out;
                ns->memo_seq = source_cache_seq(m->cache);
                ns->memo_bytes = bytes;
                m->memo_bytes += bytes;
        } else {
                node_output_done(&out);
                ns->live_known = ns->state_known = false;
        }
        return bad;
}

typedef struct HostAddress {
        const NodeState *node;
        ListenerAddress a;
} HostAddress;

/* Two Envoys on one host cannot bind one address (the second fails to
 * bind and its listener is rejected): a warning per pair of nodes, logged
 * when the set of such pairs changes. */
static void check_host_addresses(Manager *m) {
        Hashmap first = {};
        HostAddress **owned = xcalloc(m->n_nodes + 1, sizeof(HostAddress *));
        DiagList d = {};
        uint64_t fp = 0;
        for (size_t i = 0; i < m->n_nodes; i++) {
                const NodeState *ns = m->nodes[i];
                if (!ns->present)
                        continue;
                ListenerAddress *a = NULL;
                size_t n = source_cache_listener_addresses(m->cache, ns->id, &a);
                owned[i] = xcalloc(n + 1, sizeof(HostAddress));
                for (size_t k = 0; k < n; k++) {
                        HostAddress *h = &owned[i][k];
                        *h = (HostAddress) { ns, a[k] };
                        const HostAddress *f = hashmap_get(&first, h->a.address, strlen(h->a.address));
                        if (!f) {
                                hashmap_put(&first, h->a.address, strlen(h->a.address), h);
                                continue;
                        }
                        if (f->node == ns)
                                continue; /* within a node: the node's own check */
                        diag_add_rule(&d, DIAG_WARNING, h->a.file, h->a.line, h->a.column, NULL, "graph.host-address",
                                      "node %s's listener \"%s\" binds %s, which node %s's listener \"%s\" binds too (%s:%u:%u): "
                                      "one of the two Envoys will fail to bind it", ns->id, h->a.listener, h->a.address,
                                      f->node->id, f->a.listener, f->a.file, f->a.line, f->a.column);
                        fp = fp * 31 + hash_bytes(d.items[d.n - 1].message, strlen(d.items[d.n - 1].message));
                }
                free(a);
        }
        if (fp != m->host_address_fingerprint)
                for (size_t i = 0; i < d.n; i++)
                        log_diag(NULL, &d.items[i]);
        m->host_address_fingerprint = fp;
        diag_list_clear(&d);
        for (size_t i = 0; i < m->n_nodes; i++)
                free(owned[i]);
        free(owned);
        hashmap_free(&first);
}

/* Returns the number of nodes with errors. */
static size_t manager_rebuild(Manager *m) {
        uint64_t start = now_usec(CLOCK_MONOTONIC);
        RebuildTimes times = {};
        int changed;
        if (!refresh_sources(m, &changed)) {
                ensure_manifests(m);
                m->last_rebuild_usec = now_usec(CLOCK_REALTIME);
                status_write(m);
                return 0;
        }
        times.refresh = now_usec(CLOCK_MONOTONIC) - start;
        char **ids;
        size_t n_ids;
        collect_node_ids(m, &ids, &n_ids);
        for (size_t i = 0; i < m->n_nodes; i++)
                m->nodes[i]->present = false;
        /* (present is set again below for every node still in the tree) */
        /* room for every node of the tree, and for restored absent ones */
        size_t cap = n_ids + m->n_nodes + count_dir_entries(m->state_nodes_dir) + 1;
        Batch b = {
                .plans = xcalloc(cap, sizeof(NodePlan *)),
                .published = xcalloc(cap, sizeof(NodeState *)),
                .state_plans = xcalloc(MAX(n_ids, 1), sizeof(NodePlan *)),
                .state_published = xcalloc(MAX(n_ids, 1), sizeof(NodeState *)),
        };
        size_t n_bad = 0, n_built = 0;
        for (size_t i = 0; i < n_ids; i++) {
                NodeState *ns = node_state(m, ids[i]);
                bool was_present = ns->present_before;
                ns->present = ns->present_before = true;
                /* a node whose inputs did not change is as it was, unless it
                 * waits for the removal guard or everything is rechecked */
                if (!m->recheck_all && was_present && !ns->removal_blocked && !ns->force_rebuild &&
                    !source_cache_node_changed(m->cache, ns->id))
                        continue;
                n_bad += rebuild_node(m, ns, &b, &times);
                n_built++;
                if (b.n_files >= PLAN_BATCH_FILES)
                        n_bad += flush_plans(m, &b);
        }
        if (m->recheck_all)
                restore_absent_nodes(m, ids, n_ids, b.plans, b.published, &b.n_plans);
        free(ids);
        m->recheck_all = false;
        for (size_t i = 0; i < m->n_nodes; i++)
                if (!m->nodes[i]->present) {
                        m->nodes[i]->present_before = false;
                        node_forget_memo(m, m->nodes[i]);
                }

        n_bad += flush_plans(m, &b);
        uint64_t t0 = now_usec(CLOCK_MONOTONIC);
        ensure_manifests(m);
        m->manifest_usec += now_usec(CLOCK_MONOTONIC) - t0;
        if (n_built > 0)
                check_host_addresses(m);
        free(b.plans);
        free(b.published);
        free(b.state_plans);
        free(b.state_published);
        m->last_rebuild_usec = now_usec(CLOCK_REALTIME);
        status_write(m);
        log_debug(NULL,
                  "rebuild took %" PRIu64 " µs (%d files changed; refresh %" PRIu64 ", build %" PRIu64 ", plan %" PRIu64
                  ", state plan %" PRIu64 ", publish %" PRIu64 ", manifests %" PRIu64 " µs)",
                  now_usec(CLOCK_MONOTONIC) - start, changed, times.refresh, times.build, times.plan, times.state,
                  m->publish_usec, m->manifest_usec);
        m->manifest_usec = m->publish_usec = 0;
        return n_bad;
}

/* ---- event sources ---- */

static int on_settle(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;
        m->settle_armed = false;
        manager_rebuild(m);
        return 0;
}

static void on_change(void *userdata, const char *path) {
        Manager *m = userdata;
        log_debug(NULL, "change: %s", path ? path : "(rescan)");
        uint64_t now = now_usec(CLOCK_MONOTONIC);
        if (!m->settle_armed) {
                m->burst_start = now;
                m->settle_armed = true;
        }
        uint64_t deadline = MIN(now + m->config->settle_usec, m->burst_start + m->config->settle_max_usec);
        sd_event_source_set_time(m->settle_timer, deadline);
        sd_event_source_set_enabled(m->settle_timer, SD_EVENT_ONESHOT);
}

static int on_watch(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Manager *m = userdata;
        int r = watch_process(m->watch, on_change, m);
        if (r < 0)
                log_error(NULL, "watching %s: %s", m->config->source_dir, strerror(-r));
        return 0;
}

static int setup_watch(Manager *m) {
        m->watch_source = sd_event_source_unref(m->watch_source);
        m->watch = watch_free(m->watch);
        _cleanup_free_ char *reason = NULL;
        int r = watch_new(m->config->watch, m->config->source_dir, &m->watch, &reason);
        if (r < 0) {
                log_error(NULL, "cannot watch %s: %s", m->config->source_dir, strerror(-r));
                return r;
        }
        if (reason)
                log_info(NULL, "fanotify not used: %s", reason);
        log_info(NULL, "watching %s with %s", m->config->source_dir, watch_backend_to_string(watch_get_backend(m->watch)));
        return sd_event_add_io(m->event, &m->watch_source, watch_get_fd(m->watch), EPOLLIN, on_watch, m);
}

static int on_allow_removal(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Manager *m = userdata;
        char buf[4096];
        while (read(fd, buf, sizeof buf) > 0)
                ;
        on_change(m, NULL); /* blocked nodes are retried by every rebuild */
        return 0;
}

/* `fsxds allow-removal NODE` writes <state_dir>/allow-removal/NODE: a
 * rebuild then lets that node's blocked generation through. */
static int setup_allow_removal_watch(Manager *m) {
        m->allow_source = sd_event_source_unref(m->allow_source);
        if (m->allow_fd >= 0)
                close(m->allow_fd);
        _cleanup_free_ char *dir = xasprintf("%s/allow-removal", m->config->state_dir);
        int r = mkdir_p(dir, 0750);
        if (r < 0)
                return r;
        m->allow_fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
        if (m->allow_fd < 0)
                return -errno;
        if (inotify_add_watch(m->allow_fd, dir, IN_CLOSE_WRITE | IN_MOVED_TO | IN_ONLYDIR) < 0)
                return -errno;
        if (!m->event)
                return 0;
        return sd_event_add_io(m->event, &m->allow_source, m->allow_fd, EPOLLIN, on_allow_removal, m);
}

/* Loads signing's pair; the one in use before stays as previous_signer
 * until every MANIFEST is signed with the new one. A refused pair fails. */
static int load_signer(Manager *m) {
        const SigningConfig *c = m->config->signing;
        Signer *s = NULL;
        if (c) {
                _cleanup_free_ char *error = NULL;
                int r = signer_load(c->key, c->cert, c->chain, &error, &s);
                if (r < 0) {
                        log_error(NULL, "signing: %s", error ? error : strerror(-r));
                        return r;
                }
        }
        if (s && signer_same(s, m->signer)) {
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
        } else if (m->signer)
                log_info(NULL, "MANIFESTs are no longer signed");
        if (m->signer) {
                signer_free(m->previous_signer);
                m->previous_signer = m->signer;
        }
        m->signer = s;
        for (size_t i = 0; i < m->n_nodes; i++)
                m->nodes[i]->manifest_ok = false;
        return 0;
}

/* A replaced key or certificate file (watched) is taken once the writes
 * have settled; a pair that does not match yet (the key written, the
 * certificate not yet) keeps the previous one. */
static int on_signing_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;
        if (load_signer(m) < 0) {
                log_error(NULL, "the new signing files were refused; still signing as %s",
                          m->signer ? signer_subject(m->signer) : "nobody");
                return 0;
        }
        ensure_manifests(m);
        status_write(m);
        return 0;
}

static int on_signing_files(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Manager *m = userdata;
        const SigningConfig *c = m->config->signing;
        union {
                struct inotify_event ev;
                char buf[4096];
        } u;
        bool hit = false;
        ssize_t n;
        while ((n = read(fd, u.buf, sizeof u.buf)) > 0)
                for (char *p = u.buf; p < u.buf + n;) {
                        struct inotify_event *ev = (struct inotify_event *) p;
                        const char *files[] = { c->key, c->cert, c->chain };
                        for (size_t i = 0; c && ev->len > 0 && i < ELEMENTSOF(files); i++) {
                                const char *base = files[i] ? strrchr(files[i], '/') : NULL;
                                hit = hit || (files[i] && streq(base ? base + 1 : files[i], ev->name));
                        }
                        p += sizeof(struct inotify_event) + ev->len;
                }
        if (hit) {
                sd_event_source_set_time(m->signing_timer, now_usec(CLOCK_MONOTONIC) + m->config->settle_usec);
                sd_event_source_set_enabled(m->signing_timer, SD_EVENT_ONESHOT);
        }
        return 0;
}

static int setup_signing_watch(Manager *m) {
        m->signing_source = sd_event_source_unref(m->signing_source);
        if (m->signing_fd >= 0)
                close(m->signing_fd);
        m->signing_fd = -EBADF;
        const SigningConfig *c = m->config->signing;
        if (!c || !m->event)
                return 0;
        m->signing_fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
        if (m->signing_fd < 0)
                return -errno;
        const char *files[] = { c->key, c->cert, c->chain };
        for (size_t i = 0; i < ELEMENTSOF(files); i++) {
                if (!files[i])
                        continue;
                const char *slash = strrchr(files[i], '/');
                _cleanup_free_ char *dir = slash ? xstrndup(files[i], (size_t) (slash - files[i])) : xstrdup(".");
                if (inotify_add_watch(m->signing_fd, *dir ? dir : "/",
                                      IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_DELETE | IN_ATTRIB | IN_ONLYDIR) < 0)
                        return -errno;
        }
        if (!m->signing_timer) {
                int r = sd_event_add_time(m->event, &m->signing_timer, CLOCK_MONOTONIC, UINT64_MAX, 1, on_signing_timer, m);
                if (r < 0)
                        return r;
                sd_event_source_set_enabled(m->signing_timer, SD_EVENT_OFF);
        }
        return sd_event_add_io(m->event, &m->signing_source, m->signing_fd, EPOLLIN, on_signing_files, m);
}

static int open_outputs(Manager *m) {
        m->gid = (gid_t) -1;
        if (m->config->output_group) {
                struct group *g = getgrnam(m->config->output_group);
                if (!g) {
                        log_error(NULL, "output_group %s: no such group", m->config->output_group);
                        return -ESRCH;
                }
                m->gid = g->gr_gid;
        }
        m->schema = schema_free(m->schema);
        if (m->config->schema) {
                _cleanup_free_ char *error = NULL;
                int r = schema_load_file(m->config->schema, &error, &m->schema);
                if (r < 0) {
                        log_error(NULL, "schema %s: %s", m->config->schema, error ? error : strerror(-r));
                        return r;
                }
        } else
                schema_load_builtin(&m->schema);
        int r = load_signer(m);
        if (r < 0)
                return r;
        for (size_t i = 0; i < m->n_nodes; i++)
                m->nodes[i]->manifest_ok = false;
        if (!m->describe)
                m->describe = describe_cache_new();
        /* memos borrow from the cache */
        for (size_t i = 0; i < m->n_nodes; i++)
                node_forget_memo(m, m->nodes[i]);
        m->cache = source_cache_free(m->cache);
        source_cache_new(m->schema, m->config->publish_mode, &m->cache);
        m->recheck_all = true;
        m->store = store_free(m->store);
        r = store_open(m->config->output_dir, m->gid, &m->store);
        if (r < 0) {
                log_error(NULL, "cannot open %s: %s", m->config->output_dir, strerror(-r));
                return r;
        }
        r = mkdir_p(m->config->state_dir, 0750);
        if (r < 0) {
                log_error(NULL, "cannot create %s: %s", m->config->state_dir, strerror(-r));
                return r;
        }
        free(m->state_nodes_dir);
        m->state_nodes_dir = xasprintf("%s/nodes", m->config->state_dir);
        m->state_store = store_free(m->state_store);
        r = store_open(m->state_nodes_dir, (gid_t) -1, &m->state_store);
        if (r < 0) {
                log_error(NULL, "cannot open %s: %s", m->state_nodes_dir, strerror(-r));
                return r;
        }
        _cleanup_free_ char *counter = xasprintf("%s/generation", m->config->state_dir);
        if (read_counter(counter, &m->generation) < 0)
                m->generation = 0;
        /* crash leftovers, and nodes that still have output from earlier runs */
        DIR *d = opendir(m->config->output_dir);
        if (d) {
                struct dirent *de;
                while ((de = readdir(d)))
                        if (node_id_is_valid(de->d_name) && de->d_type == DT_DIR) {
                                publish_clean_node(m->config->output_dir, de->d_name);
                                node_state(m, de->d_name);
                        }
                closedir(d);
        }
        store_gc(m->store);
        int bad = store_verify(m->store);
        if (bad > 0)
                log_warning(NULL, "%d published files were changed behind fsxdsd's back; republishing them", bad);
        r = setup_allow_removal_watch(m);
        if (r < 0)
                log_warning(NULL, "cannot watch %s/allow-removal: %s", m->config->state_dir, strerror(-r));
        r = setup_signing_watch(m);
        if (r < 0)
                log_warning(NULL, "cannot watch the signing key and certificate for changes: %s", strerror(-r));
        return 0;
}

static int on_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        Manager *m = userdata;
        if (si->ssi_signo != SIGHUP) {
                sd_notify(false, "STOPPING=1");
                log_info(NULL, "stopping");
                return sd_event_exit(sd_event_source_get_event(s), 0);
        }
        sd_notifyf(false, "RELOADING=1\nMONOTONIC_USEC=%" PRIu64, now_usec(CLOCK_MONOTONIC));
        DiagList d = {};
        Config *c = NULL;
        int r = config_load(m->config_path, &d, &c);
        if (r < 0) {
                for (size_t i = 0; i < d.n; i++)
                        log_diag(NULL, &d.items[i]);
                if (r != -EBADMSG)
                        log_error(NULL, "cannot read %s: %s", m->config_path, strerror(-r));
                log_error(NULL, "reload refused: the configuration has errors; still running on the previous one");
                diag_list_clear(&d);
                m->reload_error = "the new configuration has errors";
                status_write(m);
                sd_notify(false, "READY=1");
                return 0;
        }
        diag_list_clear(&d);
        Config *old = m->config;
        m->config = c;
        r = open_outputs(m);
        if (r >= 0)
                r = setup_watch(m);
        if (r < 0) {
                log_error(NULL, "reload failed; going back to the previous configuration");
                m->reload_error = "the new configuration could not be applied";
                m->config = old;
                config_free(c);
                open_outputs(m);
                setup_watch(m);
        } else {
                config_free(old);
                m->reload_error = NULL;
                log_info(NULL, "configuration reloaded");
                verify_outputs(m);
        }
        setup_verify_timer(m);
        manager_rebuild(m);
        sd_notify(false, "READY=1");
        return 0;
}

int manager_new(const char *config_path, Manager **ret) {
        DiagList d = {};
        Config *c = NULL;
        int r = config_load(config_path, &d, &c);
        for (size_t i = 0; i < d.n; i++)
                log_diag(NULL, &d.items[i]);
        diag_list_clear(&d);
        if (r < 0) {
                if (r != -EBADMSG)
                        log_error(NULL, "cannot read %s: %s", config_path, strerror(-r));
                return r;
        }
        Manager *m = xcalloc(1, sizeof(Manager));
        m->allow_fd = m->signing_fd = -EBADF;
        m->config = c;
        m->config_path = xstrdup(config_path);
        *ret = m;
        return 0;
}

Manager *manager_free(Manager *m) {
        if (!m)
                return NULL;
        sd_event_source_unref(m->watch_source);
        sd_event_source_unref(m->settle_timer);
        sd_event_source_unref(m->allow_source);
        if (m->allow_fd >= 0)
                close(m->allow_fd);
        sd_event_source_unref(m->signing_source);
        sd_event_source_unref(m->signing_timer);
        sd_event_source_unref(m->verify_timer);
        if (m->signing_fd >= 0)
                close(m->signing_fd);
        signer_free(m->signer);
        signer_free(m->previous_signer);
        describe_cache_free(m->describe);
        free(m->sources_error);
        sd_event_unref(m->event);
        watch_free(m->watch);
        store_free(m->store);
        store_free(m->state_store);
        source_cache_free(m->cache);
        schema_free(m->schema);
        for (size_t i = 0; i < m->n_nodes; i++) {
                node_state_clear_error(m->nodes[i]);
                node_forget_memo(m, m->nodes[i]);
                free(m->nodes[i]->id);
                free(m->nodes[i]);
        }
        free(m->nodes);
        hashmap_free(&m->node_index);
        free(m->state_nodes_dir);
        free(m->config_path);
        config_free(m->config);
        free(m);
        return NULL;
}

int manager_check_config(Manager *m) {
        const Config *c = m->config;
        if (c->output_group && !getgrnam(c->output_group)) {
                log_error(NULL, "output_group %s: no such group", c->output_group);
                return -ESRCH;
        }
        if (c->schema) {
                _cleanup_free_ char *error = NULL;
                Schema *s = NULL;
                int r = schema_load_file(c->schema, &error, &s);
                if (r < 0) {
                        log_error(NULL, "schema %s: %s", c->schema, error ? error : strerror(-r));
                        return r;
                }
                schema_free(s);
        }
        if (c->require_signed_sources_ca && access(c->require_signed_sources_ca, R_OK) < 0) {
                int r = -errno;
                log_error(NULL, "require_signed_sources.ca %s: %s", c->require_signed_sources_ca, strerror(-r));
                return r;
        }
        return load_signer(m);
}

int manager_once(Manager *m) {
        int r = open_outputs(m);
        if (r < 0)
                return r;
        verify_outputs(m);
        return manager_rebuild(m) > 0 ? 1 : 0;
}

int manager_startup(Manager *m) {
        int r = sd_event_default(&m->event);
        if (r < 0)
                return r;
        sigset_t mask;
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGHUP);
        sigprocmask(SIG_BLOCK, &mask, NULL);
        sd_event_add_signal(m->event, NULL, SIGTERM, on_signal, m);
        sd_event_add_signal(m->event, NULL, SIGINT, on_signal, m);
        sd_event_add_signal(m->event, NULL, SIGHUP, on_signal, m);
        r = sd_event_set_watchdog(m->event, true);
        m->watchdog = r > 0;
        r = sd_event_add_time(m->event, &m->settle_timer, CLOCK_MONOTONIC, UINT64_MAX, 1, on_settle, m);
        if (r < 0)
                return r;
        sd_event_source_set_enabled(m->settle_timer, SD_EVENT_OFF);
        r = open_outputs(m);
        if (r < 0)
                return r;
        r = setup_watch(m);
        if (r < 0)
                return r;
        verify_outputs(m);
        size_t bad = manager_rebuild(m);
        r = setup_verify_timer(m);
        if (r < 0)
                return r;
        if (bad > 0)
                log_warning(NULL, "%zu nodes have errors; their last good output stays in place", bad);
        sd_notify(false, "READY=1");
        return 0;
}

int manager_run(Manager *m) {
        return sd_event_loop(m->event);
}
