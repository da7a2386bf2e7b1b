/* SPDX-License-Identifier: MIT */
/* fsxdsd's generation history, fsxds rollback and the pin (see
 * rollback.h). */
#include <assert.h>
#include <inttypes.h>
#include <unistd.h>

#include "history.h"
#include "json.h"
#include "layout.h"
#include "logging.h"
#include "rollback.h"
#include "statedir.h"

/* An entry of at most this many changes is kept in memory while it is
 * kept on disk, so pruning reads nothing (a node's first entry, which
 * lists every file, is read back when it goes) */
#define HISTORY_KNOWN_CHANGES 64

struct NodeHistory {
        bool loaded;
        uint64_t *gens; /* the generations recorded, ascending */
        HistoryEntry **known; /* their entries when small (HISTORY_KNOWN_CHANGES), else NULL: read to prune */
        size_t n_gens;
        /* the files of gens[n_gens - 1] (what the next entry's changes are
         * made against); valid false: unknown, the next entry starts anew */
        NodeMemo recorded;
        HistorySum recorded_sum; /* its files_digest, updated by each entry's changes */
        char recorded_digest[65];
        bool valid;
        bool record_failed;  /* said once */
        /* a rollback taken: its files, until the rebuild that publishes them */
        bool rolling, attempted;
        Diag tree_error;     /* the tree's first error while rolling back ("": none) */
        size_t tree_n_errors;
        NodeOutput rollback;
        uint64_t rollback_of;
        char rollback_source[65];
        /* the pin (pin/ID) */
        bool pinned, held;
        bool unpinning;      /* pin/ID is gone: pinned until the next build (which status then shows) */
        uint64_t pin_generation, pin_rollback_of, pin_since_usec;
        char pin_digest[65]; /* files_digest of the pinned generation ("": unknown) */
};

static void diag_done(Diag *d) {
        free(d->file);
        free(d->path);
        free(d->message);
        free(d->rule);
        *d = (Diag) {};
}

void node_history_free(State *st, NodeState *ns) {
        NodeHistory *h = ns->history;
        if (!h)
                return;
        node_memo_done(&st->memo_files, &h->recorded);
        node_output_done(&h->rollback);
        diag_done(&h->tree_error);
        for (size_t i = 0; i < h->n_gens; i++)
                if (h->known[i]) {
                        history_entry_done(h->known[i]);
                        free(h->known[i]);
                }
        free(h->known);
        free(h->gens);
        free(h);
        ns->history = NULL;
}

static void memo_sum(const NodeMemo *m, HistorySum *ret) {
        *ret = (HistorySum) {};
        for (size_t i = 0; i < m->n; i++)
                history_sum_update(ret, m->files[i]->path, m->files[i]->sha256, true);
}

/* A manifest's files as a memo (for the history: paths and digests). */
static void memo_from_manifest(State *st, const Manifest *m, NodeMemo *ret) {
        NodeOutput o = { xcalloc(m->n_files + 1, sizeof(NodeFile)), m->n_files };
        for (size_t i = 0; i < m->n_files; i++) {
                const ManifestFile *f = &m->files[i];
                const char *slash = strchr(f->path, '/');
                _cleanup_free_ char *type = slash ? xstrndup(f->path, (size_t) (slash - f->path)) : NULL;
                o.files[i] = (NodeFile) { .path = f->path, .len = f->size, .n_resources = manifest_names_count(f->names_json),
                                          .type = type ? resource_type_from_dir(type) : _RESOURCE_TYPE_INVALID };
                memcpy(o.files[i].sha256, f->sha256, 65);
                snprintf(o.files[i].version, sizeof o.files[i].version, "%s", f->version_info ?: "");
        }
        node_memo_set(&st->memo_files, ret, &o);
        free(o.files); /* the paths are m's */
}

/* The history as it is on disk, and the files of its newest entry when
 * the last good copy holds them. */
