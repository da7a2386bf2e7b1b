/* SPDX-License-Identifier: MIT */
/* build: the node build over a real temporary source tree — merge order,
 * config-source wiring, VirtualHost merging, file naming and splitting. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <fcntl.h>
#include <ftw.h>
#include <sys/stat.h>

#include "build.h"
#include "memo.h"
#include "sources.h"
#include "wire.h"
#include "../random.h"

#include "tmptree.h"

static const NodeFile *find(const NodeOutput *o, const char *path) {
        for (size_t i = 0; i < o->n; i++)
                if (streq(o->files[i].path, path))
                        return &o->files[i];
        return NULL;
}

static bool contains(const NodeFile *f, const char *needle) {
        return memmem(f->data, f->len, needle, strlen(needle)) != NULL;
}

/* A build that must succeed; its diagnostics are shown when it does not. */
static void assert_built(int r, const DiagList *d) {
        if (r != 0)
                diag_list_print(d, stderr);
        assert_int_equal(r, 0);
}

static const BuildOptions opts = { .output_dir = "/run/fsxds/n1" };

static void test_merge_wire_and_split(void **state) {
        put("common/clusters.yaml",
            "resources:\n"
            "- {\"@type\": type.googleapis.com/envoy.config.cluster.v3.Cluster, name: web, type: STRICT_DNS, connect_timeout: 1s}\n"
            "- {\"@type\": type.googleapis.com/envoy.config.cluster.v3.Cluster, name: api, type: EDS}\n"
            "- {\"@type\": type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment, cluster_name: api}\n");
        put("nodes/n1/web.yaml",
            "\"@type\": type.googleapis.com/envoy.config.cluster.v3.Cluster\nname: web\ntype: EDS\n"
            "eds_cluster_config: {service_name: web-svc, eds_config: {path: /old/place.yaml}}\n");
        put("nodes/n1/eds.yaml",
            "resources:\n- {\"@type\": type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment, cluster_name: web-svc}\n"
            "- {\"@type\": type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment, cluster_name: \"a/b c\"}\n");
        put("nodes/n1/.hidden.yaml", "garbage: [\n");
        put("nodes/n1/notes.txt", "not yaml [\n");
        put("nodes/n2/other.yaml", "garbage: [\n");
        DiagList d = {};
        NodeOutput o = {};
        assert_built(build_node(schema, PUBLISH_MODE_RENAME, tree, "n1", &opts, &d, &o), &d);
        assert_int_equal(d.n_errors, 0);
        assert_int_equal(o.n, 5);
        assert_string_equal(o.files[0].path, "cds/cds.pb");
        assert_string_equal(o.files[1].path, "eds/a%2Fb%20c.pb");
        assert_string_equal(o.files[2].path, "eds/api.pb");
        assert_string_equal(o.files[3].path, "eds/web-svc.pb");
        assert_string_equal(o.files[4].path, "lds/lds.pb");
        const NodeFile *cds = &o.files[0];
        assert_int_equal(cds->n_resources, 2);
        /* the node's web (EDS, wired) replaced common's STRICT_DNS web */
        assert_true(contains(cds, "/run/fsxds/n1/eds/web-svc.pb"));
        assert_false(contains(cds, "/old/place.yaml"));
        /* api has no service_name: wired by cluster name */
        assert_true(contains(cds, "/run/fsxds/n1/eds/api.pb"));
        /* version_info is the content hash, written first */
        assert_int_equal(cds->data[0], 0x0a);
        assert_int_equal(cds->data[1], 16);
        assert_memory_equal(cds->data + 2, cds->version, 16);
        /* an empty LDS file still exists: the bootstrap names it */
        assert_int_equal(find(&o, "lds/lds.pb")->n_resources, 0);
        node_output_done(&o);
        diag_list_clear(&d);
}

static void test_deterministic(void **state) {
        DiagList d = {};
        NodeOutput a = {}, b = {};
        assert_built(build_node(schema, PUBLISH_MODE_RENAME, tree, "n1", &opts, &d, &a), &d);
        assert_built(build_node(schema, PUBLISH_MODE_RENAME, tree, "n1", &opts, &d, &b), &d);
        assert_int_equal(a.n, b.n);
        for (size_t i = 0; i < a.n; i++) {
                assert_int_equal(a.files[i].len, b.files[i].len);
                assert_memory_equal(a.files[i].data, b.files[i].data, a.files[i].len);
        }
        node_output_done(&a);
        node_output_done(&b);
        diag_list_clear(&d);
}

