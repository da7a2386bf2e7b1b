/* SPDX-License-Identifier: MIT */
/* fsxdsd's rebuild policy. When the settle timer fires, the source cache is
 * refreshed (only changed files are compiled again), every node whose
 * inputs changed is built, checked against the removal guard, planned
 * against what is live, and published phase by phase for all nodes
 * together, pausing between phases; its last good copy goes to state_dir.
 * A node whose inputs have errors keeps its last good generation. */
#include <assert.h>
#include <inttypes.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <time.h>

#include "hashmap.h"
#include "logging.h"
#include "state.h"
#include "manifest.h"
#include "metrics.h"
#include "publish.h"
#include "guard.h"
#include "adsfeed.h"
#include "rebuild.h"
#include "requests.h"
#include "rollback.h"
#include "report.h"
#include "statedir.h"
#include "status.h"
#include "upkeep.h"

/* ---- state_dir ---- */

/* The counter follows every generation published; when it cannot (even
 * in place, see statedir_write_generation()), that is an error in status
 * (every node's state_error) and STATUS=, said once, until a write works. */
static void write_counter(State *st) {
        int r = statedir_write_generation(st->config->state_dir, st->generation);
        char *error = r < 0 ? xasprintf("cannot write the generation counter %s/" STATEDIR_GENERATION " (%" PRIu64
                                        "): %s; a restart may reuse a generation number",
                                        st->config->state_dir, st->generation, read_error_string(r))
                            : NULL;
        if (error && !st->counter_error)
                log_error(NULL, "%s", error);
        else if (!error && st->counter_error)
                log_info(NULL, "the generation counter is written again");
        free(st->counter_error);
        st->counter_error = error;
}

/* The error of the node's last good copy (NULL: none); said once. */
static void set_state_error(NodeState *ns, char *message) {
        if (message && !(ns->state_error && streq(ns->state_error, message)))
                log_error(ns->id, "%s", message);
        else if (!message && ns->state_error)
                log_info(ns->id, "its last good copy is saved again");
        free(ns->state_error);
        ns->state_error = message;
}

/* After a reboot output_dir is empty: when nothing of the node is live,
 * its last good generation is read back from the state copy, when the copy
 * verifies (statedir_load_copy()) and is not older than the output it
 * would replace (the node's live MANIFEST, when one is left). A copy that
 * is refused is the node's state error. */
static bool load_last_good_if_absent(State *st, const char *id, const char *why, NodeOutput *ret) {
        _cleanup_free_ char *live = xasprintf("%s/%s/" LAYOUT_LDS_FILE, st->config->output_dir, id);
        if (access(live, F_OK) == 0)
                return false;
        NodeOutput o = {};
        uint64_t generation;
        _cleanup_free_ char *error = NULL;
        int r = statedir_load_copy(st->config->state_dir, id, false, &o, &generation, &error);
        if (r == -ENOENT)
                return false;
        if (r < 0) {
                set_state_error(node_state(st, id),
                                xasprintf("%s; its last good copy does not verify and is not published: %s/%s", why,
                                          st->config->state_dir, error ? error : strerror(-r)));
                return false;
        }
        uint64_t live_generation = statedir_manifest_generation(st->config->output_dir, id);
        if (live_generation > generation) {
                node_output_done(&o);
                set_state_error(node_state(st, id),
                                xasprintf("%s; its last good copy in %s/%s is of generation %" PRIu64
                                          ", older than its output's MANIFEST (generation %" PRIu64 "): not published",
                                          why, st->state_nodes_dir, id, generation, live_generation));
                return false;
        }
        log_warning(id, "%s; republishing its last good generation (%" PRIu64 ") from %s/%s", why, generation,
                    st->state_nodes_dir, id);
        *ret = o;
        return true;
}

/* An error of the node that is not about its source files. */
static void node_fail(NodeState *ns, char *message) {
        node_state_clear_error(ns);
        ns->error = (Diag) { .level = DIAG_ERROR, .message = message };
        ns->n_errors = 1;
        ns->failed_usec = now_usec(CLOCK_REALTIME);
        log_error(ns->id, "%s", message);
}

/* ---- the removal guard ---- */

static const NodeFile *node_output_file(const NodeOutput *o, const char *path) {
        for (size_t i = 0; i < o->n; i++)
                if (streq(o->files[i].path, path))
                        return &o->files[i];
        return NULL;
}

/* Whether next may replace what is live (publish/guard.c's rule); the
 * allowance file lets one generation through. With before (a plan from
 * the memo), next holds only what changed, before what it replaces: a
 * kind whose file is in neither does not change. */