static NodeHistory *node_history(State *st, NodeState *ns) {
        if (!ns->history)
                ns->history = xcalloc(1, sizeof(NodeHistory));
        NodeHistory *h = ns->history;
        if (h->loaded || st->config->history == 0)
                return h;
        h->loaded = true;
        const char *state_dir = st->config->state_dir;
        int r = history_list(state_dir, ns->id, &h->gens, &h->n_gens);
        h->known = xcalloc(h->n_gens + 1, sizeof(HistoryEntry *));
        if (r < 0)
                log_warning(ns->id, "cannot list its history in %s/" STATEDIR_HISTORY "/%s: %s", state_dir, ns->id,
                            strerror(-r));
        if (h->n_gens == 0)
                return h;
        HistoryEntry e = {};
        _cleanup_free_ char *why = NULL, *data = NULL;
        _cleanup_free_ char *path = xasprintf("%s/%s/" MANIFEST_NAME, st->state_nodes_dir, ns->id);
        size_t len;
        Manifest m = {};
        if (history_read(state_dir, ns->id, h->gens[h->n_gens - 1], &e, &why) < 0 ||
            read_file_bounded(path, MANIFEST_MAX, &data, &len) < 0 || manifest_parse(data, len, &m, &why) < 0) {
                history_entry_done(&e);
                return h;
        }
        NodeMemo memo = {};
        memo_from_manifest(st, &m, &memo);
        manifest_done(&m);
        memo_sum(&memo, &h->recorded_sum);
        history_sum_hex(&h->recorded_sum, h->recorded_digest);
        h->valid = streq(h->recorded_digest, e.files_digest);
        if (h->valid)
                node_memo_copy(&st->memo_files, &h->recorded, &memo);
        node_memo_done(&st->memo_files, &memo);
        history_entry_done(&e);
        return h;
}

/* ---- the rebuild's hooks ---- */

int rollback_build(State *st, NodeState *ns, const BuildOptions *opts, bool *from_memo, DiagList *d, NodeOutput *out,
                   char ***touched, size_t *n_touched) {
        NodeHistory *h = node_history(st, ns);
        if (h->unpinning) {
                h->pinned = h->held = h->unpinning = false;
                log_info(ns->id, "unpinned (fsxds unpin): publishing the tree again");
        }
        if (h->pinned || h->rolling)
                *from_memo = false;
        int r = build_node_update(st->cache, ns->id, opts, *from_memo ? &ns->memo : NULL, ns->memo_seq, d, out, touched,
                                  n_touched);
        if (!h->rolling || h->attempted)
                return r;
        /* the generation rolled back to, in place of the tree's build,
         * whose errors are reported once it is published */
        diag_done(&h->tree_error);
        h->tree_n_errors = r < 0 ? d->n_errors : 0;
        for (size_t i = 0; r < 0 && i < d->n; i++)
                if (d->items[i].level == DIAG_ERROR) {
                        const Diag *e = &d->items[i];
                        h->tree_error = (Diag) { DIAG_ERROR, e->file ? xstrdup(e->file) : NULL, e->line, e->column,
                                                 e->path ? xstrdup(e->path) : NULL, xstrdup(e->message),
                                                 e->rule ? xstrdup(e->rule) : NULL };
                        break;
                }
        node_output_done(out);
        for (size_t i = 0; i < *n_touched; i++)
                free((*touched)[i]);
        free(*touched);
        *touched = NULL;
        *n_touched = 0;
        *out = h->rollback;
        h->rollback = (NodeOutput) {};
        h->attempted = true;
        log_info(ns->id, "rolling back to generation %" PRIu64 " (fsxds rollback)", h->rollback_of);
        return 0;
}

static void output_digest(NodeOutput *o, char ret[65]) {
        HistorySum sum = {};
        for (size_t i = 0; i < o->n; i++) {
                NodeFile *f = &o->files[i];
                if (!f->sha256[0])
                        sha256_hex(f->data, f->len, f->sha256);
                history_sum_update(&sum, f->path, f->sha256, true);
        }
        history_sum_hex(&sum, ret);
}