static void test_virtual_host_merge_and_rds_wiring(void **state) {
        put("nodes/n3/routes.yaml",
            "\"@type\": type.googleapis.com/envoy.config.route.v3.RouteConfiguration\nname: rc\n"
            "virtual_hosts: [{name: first, domains: [\"a\"]}]\nvalidate_clusters: true\n"
            "---\n\"@type\": type.googleapis.com/envoy.config.route.v3.VirtualHost\nname: rc/second\ndomains: [\"b\"]\n");
        put("nodes/n3/lds.yaml",
            "\"@type\": type.googleapis.com/envoy.config.listener.v3.Listener\nname: l\n"
            "filter_chains:\n- filters:\n  - name: hcm\n    typed_config:\n"
            "      \"@type\": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager\n"
            "      stat_prefix: x\n      rds: {route_config_name: rc}\n"
            "      http_filters: [{name: r, typed_config: {\"@type\": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router}}]\n");
        DiagList d = {};
        NodeOutput o = {};
        BuildOptions wd = { .output_dir = "/run/fsxds/n3" };
        assert_built(build_node(schema, PUBLISH_MODE_WATCHED_DIRECTORY, tree, "n3", &wd, &d, &o), &d);
        const NodeFile *rds = find(&o, "rds/rc.pb");
        assert_non_null(rds);
        assert_int_equal(rds->n_resources, 1);
        /* RouteConfiguration value: name(1), vh first(2), vh second(2), validate_clusters(7) */
        const char *first = memmem(rds->data, rds->len, "first", 5);
        const char *second = memmem(rds->data, rds->len, "second", 6);
        assert_non_null(first);
        assert_non_null(second);
        assert_true(first < second);
        assert_null(memmem(rds->data, rds->len, "rc/second", 9));
        const NodeFile *lds = find(&o, "lds/lds.pb");
        assert_true(contains(lds, "/run/fsxds/n3/rds/rc.pb"));
        assert_true(contains(lds, "/run/fsxds/n3/rds")); /* watched_directory */
        node_output_done(&o);
        diag_list_clear(&d);
}

static void test_errors_block_the_node(void **state) {
        put("nodes/n4/a.yaml", "\"@type\": type.googleapis.com/envoy.config.cluster.v3.Cluster\nname: dup\n");
        put("nodes/n4/b.yaml", "\"@type\": type.googleapis.com/envoy.config.cluster.v3.Cluster\nname: dup\n");
        put("nodes/n4/c.yaml", "\"@type\": type.googleapis.com/envoy.config.route.v3.VirtualHost\nname: nosuch/vh\ndomains: [x]\n");
        DiagList d = {};
        NodeOutput o = {};
        assert_int_equal(build_node(schema, PUBLISH_MODE_RENAME, tree, "n4", &opts, &d, &o), -EBADMSG);
        assert_int_equal(o.n, 0);
        assert_int_equal(d.n_errors, 2);
        bool dup = false, vh = false;
        for (size_t i = 0; i < d.n; i++) {
                _cleanup_free_ char *s = diag_format(&d.items[i]);
                dup = dup || (strstr(s, "b.yaml:1:1: error: duplicate Cluster \"dup\" (also defined at") && strstr(s, "a.yaml:1:1)"));
                vh = vh || strstr(s, "c.yaml:1:1: error: VirtualHost \"nosuch/vh\": no RouteConfiguration \"nosuch\"");
        }
        assert_true(dup);
        assert_true(vh);
        diag_list_clear(&d);
        assert_int_equal(build_node(schema, PUBLISH_MODE_RENAME, tree, ".bad", &opts, &d, &o), -EBADMSG);
        diag_list_clear(&d);
}

/* The listing (issue 12, defects 3 and 12): a bad entry is an error at its
 * path, never an empty or truncated tree; links stay inside the tree. */