static bool removal_allowed(State *st, NodeState *ns, const NodeOutput *next, const NodeOutput *before,
                            char **ret_reason) {
        static const char *const files[_GUARD_KIND_MAX] = {
                [GUARD_LISTENERS] = LAYOUT_LDS_FILE,
                [GUARD_CLUSTERS] = LAYOUT_CDS_FILE,
        };
        GuardDelta delta = {};
        for (GuardKind k = 0; k < _GUARD_KIND_MAX; k++) {
                if (before && !node_output_file(next, files[k]) && !node_output_file(before, files[k]))
                        continue;
                _cleanup_free_ char *live = xasprintf("%s/%s/%s", st->config->output_dir, ns->id, files[k]);
                if (access(live, F_OK) < 0) {
                        /* after a reboot the last good generation is the state copy */
                        free(live);
                        live = xasprintf("%s/%s/%s", st->state_nodes_dir, ns->id, files[k]);
                }
                _cleanup_free_ char *data = NULL;
                size_t len = 0;
                const NodeFile *f = node_output_file(next, files[k]);
                if (read_file_bounded(live, 1u << 30, &data, &len) >= 0)
                        guard_count(&delta, k, (const uint8_t *) data, len, f ? f->data : NULL, f ? f->len : 0);
        }
        if (guard_check(&delta, st->config->max_removal, NULL) == 0) {
                guard_delta_done(&delta);
                return true;
        }
        _cleanup_free_ char *what = guard_describe(&delta, st->config->max_removal);
        guard_delta_done(&delta);
        int r = statedir_allow_removal_consume(st->config->state_dir, ns->id, now_usec(CLOCK_REALTIME));
        if (r > 0) {
                ns->allowance_usec = 0;
                log_warning(ns->id, "removing %s, allowed once by fsxds allow-removal", what);
                return true;
        }
        if (r < 0)
                log_warning(ns->id, "cannot use its removal allowance %s/" STATEDIR_ALLOW_REMOVAL "/%s: %s",
                            st->config->state_dir, ns->id, strerror(-r));
        *ret_reason = xasprintf("this generation would remove %s (more than max_removal %.2f); "
                                "'fsxds allow-removal %s' lets it through once",
                                what, st->config->max_removal, ns->id);
        return false;
}

/* ---- the rebuild ---- */

static uint64_t diags_fingerprint(const DiagList *d) {
        uint64_t h = d->n_errors * 1000003 + d->n_warnings;
        for (size_t i = 0; i < d->n; i++) {
                /* the same message in another file, column or field is another diagnostic */
                const Diag *x = &d->items[i];
                h = h * 31 + hash_bytes(x->message, strlen(x->message));
                h = h * 31 + (x->file ? hash_bytes(x->file, strlen(x->file)) : 0);
                h = h * 31 + (x->path ? hash_bytes(x->path, strlen(x->path)) : 0);
                h = (h * 31 + x->line) * 31 + x->column;
        }
        return h;
}

/* Runs phase ph of every plan that has it; returns whether any had it. A
 * failure is recorded in its plan (node_plan_error()), which later phases
 * then skip, and is reported once, with its node, by whoever reads it. */
static bool run_phase(NodePlan **plans, size_t n, PublishPhase ph) {
        bool any = false;
        for (size_t i = 0; i < n; i++) {
                if (!node_plan_has_phase(plans[i], ph))
                        continue;
                (void) node_plan_run_phase(plans[i], ph);
                any = true;
        }
        return any;
}

static bool has_phase_after(NodePlan **plans, size_t n, PublishPhase ph) {
        for (PublishPhase q = ph + 1; q < _PUBLISH_PHASE_MAX; q++)
                for (size_t i = 0; i < n; i++)
                        if (node_plan_has_phase(plans[i], q))
                                return true;
        return false;
}

static void collect_node_ids(State *st, char ***ret, size_t *ret_n) {
        const char *const *tree = source_cache_nodes(st->cache);
        size_t n_tree = 0;
        while (tree[n_tree])
                n_tree++;
        char **ids = xcalloc(n_tree + st->config->n_nodes + 1, sizeof(char *));
        size_t n = 0;
        Hashmap seen = {};
        for (size_t i = 0; i < n_tree + st->config->n_nodes; i++) {
                char *id = i < n_tree ? (char *) tree[i] : st->config->nodes[i - n_tree];
                if (!hashmap_put(&seen, id, strlen(id), id))
                        ids[n++] = id;
        }
        hashmap_free(&seen);
        *ret = ids;
        *ret_n = n;
}

static size_t count_dir_entries(const char *path) {
        _cleanup_closedir_ DIR *d = opendir(path);
        size_t n = 0;
        if (!d)
                return 0;
        while (readdir(d))
                n++;
        return n;
}

/* Plans waiting for their phases, with the nodes they publish. */
typedef struct Batch {
        NodePlan **plans, **state_plans;
        NodeState **published, **state_published;
        Manifest *state_manifests; /* each state copy's MANIFEST (its generation set when written) */
        size_t n_plans, n_state_plans, n_files;
        bool bumped; /* this rebuild started a generation */
} Batch;

/* Nodes that are gone from the tree keep their output; after a reboot
 * (empty output_dir) that output comes back from the state copy. */
static void restore_absent_nodes(State *st, char **ids, size_t n_ids, Batch *b) {
        _cleanup_closedir_ DIR *d = opendir(st->state_nodes_dir);
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
                if (!load_last_good_if_absent(st, de->d_name, "not in the source tree", &out))
                        continue;
                NodeState *ns = node_state(st, de->d_name);
                NodePlan *plan = NULL;
                if (publish_plan(st->store, st->config->output_dir, ns->id, st->config->publish_mode, &out, &plan) >= 0) {
                        b->plans[b->n_plans] = plan;
                        b->published[b->n_plans++] = ns;
                        /* the copy is what is published now, under a new generation: its MANIFEST says so */
                        size_t i = b->n_state_plans++;
                        b->state_plans[i] = NULL;
                        b->state_published[i] = ns;
                        statedir_copy_manifest(ns->id, 0, &out, &b->state_manifests[i]);
                }
                node_output_done(&out);
        }
        hashmap_free(&present);
}