bool rollback_hold(State *st, NodeState *ns, NodeOutput *out) {
        NodeHistory *h = ns->history;
        if (!h || !h->pinned || h->rolling)
                return false;
        _cleanup_free_ char *lds = xasprintf("%s/%s/" LAYOUT_LDS_FILE, st->config->output_dir, ns->id);
        if (access(lds, F_OK) < 0) {
                /* a reboot: what is pinned is the last good copy */
                NodeOutput copy = {};
                uint64_t gen;
                _cleanup_free_ char *why = NULL;
                if (statedir_load_copy(st->config->state_dir, ns->id, false, &copy, &gen, &why) >= 0) {
                        log_warning(ns->id, "pinned, and its output is gone: republishing its last good copy "
                                    "(generation %" PRIu64 "), not the tree", gen);
                        node_output_done(out);
                        *out = copy;
                        return false;
                }
                log_error(ns->id, "pinned, its output is gone and its last good copy does not verify (%s): "
                          "the tree is held back all the same (fsxds unpin %s publishes it)", why, ns->id);
        }
        char digest[65];
        output_digest(out, digest);
        bool held = !streq(digest, h->pin_digest);
        if (held && !h->held)
                log_info(ns->id, "pinned at generation %" PRIu64 " (rollback of %" PRIu64 "): the tree's changes are "
                         "built and checked, not published, until fsxds unpin %s", h->pin_generation,
                         h->pin_rollback_of, ns->id);
        h->held = held;
        return true;
}

static void source_line(void *userdata, const char *rel, const char *sha256) {
        history_digest_line(userdata, rel, sha256);
}

/* The changes from a to b (both sorted by path). */
static void memo_changes(const NodeMemo *a, const NodeMemo *b, HistoryEntry *e) {
        size_t i = 0, k = 0;
        e->changes = xcalloc(a->n + b->n + 1, sizeof(HistoryChange));
        while (i < a->n || k < b->n) {
                /* the descriptions are shared (memo.h): the same one is the same path and sha256 */
                if (i < a->n && k < b->n && a->files[i] == b->files[k]) {
                        i++, k++;
                        continue;
                }
                int c = i == a->n ? 1 : k == b->n ? -1 : strcmp(a->files[i]->path, b->files[k]->path);
                if (c == 0 && memcmp(a->files[i]->sha256, b->files[k]->sha256, 65) == 0) {
                        i++, k++;
                        continue;
                }
                HistoryChange *h = &e->changes[e->n_changes++];
                h->path = xstrdup(c <= 0 ? a->files[i]->path : b->files[k]->path);
                if (c <= 0)
                        memcpy(h->was, a->files[i++]->sha256, 65);
                if (c >= 0)
                        memcpy(h->sha256, b->files[k++]->sha256, 65);
        }
}

typedef struct PruneContext {
        State *st;
        const NodeMemo *live; /* the newest generation's files */
} PruneContext;

/* (a pruned entry's few objects, each looked for at its path among the
 * live files, sorted by path: see HistoryLive) */