static void test_hostile_entries(void **state) {
#define CL "\"@type\": type.googleapis.com/envoy.config.cluster.v3.Cluster\nname: %s\nconnect_timeout: 1s\n"
        _cleanup_free_ char *a = xasprintf(CL, "h_a"), *z = xasprintf(CL, "h_z");
#undef CL
        put("nodes/h1/a.yaml", a);
        put("nodes/h1/z/z.yaml", z);
        _cleanup_free_ char *loop = xasprintf("%s/nodes/h1/self", tree);
        _cleanup_free_ char *out = xasprintf("%s/nodes/h1/out.yaml", tree);
        _cleanup_free_ char *in = xasprintf("%s/nodes/h1/in.yaml", tree);
        _cleanup_free_ char *fifo = xasprintf("%s/nodes/h1/f.yaml", tree);
        assert_int_equal(symlink(".", loop), 0);
        assert_int_equal(symlink("/etc/passwd", out), 0);
        assert_int_equal(symlink("z/z.yaml", in), 0);
        assert_int_equal(mkfifo(fifo, 0600), 0);
        _cleanup_free_ char *dir = xasprintf("%s/nodes/h1", tree);
        DiagList problems = {};
        char **files = NULL;
        assert_int_equal(build_list_sources_checked(dir, &problems, &files), 0);
        /* every regular file, past the bad entries; the link inside followed */
        size_t n = 0;
        bool saw_in = false, saw_z = false;
        for (char **p = files; *p; p++, n++) {
                saw_in = saw_in || streq(*p, in);
                saw_z = saw_z || endswith(*p, "/z/z.yaml");
                free(*p);
        }
        free(files);
        assert_int_equal(n, 3);
        assert_true(saw_in && saw_z);
        assert_int_equal(problems.n_errors, 3);
        bool p_loop = false, p_out = false, p_fifo = false;
        for (size_t i = 0; i < problems.n; i++) {
                const Diag *d = &problems.items[i];
                p_loop = p_loop || (streq(d->file, loop) && strstr(d->message, "loop"));
                p_out = p_out || (streq(d->file, out) && strstr(d->message, "outside source_dir"));
                p_fifo = p_fifo || (streq(d->file, fifo) && strstr(d->message, "FIFO"));
        }
        assert_true(p_loop && p_out && p_fifo);
        diag_list_clear(&problems);
        assert_int_equal(build_list_sources(dir, &files), -EBADFD); /* the first problem by name: f.yaml */

        /* in the cache: node h1 fails naming the entries, node h2 is built */
        put("nodes/h2/a.yaml", z);
        _cleanup_(source_cache_freep) SourceCache *c = NULL;
        assert_int_equal(source_cache_new(schema, PUBLISH_MODE_RENAME, &c), 0);
        assert_true(source_cache_refresh(c, tree, NULL) > 0);
        DiagList d = {};
        NodeOutput o = {};
        assert_int_equal(build_node_from_cache(c, "h1", &opts, &d, &o), -EBADMSG);
        assert_int_equal(d.n_errors, 3);
        diag_list_clear(&d);
        assert_built(build_node_from_cache(c, "h2", &opts, &d, &o), &d);
        node_output_done(&o);
        diag_list_clear(&d);
        /* the entries removed: h1 builds, with no other change */
        assert_int_equal(unlink(loop), 0);
        assert_int_equal(unlink(out), 0);
        assert_int_equal(unlink(fifo), 0);
        assert_true(source_cache_refresh(c, tree, NULL) > 0);
        assert_true(source_cache_node_changed(c, "h1"));
        /* h1's own files (a duplicate via the link in.yaml -> z/z.yaml) */
        int r = build_node_from_cache(c, "h1", &opts, &d, &o);
        assert_int_equal(r, -EBADMSG);
        bool dup = false;
        for (size_t i = 0; i < d.n; i++)
                dup = dup || strstr(d.items[i].message, "duplicate");
        assert_true(dup);
        diag_list_clear(&d);
        assert_int_equal(unlink(in), 0);
        assert_int_equal(source_cache_refresh(c, tree, NULL), 1);
        assert_built(build_node_from_cache(c, "h1", &opts, &d, &o), &d);
        node_output_done(&o);
        diag_list_clear(&d);
}

static void test_file_names(void **state) {
        _cleanup_free_ char *a = layout_file_name("..");
        assert_string_equal(a, "%2E..pb");
        _cleanup_free_ char *b = layout_file_name("ok.name-1_x");
        assert_string_equal(b, "ok.name-1_x.pb");
        char longname[300];
        memset(longname, '/', sizeof longname - 1);
        longname[299] = 0;
        assert_null(layout_file_name(longname));
        assert_true(node_id_is_valid("edge-1.eu_west"));
        assert_false(node_id_is_valid(".x"));
        assert_false(node_id_is_valid("a/b"));
        assert_false(build_is_source_name(".x.yaml.swp"));
        assert_false(build_is_source_name("x.yaml~"));
        assert_false(build_is_source_name("4913"));
        assert_true(build_is_source_name("x.yml"));
        assert_true(build_is_source_name("x.json"));
}