/* Timings of one rebuild, for the debug log. */
typedef struct RebuildTimes {
        uint64_t refresh, build, plan, state;
} RebuildTimes;

/* A rebuild in flight. Its batches are published phase by phase, the next
 * phase armed as the manager's phase timer phase_pause later (nothing
 * sleeps): between phases the loop runs, and the manager holds back what
 * would touch the outputs until the rebuild is over (see manager.c). */
struct Rebuild {
        uint64_t start;
        RebuildTimes times;
        int changed;
        char **ids; /* the nodes to consider; ids[next..] are not built yet */
        size_t n_ids, next;
        bool built_all; /* every node built, absent ones restored: the batch being published is the last */
        Batch b;
        PublishPhase phase; /* the next phase of the batch being published */
        bool publishing;    /* the batch's phases are running */
        uint64_t t_publish;
        size_t n_bad, n_built;
};

static void batch_free_plans(Batch *b) {
        for (size_t i = 0; i < b->n_plans; i++)
                node_plan_free(b->plans[i]);
        for (size_t i = 0; i < b->n_state_plans; i++) {
                node_plan_free(b->state_plans[i]);
                manifest_done(&b->state_manifests[i]);
        }
        b->n_plans = b->n_state_plans = b->n_files = 0;
}

Rebuild *rebuild_free(Rebuild *r) {
        if (!r)
                return NULL;
        batch_free_plans(&r->b);
        free(r->b.plans);
        free(r->b.published);
        free(r->b.state_plans);
        free(r->b.state_published);
        free(r->b.state_manifests);
        free(r->ids);
        free(r);
        return NULL;
}

/* Runs the batch's phases from r->phase on. Returns true when the next one
 * is to wait phase_pause (the caller arms the phase timer, then resumes),
 * false when all have run. */
static bool batch_run_phases(State *st, Rebuild *r) {
        Batch *b = &r->b;
        while (r->phase < _PUBLISH_PHASE_MAX) {
                PublishPhase ph = r->phase++;
                bool any = run_phase(b->plans, b->n_plans, ph);
                if (any && st->config->phase_pause_usec > 0 && has_phase_after(b->plans, b->n_plans, ph))
                        return true;
        }
        return false;
}

/* Whether the node's output was published by this batch without error. */
static bool batch_published(const Batch *b, const NodeState *ns, bool *ret_failed) {
        for (size_t i = 0; i < b->n_plans; i++)
                if (b->published[i] == ns) {
                        *ret_failed = node_plan_error(b->plans[i]) < 0;
                        return !*ret_failed;
                }
        *ret_failed = false;
        return false;
}

/* The state copies of the batch: their files (every phase at once: no
 * Envoy reads them), then each one's MANIFEST, with the generation of the
 * output it mirrors. A node whose output was not published keeps the copy
 * it had (the copy is what is live). A failure is the node's state error,
 * tried again at the next rebuild. */