static bool prune_live(void *userdata, const char *path, const char *sha256) {
        const PruneContext *pc = userdata;
        size_t lo = 0, hi = pc->live->n;
        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                int c = strcmp(pc->live->files[mid]->path, path);
                if (c == 0)
                        return memcmp(pc->live->files[mid]->sha256, sha256, 64) == 0;
                if (c < 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return false;
}

/* an object the history let go: the copies' store collects it when nothing else links it */
static void pruned_object(void *userdata, ino_t ino) {
        const PruneContext *pc = userdata;
        store_unlinked(pc->st->state_store, ino);
}

bool rollback_record(State *st, NodeState *ns, uint64_t gen, const Manifest *restored) {
        if (st->config->history == 0 || gen == 0)
                return false;
        NodeHistory *h = node_history(st, ns);
        const char *state_dir = st->config->state_dir;
        NodeMemo cur = {};
        Manifest saved = {};
        if (!restored && ns->memo.n == 0) {
                /* no memo (past MEMO_BUDGET): the copy's MANIFEST just written */
                _cleanup_free_ char *path = xasprintf("%s/%s/" MANIFEST_NAME, st->state_nodes_dir, ns->id);
                _cleanup_free_ char *data = NULL, *why = NULL;
                size_t len;
                if (read_file_bounded(path, MANIFEST_MAX, &data, &len) < 0 || manifest_parse(data, len, &saved, &why) < 0) {
                        h->valid = false;
                        return false;
                }
                restored = &saved;
        }
        /* the node's memo as it is (read, never copied), or the manifest's */
        const NodeMemo *curp = &ns->memo;
        if (restored) {
                memo_from_manifest(st, restored, &cur);
                curp = &cur;
        }
        manifest_done(&saved);
        uint64_t newest = h->n_gens ? h->gens[h->n_gens - 1] : 0;
        bool wrote = false;
        HistoryEntry e = { .node = ns->id, .generation = gen, .n_files = curp->n };
        if (gen < newest)
                goto out;
        /* the changes against the newest entry's files (when known: else
         * the entry starts anew, every file added) */
        if (h->valid)
                memo_changes(&h->recorded, curp, &e);
        if (gen == newest && h->valid && e.n_changes == 0)
                goto out;
        if (!h->valid || gen == newest) {
                if (h->n_gens > 0) {
                        log_warning(ns->id, "its history before generation %" PRIu64 " does not lead to its last good "
                                    "copy (a crash between the two, or state_dir altered): its %zu entries are dropped",
                                    gen, h->n_gens);
                        (void) history_prune(state_dir, ns->id, 0, h->gens, &h->n_gens, &(HistoryPrune) { .known = h->known });
                }
                node_memo_done(&st->memo_files, &h->recorded);
                h->recorded_sum = (HistorySum) {};
                h->valid = false;
                e.node = NULL;
                history_entry_done(&e);
                e = (HistoryEntry) { .node = ns->id, .generation = gen, .n_files = curp->n };
                memo_changes(&h->recorded, curp, &e);
        }
        /* files_digest follows the changes: O(changes), not O(files) */
        HistorySum sum = h->recorded_sum;
        for (size_t i = 0; i < e.n_changes; i++) {
                if (e.changes[i].was[0])
                        history_sum_update(&sum, e.changes[i].path, e.changes[i].was, false);
                if (e.changes[i].sha256[0])
                        history_sum_update(&sum, e.changes[i].path, e.changes[i].sha256, true);
        }
        char digest[65];
        history_sum_hex(&sum, digest);
        e.created_usec = now_usec(CLOCK_REALTIME);
        memcpy(e.files_digest, digest, 65);
        if (h->rolling && h->attempted) {
                e.rollback_of = h->rollback_of;
                memcpy(e.source_sha256, h->rollback_source, 65);
        } else if (!restored) {
                Sha256 sh;
                sha256_init(&sh);
                source_cache_foreach_node_file(st->cache, ns->id, source_line, &sh);
                sha256_final_hex(&sh, e.source_sha256, 64);
        }
        int r = history_record(state_dir, &e);
        e.node = NULL;
        if (r < 0) {
                if (!h->record_failed)
                        log_warning(ns->id, "cannot record generation %" PRIu64 " in its history %s/" STATEDIR_HISTORY
                                    "/%s: %s", gen, state_dir, ns->id, strerror(-r));
                h->record_failed = true;
                h->valid = false;
                goto out;
        }
        h->record_failed = false;
        wrote = true;
        h->gens = xrealloc(h->gens, (h->n_gens + 1) * sizeof(uint64_t));
        h->known = xrealloc(h->known, (h->n_gens + 1) * sizeof(HistoryEntry *));
        h->known[h->n_gens] = e.n_changes <= HISTORY_KNOWN_CHANGES ? xmemdup(&e, sizeof e) : NULL;
        if (!h->known[h->n_gens])
                history_entry_done(&e);
        h->gens[h->n_gens++] = gen;
        node_memo_follow(&st->memo_files, &h->recorded, curp);
        h->recorded_sum = sum;
        memcpy(h->recorded_digest, digest, 65);
        h->valid = true;
        PruneContext pc = { st, &h->recorded };
        HistoryPrune how = { .known = h->known, .live = prune_live, .unlinked = pruned_object, .userdata = &pc };
        r = history_prune(state_dir, ns->id, st->config->history, h->gens, &h->n_gens, &how);
        if (r < 0)
                log_warning(ns->id, "cannot prune its history %s/" STATEDIR_HISTORY "/%s: %s", state_dir, ns->id,
                            strerror(-r));
out:
        if (!wrote) {
                e.node = NULL;
                history_entry_done(&e);
        }
        node_memo_done(&st->memo_files, &cur);
        return wrote;
}

bool rollback_in_flight(const NodeState *ns) {
        return ns->history && ns->history->rolling;
}

/* ---- the pin ---- */

static char *pin_json(const char *node, uint64_t generation, uint64_t rollback_of, uint64_t since) {
        Buf b = {};
        buf_printf(&b, "{\"created_usec\":%" PRIu64 ",\"generation\":%" PRIu64 ",\"node\":", since, generation);
        buf_put_json_string(&b, node);
        buf_printf(&b, ",\"rollback_of\":%" PRIu64 "}\n", rollback_of);
        return buf_steal_str(&b);
}

static void pin_read(State *st, NodeState *ns, NodeHistory *h) {
        _cleanup_free_ char *path = xasprintf("%s/" STATEDIR_PIN "/%s", st->config->state_dir, ns->id);
        _cleanup_free_ char *data = NULL, *why = NULL;
        _cleanup_(json_freep) Json *j = NULL;
        size_t len;
        int64_t gen = 0, of = 0, since = 0;
        if (read_file_bounded(path, 4096, &data, &len) < 0 || json_parse(data, len, &why, &j) < 0 ||
            !json_get_int(j, "generation", &gen) || !json_get_int(j, "rollback_of", &of) || gen <= 0)
                log_warning(ns->id, "its pin %s does not parse; pinned at its current generation", path);
        (void) json_get_int(j, "created_usec", &since);
        h->pinned = true;
        /* unparsable (an empty file after a power loss): what is live */
        uint64_t live = ns->generation ? ns->generation : statedir_manifest_generation(st->config->output_dir, ns->id);
        if (live == 0 && h->n_gens > 0)
                live = h->gens[h->n_gens - 1];
        h->pin_generation = gen > 0 ? (uint64_t) gen : live;
        h->pin_rollback_of = of > 0 ? (uint64_t) of : 0;
        h->pin_since_usec = since > 0 ? (uint64_t) since : 0;
        HistoryEntry e = {};
        _cleanup_free_ char *ewhy = NULL;
        h->pin_digest[0] = 0;
        if (history_read(st->config->state_dir, ns->id, h->pin_generation, &e, &ewhy) >= 0)
                memcpy(h->pin_digest, e.files_digest, 65);
        history_entry_done(&e);
}

typedef struct IdList {
        char **ids;
        size_t n;
} IdList;

static void collect_id(void *userdata, const char *node, uint64_t mtime_usec) {
        IdList *q = userdata;
        q->ids = xrealloc(q->ids, (q->n + 1) * sizeof(char *));
        q->ids[q->n++] = xstrdup(node);
}

static void id_list_free(IdList *q) {
        for (size_t i = 0; i < q->n; i++)
                free(q->ids[i]);
        free(q->ids);
        *q = (IdList) {};
}

static bool id_listed(const IdList *q, const char *id) {
        for (size_t i = 0; i < q->n; i++)
                if (streq(q->ids[i], id))
                        return true;
        return false;
}

/* pin/ as it is now: a new pin is read, a pin gone is the node unpinned. */
static bool sync_pins(State *st) {
        IdList pins = {};
        int r = statedir_list_requests(st->config->state_dir, STATEDIR_PIN, collect_id, &pins);
        if (r < 0) {
                log_warning(NULL, "cannot read %s/" STATEDIR_PIN ": %s", st->config->state_dir, strerror(-r));
                return false;
        }
        bool rebuild = false;
        for (size_t i = 0; i < pins.n; i++) {
                NodeState *ns = node_state(st, pins.ids[i]);
                NodeHistory *h = node_history(st, ns);
                if ((!h->pinned || h->unpinning) && !h->rolling) {
                        h->unpinning = false;
                        pin_read(st, ns, h);
                }
        }
        for (size_t i = 0; i < st->n_nodes; i++) {
                NodeState *ns = st->nodes[i];
                NodeHistory *h = ns->history;
                if (!h || !h->pinned || h->unpinning || id_listed(&pins, ns->id))
                        continue;
                /* status shows it pinned until the rebuild that builds it from the tree */
                h->unpinning = true;
                node_forget_memo(st, ns);
                ns->force_rebuild = true;
                rebuild = true;
        }
        id_list_free(&pins);
        return rebuild;
}

/* ---- fsxds rollback ---- */

static void rollback_refuse(State *st, const char *id, const char *why) {
        log_error(id, "fsxds rollback refused: %s", why);
        int r = statedir_request_remove(st->config->state_dir, STATEDIR_ROLLBACK, id);
        if (r < 0)
                log_error(id, "cannot remove the request %s/" STATEDIR_ROLLBACK "/%s: %s", st->config->state_dir, id,
                          strerror(-r));
}

/* Takes rollback/ID: the generation's files, checked, for the next rebuild. */
/* The generation rollback/ID asks for; 0 when there is no such request
 * or it holds no generation number. */
static uint64_t request_generation(const char *state_dir, const char *id) {
        _cleanup_free_ char *path = xasprintf("%s/" STATEDIR_ROLLBACK "/%s", state_dir, id);
        _cleanup_free_ char *data = NULL;
        size_t len;
        char *end = NULL;
        unsigned long long gen = 0;
        if (read_file_bounded(path, 64, &data, &len) >= 0 && data[0] >= '1' && data[0] <= '9') {
                errno = 0;
                gen = strtoull(data, &end, 10);
        }
        if (!end || errno || (*end && !streq(end, "\n")))
                return 0;
        return gen;
}

static bool rollback_take(State *st, const char *id) {
        const Config *c = st->config;
        _cleanup_free_ char *why = NULL, *in_tree = NULL;
        uint64_t gen = request_generation(c->state_dir, id);
        if (gen == 0) {
                rollback_refuse(st, id, "the request does not hold a generation number");
                return false;
        }
        if (statedir_forget_refused(c->source_dir, c->nodes, c->n_nodes, id, &in_tree) <= 0) {
                _cleanup_free_ char *m = xasprintf("node %s is not built by fsxdsd (not in the tree, not in nodes:)", id);
                rollback_refuse(st, id, m);
                return false;
        }
        NodeState *ns = node_state(st, id);
        NodeHistory *h = node_history(st, ns);
        if (h->rolling)
                return false; /* taken already */
        NodeOutput o = {};
        if (history_load_output(c->state_dir, id, gen, &o, &why) < 0) {
                rollback_refuse(st, id, why);
                return false;
        }
        HistoryEntry e = {};
        _cleanup_free_ char *ewhy = NULL;
        if (history_read(c->state_dir, id, gen, &e, &ewhy) >= 0)
                memcpy(h->rollback_source, e.source_sha256, 65);
        history_entry_done(&e);
        node_output_done(&h->rollback);
        h->rollback = o;
        h->rollback_of = gen;
        h->rolling = true;
        h->attempted = false;
        ns->force_rebuild = true;
        return true;
}

/* After the rebuild that built it: pinned when published, else refused. */
static bool rollback_finish(State *st, NodeState *ns, NodeHistory *h) {
        const char *state_dir = st->config->state_dir;
        h->rolling = h->attempted = false;
        if (ns->error.message) {
                log_error(ns->id, "fsxds rollback to generation %" PRIu64 " refused: %s%s", h->rollback_of,
                          ns->error.message,
                          ns->removal_blocked ? " (fsxds allow-removal lets it through, then fsxds rollback again)" : "");
                return false;
        }
        uint64_t since = now_usec(CLOCK_REALTIME);
        _cleanup_free_ char *json = pin_json(ns->id, ns->generation, h->rollback_of, since);
        int r = statedir_request_create(state_dir, STATEDIR_PIN, ns->id, json, NULL);
        if (r < 0) {
                log_error(ns->id, "rolled back to generation %" PRIu64 " (published as %" PRIu64 "), but cannot pin it "
                          "(%s/" STATEDIR_PIN "/%s: %s): the next change of the tree is published",
                          h->rollback_of, ns->generation, state_dir, ns->id, strerror(-r));
                return true;
        }
        h->pinned = true;
        h->held = false;
        h->pin_generation = ns->generation;
        h->pin_rollback_of = h->rollback_of;
        h->pin_since_usec = since;
        memcpy(h->pin_digest, h->recorded_digest, 65);
        /* one more rebuild: the node pinned, its tree built and checked
         * (its errors reported again, and whether changes are held); until
         * then its tree's error as the rollback's rebuild found it */
        ns->force_rebuild = true;
        st->rebuild_wanted = true;
        if (h->tree_error.message) {
                node_state_clear_error(ns);
                ns->error = h->tree_error;
                ns->n_errors = h->tree_n_errors;
                h->tree_error = (Diag) {};
                h->held = true;
        }
        log_info(ns->id, "rolled back: generation %" PRIu64 " published, its files equal generation %" PRIu64 "'s; "
                 "pinned: tree changes are built and checked but not published until fsxds unpin %s",
                 ns->generation, h->rollback_of, ns->id);
        return true;
}

bool rollback_requests(State *st, void (*write_status)(State *st)) {
        assert(!st->rebuild);
        const Config *c = st->config;
        if (!st->history_checked) {
                st->history_checked = true;
                _cleanup_free_ char *top = statedir_path(c->state_dir, STATEDIR_HISTORY);
                if (c->history == 0 && access(top, F_OK) == 0) {
                        int r = statedir_remove_entry(c->state_dir, STATEDIR_HISTORY);
                        if (r < 0)
                                log_warning(NULL, "history: 0, but %s cannot be removed: %s", top, strerror(-r));
                        else
                                log_info(NULL, "history: 0: the generation history in %s is removed", top);
                }
        }
        IdList done = {};
        bool changed = false;
        for (size_t i = 0; i < st->n_nodes; i++) {
                NodeHistory *h = st->nodes[i]->history;
                if (h && h->rolling && h->attempted) {
                        uint64_t of = h->rollback_of;
                        (void) rollback_finish(st, st->nodes[i], h);
                        changed = true;
                        /* a request rewritten meanwhile (another generation)
                         * stays, and is taken below */
                        if (request_generation(c->state_dir, st->nodes[i]->id) == of)
                                collect_id(&done, st->nodes[i]->id, 0);
                }
        }
        bool rebuild = sync_pins(st);
        changed = changed || rebuild;
        IdList q = {};
        int r = statedir_list_requests(c->state_dir, STATEDIR_ROLLBACK, collect_id, &q);
        if (r < 0)
                log_error(NULL, "cannot read %s/" STATEDIR_ROLLBACK ": %s", c->state_dir, strerror(-r));
        for (size_t i = 0; i < q.n; i++)
                if (!id_listed(&done, q.ids[i]))
                        rebuild = rollback_take(st, q.ids[i]) || rebuild;
        id_list_free(&q);
        if (changed && write_status)
                write_status(st);
        /* last: fsxds rollback, which waits for it, then finds the status as it is */
        for (size_t i = 0; i < done.n; i++) {
                r = statedir_request_remove(c->state_dir, STATEDIR_ROLLBACK, done.ids[i]);
                if (r < 0)
                        log_error(done.ids[i], "cannot remove the request %s/" STATEDIR_ROLLBACK "/%s: %s",
                                  c->state_dir, done.ids[i], strerror(-r));
        }
        id_list_free(&done);
        return rebuild;
}

void rollback_status(const NodeState *ns, StatusNode *sn) {
        const NodeHistory *h = ns->history;
        if (!h || !h->pinned)
                return;
        sn->pin_generation = (int64_t) h->pin_generation;
        sn->pin_rollback_of = (int64_t) h->pin_rollback_of;
        sn->pin_since_usec = (int64_t) h->pin_since_usec;
        sn->pin_held = h->held;
}

char *rollback_status_line(const State *st) {
        const NodeState *first = NULL;
        size_t n = 0;
        for (size_t i = 0; i < st->n_nodes; i++)
                if (st->nodes[i]->history && st->nodes[i]->history->pinned) {
                        first = first ?: st->nodes[i];
                        n++;
                }
        if (!first)
                return NULL;
        const NodeHistory *h = first->history;
        return xasprintf("; %s pinned at generation %" PRIu64 " (rollback of %" PRIu64 ")%s%s", first->id,
                         h->pin_generation, h->pin_rollback_of, h->held ? ", tree changes held" : "",
                         n > 1 ? " (and more pinned nodes)" : "");
}