static void test_source_cache(void **state) {
        _cleanup_(source_cache_freep) SourceCache *c = NULL;
        assert_int_equal(source_cache_new(schema, PUBLISH_MODE_RENAME, &c), 0);
        put("nodes/c1/x.yaml", "\"@type\": type.googleapis.com/envoy.config.cluster.v3.Cluster\nname: x\ntype: EDS\n");
        put("nodes/c1/cla.yaml", "resources:\n- {\"@type\": type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment, cluster_name: x}\n"
                                 "- {\"@type\": type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment, cluster_name: yy}\n");
        int first = source_cache_refresh(c, tree, NULL);
        assert_true(first > 0);
        assert_int_equal(source_cache_refresh(c, tree, NULL), 0); /* nothing changed */
        /* same bytes rewritten: read again, but not a change */
        put("nodes/c1/x.yaml", "\"@type\": type.googleapis.com/envoy.config.cluster.v3.Cluster\nname: x\ntype: EDS\n");
        assert_int_equal(source_cache_refresh(c, tree, NULL), 0);
        put("nodes/c1/x.yaml", "\"@type\": type.googleapis.com/envoy.config.cluster.v3.Cluster\nname: yy\ntype: EDS\n");
        assert_int_equal(source_cache_refresh(c, tree, NULL), 1);
        const char *const *nodes = source_cache_nodes(c);
        bool has_c1 = false;
        for (size_t i = 0; nodes[i]; i++)
                has_c1 = has_c1 || streq(nodes[i], "c1");
        assert_true(has_c1);
        /* one compiled file, two nodes: each gets its own directory wired in */
        DiagList d = {};
        NodeOutput a = {}, b = {};
        BuildOptions oa = { .output_dir = "/out/c1" }, ob = { .output_dir = "/elsewhere/c1" };
        assert_built(build_node_from_cache(c, "c1", &oa, &d, &a), &d);
        assert_built(build_node_from_cache(c, "c1", &ob, &d, &b), &d);
        assert_true(contains(find(&a, "cds/cds.pb"), "/out/c1/eds/yy.pb"));
        assert_true(contains(find(&b, "cds/cds.pb"), "/elsewhere/c1/eds/yy.pb"));
        assert_false(contains(find(&b, "cds/cds.pb"), "fsxds-node-dir"));
        node_output_done(&a);
        node_output_done(&b);
        char *p = xasprintf("%s/nodes/c1/x.yaml", tree);
        assert_int_equal(unlink(p), 0);
        free(p);
        assert_int_equal(source_cache_refresh(c, tree, NULL), 1);
        diag_list_clear(&d);
}

/* ---- build_node_update() against build_node_from_cache() ---- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static unsigned rnd(unsigned n) {
        return xorshift_below(&rng_state, n);
}

/* One random resource named from a small pool: tag (the file's stem)
 * makes common/a.yaml and nodes/<id>/a.yaml name the same resources (the
 * node's win), and now and then a shared name collides in one scope (an
 * error). VirtualHosts only when vhosts is set: a tree with any is built
 * whole. */