static void batch_finish_state(State *st, Batch *b) {
        _cleanup_free_ NodePlan **plans = xcalloc(b->n_state_plans + 1, sizeof(NodePlan *));
        size_t n = 0;
        for (size_t i = 0; i < b->n_state_plans; i++) {
                bool failed;
                (void) batch_published(b, b->state_published[i], &failed);
                if (failed) {
                        b->state_published[i]->state_checked = false;
                        b->state_plans[i] = node_plan_free(b->state_plans[i]);
                        b->state_published[i] = NULL;
                } else if (b->state_plans[i])
                        plans[n++] = b->state_plans[i];
        }
        for (PublishPhase ph = 0; ph < _PUBLISH_PHASE_MAX; ph++)
                (void) run_phase(plans, n, ph);
        int k = n > 0 ? publish_finish(st->state_store, plans, n) : 0;
        if (k < 0)
                log_error(NULL, "finishing the last good copies in %s: %s", st->state_nodes_dir, strerror(-k));
        bool wrote = false;
        for (size_t i = 0; i < b->n_state_plans; i++) {
                NodeState *ns = b->state_published[i];
                if (!ns)
                        continue;
                NodePlan *sp = b->state_plans[i];
                int e = sp ? node_plan_error(sp) : 0;
                Manifest *m = &b->state_manifests[i];
                bool failed;
                uint64_t gen = batch_published(b, ns, &failed) ? st->generation
                               : ns->generation                ? ns->generation
                                                               : statedir_manifest_generation(st->config->output_dir, ns->id);
                bool done = false, restored = m->n_files > 0; /* a copy read back: no memo */
                if (e >= 0 && m->n_files == 0 && ns->planned_delta && ns->state_manifest_patchable) {
                        /* the copy's MANIFEST this process wrote, patched at the paths that changed */
                        _cleanup_free_ char *why = NULL;
                        Manifest head = {};
                        ns->state_manifest_patchable = false;
                        if (upkeep_touched_manifest(st, ns, &head, &why) >= 0) {
                                head.node = xstrdup(ns->id);
                                head.generation = gen;
                                head.created_usec = now_usec(CLOCK_REALTIME);
                                int pk = statedir_patch_copy_manifest(st->config->state_dir, ns->id,
                                                                     &ns->state_manifest_id, &head, ns->touched,
                                                                     ns->n_touched, &ns->state_manifest_id);
                                done = pk >= 0;
                                if (pk == -ESTALE || pk == -ENOENT || pk == -ELOOP)
                                        log_warning(ns->id, "its last good copy's MANIFEST %s/%s/" MANIFEST_NAME
                                                    " is not the one fsxdsd wrote (%s): altered behind its back; "
                                                    "made again from its build",
                                                    st->state_nodes_dir, ns->id,
                                                    pk == -ESTALE ? "replaced or written to" : strerror(-pk));
                                wrote = wrote || done;
                                ns->state_manifest_patchable = done;
                        }
                        manifest_done(&head);
                }
                if (!done && e >= 0 && m->n_files == 0) {
                        /* the copy's files are the build's: described as the
                         * output's MANIFEST is, from the memo */
                        _cleanup_free_ char *why = NULL;
                        e = upkeep_built_manifest(st, &ns->memo, sp, m, &why);
                        if (e >= 0) {
                                m->node = xstrdup(ns->id);
                                m->created_usec = now_usec(CLOCK_REALTIME);
                        } else
                                log_debug(ns->id, "its last good copy's MANIFEST: %s", why);
                }
                if (!done && e >= 0) {
                        m->generation = gen;
                        /* patched next time only when written now, from the memo */
                        ns->state_manifest_patchable = false;
                        if (sp || !statedir_copy_manifest_current(st->config->state_dir, ns->id, m)) {
                                e = statedir_write_copy_manifest(st->config->state_dir, ns->id, m, false,
                                                                 &ns->state_manifest_id);
                                ns->state_manifest_patchable = e >= 0 && !restored && ns->memo.n > 0;
                                wrote = true;
                        }
                }
                if (e < 0) {
                        set_state_error(ns, xasprintf("cannot save its last good copy in %s/%s: %s (its output is "
                                                      "published; tried again at every rebuild)",
                                                      st->state_nodes_dir, ns->id, read_error_string(e)));
                        ns->state_failed = true;
                        ns->state_manifest_ok = false;
                } else {
                        set_state_error(ns, NULL);
                        ns->state_failed = false;
                        ns->state_manifest_ok = true;
                        wrote = rollback_record(st, ns, gen, restored ? m : NULL) || wrote;
                }
                if (sp)
                        ns->state_known = ns->memo.n > 0 && e >= 0;
                manifest_done(&b->state_manifests[i]); /* one node's at a time */
        }
        /* the MANIFESTs durable (the files were, at publish_finish()) */
        if (wrote)
                (void) store_sync(st->state_store, true);
}

/* What a "published generation" line names: files, in the order their
 * phases ran, up to PUBLISHED_NAMES_MAX, and the phases. */
#define PUBLISHED_NAMES_MAX 10

typedef struct PublishedLine {
        Buf files;
        size_t n_named, n_more;
        bool phases[_PUBLISH_PHASE_MAX];
        const char *node; /* prefixed to each file when several nodes published */
} PublishedLine;

static void published_note(void *userdata, PublishPhase phase, const char *type, const char *name, bool removed) {
        PublishedLine *l = userdata;
        l->phases[phase] = true;
        if (l->n_named >= PUBLISHED_NAMES_MAX) {
                l->n_more++;
                return;
        }
        buf_printf(&l->files, "%s%s%s%s/%s%s", l->n_named ? ", " : "", l->node ?: "", l->node ? "/" : "", type, name,
                   removed ? " (removed)" : phase == PUBLISH_PHASE_CDS_FINAL ? " (final)" : "");
        l->n_named++;
}

/* "eds/web.pb, cds/cds.pb and 3 more; phases eds, cds, lds" */
static char *published_text(PublishedLine *l) {
        Buf b = {};
        buf_printf(&b, "%s", l->files.len ? (const char *) l->files.data : "");
        if (l->n_more)
                buf_printf(&b, " and %zu more", l->n_more);
        const char *sep = "; phases ";
        for (PublishPhase ph = 0; ph < _PUBLISH_PHASE_MAX; ph++)
                if (l->phases[ph]) {
                        buf_printf(&b, "%s%s", sep, publish_phase_to_string(ph));
                        sep = " → ";
                }
        buf_free(&l->files);
        return buf_steal_str(&b);
}

/* One info line per generation, not per node (a thousand nodes make a
 * thousand lines at debug level only): the files, the phases in order. */
static void log_published(State *st, const Batch *b, size_t n_ok, size_t n_files) {
        PublishedLine all = {};
        const NodeState *only = NULL;
        for (size_t i = 0; i < b->n_plans; i++) {
                if (node_plan_error(b->plans[i]) < 0)
                        continue;
                only = n_ok == 1 ? b->published[i] : NULL;
                all.node = only ? NULL : b->published[i]->id;
                if (all.n_named < PUBLISHED_NAMES_MAX)
                        node_plan_foreach_change(b->plans[i], published_note, &all);
                else /* named enough: counted (a first publish has a file per resource) */
                        for (PublishPhase ph = 0; ph < _PUBLISH_PHASE_MAX; ph++)
                                all.phases[ph] = all.phases[ph] || node_plan_has_phase(b->plans[i], ph);
                if (all.n_named >= PUBLISHED_NAMES_MAX)
                        all.n_more = n_files > all.n_named ? n_files - all.n_named : 0;
                if (n_ok > 1 && log_level_enabled(LOG_DEBUG)) {
                        PublishedLine one = {};
                        node_plan_foreach_change(b->plans[i], published_note, &one);
                        _cleanup_free_ char *text = published_text(&one);
                        log_debug(b->published[i]->id, "published generation %" PRIu64 " (%zu changed file%s: %s)",
                                  st->generation, node_plan_n_changes(b->plans[i]),
                                  node_plan_n_changes(b->plans[i]) == 1 ? "" : "s", text);
                }
        }
        _cleanup_free_ char *text = published_text(&all);
        if (only)
                log_info(only->id, "published generation %" PRIu64 " (%zu changed file%s: %s)", st->generation, n_files,
                         n_files == 1 ? "" : "s", text);
        else
                log_info(NULL, "published generation %" PRIu64 " to %zu nodes (%zu changed file%s: %s)", st->generation,
                         n_ok, n_files, n_files == 1 ? "" : "s", text);
}