static void random_resource(Buf *b, const char *tag, unsigned port, bool vhosts) {
        char name[32];
        snprintf(name, sizeof name, "%s%u", rnd(12) == 0 ? "shared" : tag, rnd(3));
        switch (rnd(vhosts ? 8 : 7)) {
        case 0:
                buf_printf(b, "- {\"@type\": type.googleapis.com/envoy.config.cluster.v3.Cluster, name: %s, type: %s}\n", name,
                           rnd(4) ? "STATIC" : "EDS");
                break;
        case 1:
                buf_printf(b, "- {\"@type\": type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment, cluster_name: %s, "
                           "endpoints: [{lb_endpoints: [{endpoint: {address: {socket_address: {address: 10.0.0.1, port_value: %u}}}}]}]}\n",
                           name, port);
                break;
        case 2:
                buf_printf(b, "- {\"@type\": type.googleapis.com/envoy.config.route.v3.RouteConfiguration, name: %s, "
                           "virtual_hosts: [{name: v%u, domains: [\"*\"], routes: [{match: {prefix: /}, route: {cluster: %s}}]}]}\n",
                           name, port, rnd(4) ? "base" : name);
                break;
        case 3:
                buf_printf(b, "- {\"@type\": type.googleapis.com/envoy.config.listener.v3.Listener, name: %s, "
                           "address: {socket_address: {address: 0.0.0.0, port_value: %u}}, filter_chains: [{filters: [{name: hcm, "
                           "typed_config: {\"@type\": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager, "
                           "stat_prefix: x, rds: {route_config_name: %s%s}, http_filters: [{name: router, typed_config: "
                           "{\"@type\": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router}}]}}]}]}\n",
                           name, 8000 + rnd(2), name, rnd(4) ? ", config_source: {ads: {}}" : "");
                break;
        case 4:
                buf_printf(b, "- {\"@type\": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret, name: %s, "
                           "generic_secret: {secret: {inline_string: v%u}}}\n", name, port);
                break;
        case 5:
                buf_printf(b, "- {\"@type\": type.googleapis.com/envoy.service.runtime.v3.Runtime, name: %s, layer: {k: %u}}\n",
                           name, port);
                break;
        case 6:
                buf_printf(b, "- {\"@type\": type.googleapis.com/envoy.config.cluster.v3.Cluster, name: s-%s, type: STATIC}\n", name);
                break;
        default:
                buf_printf(b, "- {\"@type\": type.googleapis.com/envoy.config.route.v3.VirtualHost, name: %s/h%u, domains: [h%u]}\n",
                           name, rnd(2), port);
                break;
        }
}

static void assert_same_build(int r_full, const DiagList *d_full, const NodeOutput *full, int r_upd,
                              const DiagList *d_upd, const NodeOutput *upd) {
        assert_int_equal(r_upd, r_full);
        assert_int_equal(d_upd->n_errors, d_full->n_errors);
        for (size_t i = 0; i < d_full->n; i++)
                if (d_full->items[i].level == DIAG_ERROR) {
                        bool found = false;
                        for (size_t k = 0; k < d_upd->n && !found; k++)
                                found = streq(d_upd->items[k].message, d_full->items[i].message);
                        assert_true(found);
                }
        assert_int_equal(upd->n, full->n);
        for (size_t i = 0; i < full->n; i++) {
                assert_string_equal(upd->files[i].path, full->files[i].path);
                assert_int_equal(upd->files[i].len, full->files[i].len);
                assert_memory_equal(upd->files[i].data, full->files[i].data, full->files[i].len);
                assert_string_equal(upd->files[i].sha256, full->files[i].sha256);
                assert_string_equal(upd->files[i].version, full->files[i].version);
                assert_int_equal(upd->files[i].n_resources, full->files[i].n_resources);
        }
}

/* An empty tree (what other tests left removed) and a new cache for it. */
static SourceCache *fresh_tree_cache(void) {
        nftw(tree, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
        assert_int_equal(mkdir(tree, 0700), 0);
        SourceCache *c = NULL;
        assert_int_equal(source_cache_new(schema, PUBLISH_MODE_RENAME, &c), 0);
        return c;
}

/* The update of memo (made at *seq) for node id, checked against the
 * whole build (full, rf, df): the same verdict and diagnostics, each file
 * made again equal to the whole build's, the touched paths sorted and
 * accounting for every change, and the memo afterwards describing exactly
 * the whole build. A failed build leaves the memo as it was (what is live).
 * Returns build_node_update()'s result. */
static int update_memo(SourceCache *c, const char *id, MemoTable *t, NodeMemo *memo, uint64_t *seq, int rf,
                       const DiagList *df, const NodeOutput *full, DiagList *du) {
        BuildOptions o = { .output_dir = "/run/fsxds/u", .skip_notes = true };
        NodeOutput upd = {};
        char **touched = NULL;
        size_t n_touched = 0;
        int ru = build_node_update(c, id, &o, memo, *seq, du, &upd, &touched, &n_touched);
        if (ru == 0 || rf < 0)
                assert_same_build(rf, df, full, ru < 0 ? ru : 0, du, ru < 0 ? full : &upd);
        else {
                assert_int_equal(ru, 1);
                assert_int_equal(du->n_errors, 0);
                for (size_t i = 1; i < n_touched; i++)
                        assert_true(strcmp(touched[i - 1], touched[i]) < 0);
                for (size_t i = 0; i < upd.n; i++) {
                        const NodeFile *f = find(full, upd.files[i].path);
                        assert_non_null(f);
                        assert_int_equal(upd.files[i].len, f->len);
                        assert_memory_equal(upd.files[i].data, f->data, f->len);
                        assert_string_equal(upd.files[i].sha256, f->sha256);
                        bool listed = false;
                        for (size_t k = 0; k < n_touched && !listed; k++)
                                listed = streq(touched[k], upd.files[i].path);
                        assert_true(listed);
                }
        }
        if (ru >= 0) {
                if (ru == 0)
                        node_memo_set(t, memo, &upd);
                else
                        node_memo_update(t, memo, touched, n_touched, &upd);
                *seq = source_cache_seq(c);
                assert_int_equal(memo->n, full->n);
                for (size_t i = 0; i < full->n; i++) {
                        assert_string_equal(memo->files[i]->path, full->files[i].path);
                        assert_string_equal(memo->files[i]->sha256, full->files[i].sha256);
                        assert_string_equal(memo->files[i]->version, full->files[i].version);
                        assert_int_equal(memo->files[i]->len, full->files[i].len);
                        assert_int_equal(memo->files[i]->n_resources, full->files[i].n_resources);
                }
        }
        for (size_t i = 0; i < n_touched; i++)
                free(touched[i]);
        free(touched);
        node_output_done(&upd);
        return ru;
}

/* Builds node u1 from scratch and from its memo; both must agree. Returns
 * the whole build (for its bytes); *ret_rule: the rule of the first error,
 * if any. */
static NodeOutput update_and_compare_rule(SourceCache *c, MemoTable *t, NodeMemo *memo, uint64_t *seq, char **ret_rule) {
        BuildOptions o = { .output_dir = "/run/fsxds/u", .skip_notes = true };
        DiagList df = {}, du = {};
        NodeOutput full = {};
        assert_true(source_cache_refresh(c, tree, NULL) >= 0);
        int rf = build_node_from_cache(c, "u1", &o, &df, &full);
        (void) update_memo(c, "u1", t, memo, seq, rf, &df, &full, &du);
        *ret_rule = NULL;
        for (size_t i = 0; i < du.n && !*ret_rule; i++)
                if (du.items[i].level == DIAG_ERROR)
                        *ret_rule = xstrdup(du.items[i].rule ? du.items[i].rule : "(none)");
        diag_list_clear(&df);
        diag_list_clear(&du);
        return full;
}

static void update_and_compare(SourceCache *c, MemoTable *t, NodeMemo *memo, uint64_t *seq, NodeOutput *ret_full) {
        _cleanup_free_ char *rule = NULL;
        NodeOutput o = update_and_compare_rule(c, t, memo, seq, &rule);
        assert_null(rule);
        if (ret_full)
                *ret_full = o;
        else
                node_output_done(&o);
}

static void update_expect_rule(SourceCache *c, MemoTable *t, NodeMemo *memo, uint64_t *seq, const char *rule) {
        char *got = NULL;
        NodeOutput o = update_and_compare_rule(c, t, memo, seq, &got);
        assert_non_null(got);
        assert_string_equal(got, rule);
        free(got);
        node_output_done(&o);
}

/* A file saved with one of its resources edited changes that resource's
 * key only: the others it holds, byte for byte as they were, are not
 * made again in any node (a one-endpoint edit in a file of thousands). */
static void test_only_edited_keys_change(void **state) {
        _cleanup_(source_cache_freep) SourceCache *c = fresh_tree_cache();
        static const char *const two =
                "resources:\n"
                "- {\"@type\": type.googleapis.com/envoy.config.cluster.v3.Cluster, name: web, type: EDS}\n"
                "- {\"@type\": type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment, cluster_name: web, "
                "endpoints: [{lb_endpoints: [{endpoint: {address: {socket_address: {address: 10.0.0.1, port_value: %d}}}}]}]}\n";
        _cleanup_free_ char *v1 = xasprintf(two, 80), *v2 = xasprintf(two, 81), *v3 = xasprintf("# a comment\n%s", v2);
        put("common/web.yaml", v1);
        assert_int_equal(source_cache_refresh(c, tree, NULL), 1);
        put("common/web.yaml", v2);
        assert_int_equal(source_cache_refresh(c, tree, NULL), 1);
        assert_int_equal(c->common.n, 1);
        assert_int_equal(c->common.keys[0][0] - '0', RESOURCE_CLUSTER_LOAD_ASSIGNMENT);
        assert_string_equal(c->common.keys[0] + 1, "web");
        /* the same resources in other bytes: the scope changed, no key did */
        put("common/web.yaml", v3);
        assert_int_equal(source_cache_refresh(c, tree, NULL), 1);
        assert_int_equal(c->common.n, 0);
        assert_true(source_cache_node_changed(c, "u1"));
}

/* The graph checks hold in an update too: a route to a cluster that is
 * not there, and a cluster that goes while a route still names it. */
static void test_update_graph(void **state) {
        _cleanup_(source_cache_freep) SourceCache *c = fresh_tree_cache();
        static const char *const rc = "\"@type\": type.googleapis.com/envoy.config.route.v3.RouteConfiguration\nname: r\n"
                                      "virtual_hosts: [{name: v, domains: [\"*\"], routes: [{match: {prefix: /}, route: {cluster: %s}}]}]\n";
        put("common/cluster.yaml", "\"@type\": type.googleapis.com/envoy.config.cluster.v3.Cluster\nname: web\ntype: STATIC\n");
        _cleanup_free_ char *good = xasprintf(rc, "web"), *bad = xasprintf(rc, "nosuch");
        put("common/rc.yaml", good);
        MemoTable t = {};
        NodeMemo memo = {};
        uint64_t seq = 0;
        update_and_compare(c, &t, &memo, &seq, NULL);
        put("common/rc.yaml", bad);
        update_expect_rule(c, &t, &memo, &seq, "graph.cluster");
        put("common/rc.yaml", good);
        update_and_compare(c, &t, &memo, &seq, NULL); /* the failed build left the memo of what is live */
        update_and_compare(c, &t, &memo, &seq, NULL); /* an update with nothing changed */
        put("common/rc.yaml", bad);
        update_expect_rule(c, &t, &memo, &seq, "graph.cluster");
        put("common/rc.yaml", good);
        update_and_compare(c, &t, &memo, &seq, NULL);
        _cleanup_free_ char *p = xasprintf("%s/common/cluster.yaml", tree);
        assert_int_equal(unlink(p), 0);
        update_expect_rule(c, &t, &memo, &seq, "graph.cluster");
        node_memo_done(&t, &memo);
        assert_int_equal(t.files.n, 0);
        memo_table_done(&t);
}

static void test_update_virtual_host_removed(void **state) {
        _cleanup_(source_cache_freep) SourceCache *c = fresh_tree_cache();
        put("common/rc.yaml", "\"@type\": type.googleapis.com/envoy.config.route.v3.RouteConfiguration\nname: rc\n");
        put("common/vh.yaml", "\"@type\": type.googleapis.com/envoy.config.route.v3.VirtualHost\nname: rc/extra\ndomains: [x]\n");
        MemoTable t = {};
        NodeMemo memo = {};
        uint64_t seq = 0;
        NodeOutput full = {};
        update_and_compare(c, &t, &memo, &seq, &full);
        assert_true(contains(find(&full, "rds/rc.pb"), "extra"));
        node_output_done(&full);
        /* the last VirtualHost goes: its RouteConfiguration's file changes
         * though no RouteConfiguration did */
        _cleanup_free_ char *p = xasprintf("%s/common/vh.yaml", tree);
        assert_int_equal(unlink(p), 0);
        update_and_compare(c, &t, &memo, &seq, &full);
        assert_false(contains(find(&full, "rds/rc.pb"), "extra"));
        node_output_done(&full);
        node_memo_done(&t, &memo);
        memo_table_done(&t);
}

static void test_update_equals_full_build(void **state) {
        static const char *const files[] = { "common/a.yaml", "common/b.yaml", "common/c.yaml",
                                             "nodes/u1/a.yaml", "nodes/u1/b.yaml", "nodes/u2/a.yaml" };
        static const char *const ids[] = { "u1", "u2", "u3" };
        /* a tree of its own: what the other tests left would get in the way */
        nftw(tree, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
        assert_int_equal(mkdir(tree, 0700), 0);
        /* what most names point to, never edited */
        put("common/base.yaml", "\"@type\": type.googleapis.com/envoy.config.cluster.v3.Cluster\nname: base\ntype: STATIC\n");
        _cleanup_(source_cache_freep) SourceCache *c = NULL;
        assert_int_equal(source_cache_new(schema, PUBLISH_MODE_RENAME, &c), 0);
        MemoTable t = {};
        NodeMemo memo[3] = {};
        uint64_t prev_seq[3] = {};
        size_t n_updated = 0;
        for (unsigned step = 0; step < 600; step++) {
                const char *rel = files[rnd(6)];
                _cleanup_free_ char *tag = xstrndup(strrchr(rel, '/') + 1, 1);
                _cleanup_free_ char *path = xasprintf("%s/%s", tree, rel);
                unsigned what = rnd(20);
                if (what == 0)
                        (void) unlink(path);
                else if (what == 1)
                        put(rel, "resources: [\n"); /* broken */
                else if (what == 2)
                        assert_true(utimensat(AT_FDCWD, path, NULL, 0) == 0 || errno == ENOENT); /* touched */
                else {
                        Buf b = {};
                        buf_printf(&b, "resources:\n");
                        for (unsigned k = rnd(4); k > 0; k--)
                                random_resource(&b, tag, step, step >= 400);
                        if (b.len == strlen("resources:\n"))
                                buf_printf(&b, "- {\"@type\": type.googleapis.com/envoy.service.runtime.v3.Runtime, name: e%u}\n",
                                           step % 3);
                        _cleanup_free_ char *text = buf_steal_str(&b);
                        put(rel, text);
                }
                assert_true(source_cache_refresh(c, tree, NULL) >= 0);
                for (size_t i = 0; i < 3; i++) {
                        /* like the manager, skip nodes whose inputs did not
                         * change, and now and then (as after a failed
                         * publish) a node whose inputs did */
                        bool changed = source_cache_node_changed(c, ids[i]);
                        if ((!changed && rnd(2)) || rnd(16) == 0)
                                continue;
                        BuildOptions o = { .output_dir = "/run/fsxds/u", .skip_notes = true };
                        DiagList df = {}, du = {};
                        NodeOutput full = {};
                        int rf = build_node_from_cache(c, ids[i], &o, &df, &full);
                        int ru = update_memo(c, ids[i], &t, &memo[i], &prev_seq[i], rf, &df, &full, &du);
                        n_updated += ru == 1;
                        node_output_done(&full);
                        diag_list_clear(&df);
                        diag_list_clear(&du);
                }
        }
        for (size_t i = 0; i < 3; i++)
                node_memo_done(&t, &memo[i]);
        assert_int_equal(t.files.n, 0); /* every reference dropped */
        memo_table_done(&t);
        assert_true(n_updated > 60); /* updates made from the memo, not whole */
}

/* directories in nodes/ whose name is no node id are listed apart (their
 * owner reports them), never built; status.json is a node id like any
 * other; files in nodes/ are no nodes */
static void test_bad_node_dirs(void **state) {
        _cleanup_(source_cache_freep) SourceCache *c = NULL;
        assert_int_equal(source_cache_new(schema, PUBLISH_MODE_RENAME, &c), 0);
        const char *cluster = "\"@type\": type.googleapis.com/envoy.config.cluster.v3.Cluster\nname: x\ntype: EDS\n";
        put("names/nodes/ok/x.yaml", cluster);
        put("names/nodes/status.json/x.yaml", cluster);
        put("names/nodes/.hidden/x.yaml", cluster);
        put("names/nodes/a b/x.yaml", cluster);
        put("names/nodes/README.md", "not a node\n");
        _cleanup_free_ char *root = xasprintf("%s/names", tree);
        assert_true(source_cache_refresh(c, root, NULL) >= 0);
        const char *const *nodes = source_cache_nodes(c), *const *bad = source_cache_bad_node_dirs(c);
        assert_string_equal(nodes[0], "ok");
        assert_string_equal(nodes[1], "status.json");
        assert_null(nodes[2]);
        assert_string_equal(bad[0], ".hidden");
        assert_string_equal(bad[1], "a b");
        assert_null(bad[2]);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_merge_wire_and_split),
                cmocka_unit_test(test_deterministic),
                cmocka_unit_test(test_virtual_host_merge_and_rds_wiring),
                cmocka_unit_test(test_errors_block_the_node),
                cmocka_unit_test(test_file_names),
                cmocka_unit_test(test_hostile_entries),
                cmocka_unit_test(test_source_cache),
                cmocka_unit_test(test_update_equals_full_build),
                cmocka_unit_test(test_update_virtual_host_removed),
                cmocka_unit_test(test_update_graph),
                cmocka_unit_test(test_only_edited_keys_change),
                cmocka_unit_test(test_bad_node_dirs),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