/* After the batch's last phase: the nodes' state, the generation counter,
 * the MANIFESTs (written last, after every phase of every node), then the
 * state copies; frees the plans. A node published whole from its memo has
 * its directory known from then on; one that failed is read from the disk
 * next time. */
static void batch_finish(State *st, Rebuild *r) {
        Batch *b = &r->b;
        if (b->n_plans > 0) {
                int k = publish_finish(st->store, b->plans, b->n_plans);
                if (k < 0)
                        log_error(NULL, "finishing the publish: %s", strerror(-k));
                st->publish_usec += now_usec(CLOCK_MONOTONIC) - r->t_publish;
                uint64_t t = now_usec(CLOCK_REALTIME);
                size_t n_ok = 0, n_files = 0;
                for (size_t i = 0; i < b->n_plans; i++) {
                        NodeState *ns = b->published[i];
                        if (node_plan_error(b->plans[i]) < 0) {
                                node_fail(ns, xasprintf("publishing failed in phase %s (%s); the node keeps what it had",
                                                        publish_phase_to_string(node_plan_failed_phase(b->plans[i])),
                                                        strerror(-node_plan_error(b->plans[i]))));
                                ns->live_verified = ns->manifest_ok = false;
                                ns->publish_failed = true;
                                st->metrics.publish_failures++;
                                r->n_bad++;
                                continue;
                        }
                        ns->live_known = ns->memo.n > 0;
                        ns->live_verified = true;
                        ns->publish_failed = false;
                        ns->generation = st->generation;
                        ns->published_usec = t;
                        n_ok++;
                        n_files += node_plan_n_changes(b->plans[i]);
                }
                log_published(st, b, n_ok, n_files);
                st->metrics.files_published += n_files;
                write_counter(st);
                /* written last, after every phase of every node */
                uint64_t t0 = now_usec(CLOCK_MONOTONIC);
                for (size_t i = 0; i < b->n_plans; i++)
                        if (node_plan_error(b->plans[i]) >= 0)
                                /* from the build (its memo, else the plan's objects), never from the disk */
                                upkeep_manifest_from_build(st, b->published[i], b->plans[i], true);
                upkeep_sync_manifests(st);
                st->manifest_usec += now_usec(CLOCK_MONOTONIC) - t0;
        }
        if (b->n_state_plans > 0)
                batch_finish_state(st, b);
        for (size_t i = 0; i < b->n_plans; i++)
                node_clear_touched(b->published[i]);
        for (size_t i = 0; i < b->n_state_plans; i++)
                if (b->state_published[i])
                        node_clear_touched(b->state_published[i]);
        batch_free_plans(b);
        r->publishing = false;
}

/* Publishes the batch's plans (the first batch of a rebuild that publishes
 * starts a new generation), then its state copies. Returns true when the
 * publish waits for the phase timer (rebuild_resume() goes on). */
static bool batch_publish(State *st, Rebuild *r) {
        Batch *b = &r->b;
        if (b->n_plans > 0 && !b->bumped && st->generation >= STATEDIR_GENERATION_MAX) {
                /* never wrap, never reuse a number: nothing is published any more */
                for (size_t i = 0; i < b->n_plans; i++) {
                        node_fail(b->published[i],
                                  xasprintf("the generation counter is at its highest (%" PRIu64 "): nothing more is "
                                            "published, the node keeps what it had (see state_dir in fsxds.yaml(5))",
                                            st->generation));
                        r->n_bad++;
                }
                batch_free_plans(b);
        }
        if (b->n_plans > 0) {
                if (!b->bumped)
                        st->generation++;
                b->bumped = true;
                r->t_publish = now_usec(CLOCK_MONOTONIC);
                r->phase = 0;
                r->publishing = true;
                if (batch_run_phases(st, r))
                        return true;
        }
        batch_finish(st, r);
        return false;
}

/* Plans hold an entry per file of their node; past this many entries the
 * nodes planned so far are published before more are planned, which bounds
 * memory when many large nodes change at once (each batch costs its own
 * phase pauses). */
#define PLAN_BATCH_FILES 49152

/* Builds one node whose inputs changed and plans it (and its state copy)
 * into b. Returns whether it has errors. When its output and its copy hold
 * its memo (as this process published them), the build starts from the
 * memo and both plans are made from what changed against it, reading no
 * directory; otherwise the node is built whole and planned from the disk. */
static bool rebuild_node(State *st, NodeState *ns, Batch *b, RebuildTimes *times) {
        _cleanup_free_ char *dir = xasprintf("%s/%s", st->config->output_dir, ns->id);
        BuildOptions opts = { .output_dir = dir, .skip_notes = true };
        DiagList d = {};
        NodeOutput out = {}, changed = {}, before = {};
        char **touched = NULL;
        size_t n_touched = 0;
        _cleanup_free_ char *reason = NULL; /* here: the gotos below jump past later declarations */
        /* a node that had an error and builds again says so */
        _cleanup_free_ char *was = ns->error.message ? diag_format(&ns->error) : NULL;
        bool changed_node = false;
        bool live_known = ns->live_known, state_known = ns->state_known;
        bool from_memo = ns->memo.n > 0 && live_known && state_known && !ns->state_failed &&
                         st->config->publish_mode == PUBLISH_MODE_RENAME;
        ns->force_rebuild = ns->publish_failed = false;
        ns->live_known = ns->state_known = false;
        node_clear_touched(ns);
        uint64_t t0 = now_usec(CLOCK_MONOTONIC);
        int r = adsfeed_name_clash(st, ns->id, &d); /* a node named like the xDS socket in output_dir */
        if (r == 0)
                r = rollback_build(st, ns, &opts, &from_memo, &d, &out, &touched, &n_touched);
        times->build += now_usec(CLOCK_MONOTONIC) - t0;
        bool built = r >= 0, whole = r == 0, bad = false;
        uint64_t fp = diags_fingerprint(&d);
        if (fp != ns->diag_fingerprint) {
                metrics_count_diags(&st->metrics, &d); /* counted as logged: once a set */
                for (size_t k = 0; k < d.n; k++)
                        log_diag(ns->id, &d.items[k]);
        }
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
                if (!load_last_good_if_absent(st, ns->id, "the build failed", &out))
                        goto done;
                /* what gets published is the copy, not the memo */
                node_forget_memo(st, ns);
                whole = true;
        }
        if (built && rollback_hold(st, ns, &out))
                goto done; /* pinned (fsxds rollback): checked, not published */

        NodePlan *plan = NULL;
        t0 = now_usec(CLOCK_MONOTONIC);
        /* from the memo: what changed against it (a view of out's files) */
        bool delta = built && from_memo;
        if (delta) {
                if (whole)
                        node_memo_diff(&ns->memo, &out, &changed, &touched, &n_touched);
                else
                        changed = (NodeOutput) { xmemdup(out.files, out.n * sizeof(NodeFile)), out.n };
                node_memo_select(&ns->memo, touched, n_touched, &before);
                r = publish_plan_delta(st->store, ns->id, &before, &changed, &plan);
        } else
                r = publish_plan(st->store, st->config->output_dir, ns->id, st->config->publish_mode, &out, &plan);
        times->plan += now_usec(CLOCK_MONOTONIC) - t0;
        if (r < 0) {
                node_fail(ns, xasprintf("cannot publish into %s: %s", dir, strerror(-r)));
                ns->publish_failed = true;
                st->metrics.publish_failures++;
                bad = true;
                built = false;
                goto done;
        }
        /* the guard only matters when listeners or clusters change */
        if ((node_plan_has_phase(plan, PUBLISH_PHASE_LDS) || node_plan_has_phase(plan, PUBLISH_PHASE_CDS) ||
             node_plan_has_phase(plan, PUBLISH_PHASE_CDS_FINAL)) &&
            !removal_allowed(st, ns, delta ? &changed : &out, delta ? &before : NULL, &reason)) {
                node_fail(ns, TAKE_PTR(reason));
                ns->removal_blocked = true;
                bad = true;
                built = delta = false;
                plan = node_plan_free(plan);
                free(changed.files);
                changed = (NodeOutput) {};
                node_output_done(&out);
                if (!load_last_good_if_absent(st, ns->id, "the removal guard refused the new generation", &out))
                        goto done;
                node_forget_memo(st, ns);
                if (publish_plan(st->store, st->config->output_dir, ns->id, st->config->publish_mode, &out, &plan) < 0)
                        goto done;
        } else if (built && node_plan_n_changes(plan) > 0)
                requests_allowance_spent(st, ns); /* a generation uses it up, needed or not */
        /* the memo: the build, which the MANIFESTs below are made from */
        if (built) {
                if (delta && !whole)
                        node_memo_update(&st->memo_files, &ns->memo, touched, n_touched, &changed);
                else
                        node_memo_set(&st->memo_files, &ns->memo, &out);
                ns->memo_seq = source_cache_seq(st->cache);
                const MemoFile *lds = node_memo_find(&ns->memo, LAYOUT_LDS_FILE),
                               *cds = node_memo_find(&ns->memo, LAYOUT_CDS_FILE);
                ns->n_files = ns->memo.n;
                ns->n_listeners = lds ? lds->n_resources : 0;
                ns->n_clusters = cds ? cds->n_resources : 0;
                st->memo_bytes -= ns->memo_bytes;
                ns->memo_bytes = node_memo_bytes(&ns->memo);
                st->memo_bytes += ns->memo_bytes;
                if (st->memo_bytes > MEMO_BUDGET) {
                        node_forget_memo(st, ns);
                        delta = false;
                }
        }
        adsfeed_node(st, ns, &out, delta && !whole ? touched : NULL, n_touched); /* served over ADS too */
        if (delta) {
                ns->touched = TAKE_PTR(touched);
                ns->n_touched = n_touched;
                ns->planned_delta = true;
                n_touched = 0;
        }
        changed_node = node_plan_n_changes(plan) > 0;
        if (changed_node) {
                b->plans[b->n_plans] = plan;
                b->published[b->n_plans++] = ns;
                /* a plan holds an entry for each file it places */
                b->n_files += delta ? changed.n : out.n;
        } else {
                /* the directory holds the build: its MANIFEST is the build's */
                if (!ns->manifest_ok)
                        upkeep_manifest_from_build(st, ns, plan, false);
                node_plan_free(plan);
                ns->live_known = built;
                ns->live_verified = ns->live_verified || built;
        }
        /* the last good copy in state_dir: checked at start, then only
         * when the node's output changes */
        t0 = now_usec(CLOCK_MONOTONIC);
        if (changed_node || !ns->state_checked || ns->state_failed) {
                NodePlan *sp = NULL;
                r = delta ? publish_plan_delta(st->state_store, ns->id, &before, &changed, &sp)
                          : publish_plan(st->state_store, st->state_nodes_dir, ns->id, PUBLISH_MODE_RENAME, &out, &sp);
                if (!delta && (r == -ELOOP || r == -ENOTDIR)) {
                        /* planted in fsxdsd's own tree: removed (never followed), then made again */
                        int k = statedir_remove_entry(st->state_nodes_dir, ns->id);
                        log_warning(ns->id, "its last good copy %s/%s held a symlink or a non-directory: %s",
                                    st->state_nodes_dir, ns->id, k < 0 ? strerror(-k) : "removed, saved again");
                        r = publish_plan(st->state_store, st->state_nodes_dir, ns->id, PUBLISH_MODE_RENAME, &out, &sp);
                }
                if (r >= 0) {
                        ns->state_checked = true;
                        bool changes = node_plan_n_changes(sp) > 0;
                        if (!changes) {
                                sp = node_plan_free(sp);
                                ns->state_known = built;
                        }
                        /* the copy's MANIFEST names the generation it mirrors: rewritten with the output */
                        if ((delta || out.n > 0) && (changes || changed_node || !ns->state_manifest_ok)) {
                                size_t i = b->n_state_plans++;
                                b->state_plans[i] = sp;
                                b->state_published[i] = ns;
                                /* made from the memo when the batch is done; a
                                 * build that is no memo (a restored copy) now */
                                if (!built)
                                        statedir_copy_manifest(ns->id, 0, &out, &b->state_manifests[i]);
                        } else
                                node_plan_free(sp);
                } else {
                        set_state_error(ns, xasprintf("cannot save its last good copy in %s/%s: %s (tried again at "
                                                      "every rebuild)",
                                                      st->state_nodes_dir, ns->id, read_error_string(r)));
                        ns->state_failed = true;
                }
        } else
                /* out is what the directory had, which the copy had */
                ns->state_known = built && state_known && live_known;
        times->state += now_usec(CLOCK_MONOTONIC) - t0;
        if (!built) {
                /* a copy read back (the build's counts are set with its memo) */
                const NodeFile *lds = node_output_file(&out, LAYOUT_LDS_FILE), *cds = node_output_file(&out, LAYOUT_CDS_FILE);
                ns->n_files = out.n;
                ns->n_listeners = lds ? lds->n_resources : 0;
                ns->n_clusters = cds ? cds->n_resources : 0;
        }
done:
        metrics_node_built(ns, bad, changed_node);
        if (was && !bad && !rollback_in_flight(ns)) /* (a rollback's files are not the tree's build) */
                log_info(ns->id, "recovered: it builds without errors again%s (it had: %s)",
                         changed_node ? "; its build is published" : ", as its directory holds", was);
        diag_list_clear(&d);
        node_output_done(&before);
        free(changed.files); /* a view of out's */
        node_output_done(&out);
        for (size_t i = 0; i < n_touched; i++)
                free(touched[i]);
        free(touched);
        return bad;
}

typedef struct HostAddress {
        const NodeState *node;
        ListenerAddress a;
} HostAddress;

/* Two Envoys on one host cannot bind one address (the second fails to
 * bind and its listener is rejected): a warning per pair of nodes, logged
 * when the set of such pairs changes. */
static void check_host_addresses(State *st) {
        Hashmap first = {};
        HostAddress **owned = xcalloc(st->n_nodes + 1, sizeof(HostAddress *));
        DiagList d = {};
        uint64_t fp = 0;
        for (size_t i = 0; i < st->n_nodes; i++) {
                const NodeState *ns = st->nodes[i];
                if (!ns->present)
                        continue;
                ListenerAddress *a = NULL;
                size_t n = source_cache_listener_addresses(st->cache, ns->id, &a);
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
        if (fp != st->host_address_fingerprint)
                for (size_t i = 0; i < d.n; i++)
                        log_diag(NULL, &d.items[i]);
        st->host_address_fingerprint = fp;
        diag_list_clear(&d);
        for (size_t i = 0; i < st->n_nodes; i++)
                free(owned[i]);
        free(owned);
        hashmap_free(&first);
}


/* Builds the nodes not built yet, publishing each full batch on the way
 * and the last one at the end. Returns true when a publish waits for the
 * phase timer; false when the rebuild is over (and freed), with its count
 * of nodes with errors in *ret_n_bad. */
static bool rebuild_continue(State *st, size_t *ret_n_bad) {
        Rebuild *r = st->rebuild;
        while (r->next < r->n_ids) {
                NodeState *ns = node_state(st, r->ids[r->next++]);
                bool was_present = ns->present_before;
                ns->present = ns->present_before = true;
                /* a node whose inputs did not change is as it was, unless it
                 * waits for the removal guard, its publish or its copy's
                 * save failed (the retry) or everything is rechecked */
                if (!st->recheck_all && was_present && !ns->removal_blocked && !ns->force_rebuild &&
                    !ns->publish_failed && !ns->state_failed && !source_cache_node_changed(st->cache, ns->id))
                        continue;
                r->n_bad += rebuild_node(st, ns, &r->b, &r->times);
                r->n_built++;
                if (r->b.n_files >= PLAN_BATCH_FILES && batch_publish(st, r))
                        return true;
        }
        if (!r->built_all) {
                r->built_all = true;
                if (st->recheck_all)
                        restore_absent_nodes(st, r->ids, r->n_ids, &r->b);
                st->recheck_all = false;
                for (size_t i = 0; i < st->n_nodes; i++)
                        if (!st->nodes[i]->present) {
                                st->nodes[i]->present_before = false;
                                node_forget_memo(st, st->nodes[i]);
                        }
                if (batch_publish(st, r))
                        return true;
        }
        uint64_t t0 = now_usec(CLOCK_MONOTONIC);
        upkeep_ensure_manifests(st);
        st->manifest_usec += now_usec(CLOCK_MONOTONIC) - t0;
        if (r->n_built > 0)
                check_host_addresses(st);
        st->last_rebuild_usec = now_usec(CLOCK_REALTIME);
        metrics_rebuild_done(&st->metrics, now_usec(CLOCK_MONOTONIC) - r->start);
        report_write_status(st);
        log_debug(NULL,
                  "rebuild took %" PRIu64 " µs (%d files changed; refresh %" PRIu64 ", build %" PRIu64 ", plan %" PRIu64
                  ", state plan %" PRIu64 ", publish %" PRIu64 ", manifests %" PRIu64 " µs)",
                  now_usec(CLOCK_MONOTONIC) - r->start, r->changed, r->times.refresh, r->times.build, r->times.plan,
                  r->times.state, st->publish_usec, st->manifest_usec);
        st->manifest_usec = st->publish_usec = 0;
        *ret_n_bad = r->n_bad;
        st->rebuild = rebuild_free(st->rebuild);
        return false;
}

bool rebuild_start(State *st, size_t *ret_n_bad) {
        assert(!st->rebuild);
        uint64_t start = now_usec(CLOCK_MONOTONIC);
        int changed;
        bool listed = upkeep_refresh_sources(st, &changed);
        bool unreadable = listed && changed < 0;
        if (unreadable) {
                /* source_dir or its nodes/ cannot be listed: that is no empty
                 * tree, nothing is built from it (a bad entry inside is a
                 * node's error instead, and never fails the refresh); nodes
                 * whose output is gone (a reboot with the tree unmounted)
                 * still get their last good copy back */
                free(st->sources_error);
                st->sources_error = unreadable_reason(st->config->source_dir, changed);
                st->recheck_all = true;
                for (size_t i = 0; i < st->n_nodes; i++)
                        node_forget_memo(st, st->nodes[i]);
                changed = 0;
        } else if (!listed) {
                upkeep_ensure_manifests(st);
                st->last_rebuild_usec = now_usec(CLOCK_REALTIME);
                report_write_status(st);
                *ret_n_bad = 0;
                return false;
        }
        Rebuild *r = xcalloc(1, sizeof(Rebuild));
        r->start = start;
        r->changed = changed;
        r->times.refresh = now_usec(CLOCK_MONOTONIC) - start;
        if (unreadable)
                r->ids = xcalloc(1, sizeof(char *)); /* none built; every node stays as it was */
        else {
                report_bad_node_dirs(st);
                collect_node_ids(st, &r->ids, &r->n_ids);
                for (size_t i = 0; i < st->n_nodes; i++)
                        st->nodes[i]->present = false;
        }
        /* (present is set again for every node still in the tree) */
        /* room for every node of the tree, and for restored absent ones */
        size_t cap = r->n_ids + st->n_nodes + count_dir_entries(st->state_nodes_dir) + 1;
        r->b = (Batch) {
                .plans = xcalloc(cap, sizeof(NodePlan *)),
                .published = xcalloc(cap, sizeof(NodeState *)),
                .state_plans = xcalloc(cap, sizeof(NodePlan *)),
                .state_published = xcalloc(cap, sizeof(NodeState *)),
                .state_manifests = xcalloc(cap, sizeof(Manifest)),
        };
        st->rebuild = r;
        return rebuild_continue(st, ret_n_bad);
}

bool rebuild_resume(State *st, size_t *ret_n_bad) {
        Rebuild *r = st->rebuild;
        assert(r && r->publishing);
        if (batch_run_phases(st, r))
                return true;
        batch_finish(st, r);
        return rebuild_continue(st, ret_n_bad);
}

bool rebuild_state_failed(const State *st) {
        for (size_t i = 0; i < st->n_nodes; i++)
                if (st->nodes[i]->state_failed)
                        return true;
        return false;
}

bool rebuild_busy(const State *st) {
        return st->rebuild;
}
