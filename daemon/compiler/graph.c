/* SPDX-License-Identifier: MIT */
/* Whole-graph validation: facts from the YAML, local checks, node checks. */
#include "envoy-checks.h"
#include "graph.h"
#include "hashmap.h"
#include "reporter.h"

#define ROUTER_TYPE "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"
#define ROUTER_NAME "envoy.filters.http.router"

bool config_source_is_remote(const YamlNode *cs) {
        return cs && cs->kind == YAML_KIND_MAP && cs->n > 0 && !yaml_map_get_field(cs, "path") &&
               !yaml_map_get_field(cs, "path_config_source") &&
               (yaml_map_get_field(cs, "ads") || yaml_map_get_field(cs, "api_config_source") || yaml_map_get_field(cs, "self"));
}

typedef struct Walk {
        const Schema *schema;
        ResourceFacts *facts;
        Reporter report; /* the field path, and where problems go */
        CheckContext checks; /* Envoy's load-time checks, reporting to report */
        unsigned depth;
} Walk;

#define push_field(w, name) reporter_push_field(&(w)->report, name)
#define push_index(w, i) reporter_push_index(&(w)->report, i)
#define walk_error(w, at, rule, ...) reporter_rule_error(&(w)->report, at, rule, __VA_ARGS__)

/* Records that the resource names (t, name->str) at field (relative to
 * the current path; "" for the current node). */
static void add_ref(Walk *w, ResourceType t, const YamlNode *name, const char *field) {
        if (!name || name->kind != YAML_KIND_STRING || name->n == 0)
                return; /* missing or empty: the field rules say so */
        size_t saved = *field ? push_field(w, field) : w->report.path.len;
        ResourceFacts *f = w->facts;
        f->refs = xrealloc(f->refs, (f->n_refs + 1) * sizeof(ResourceRef));
        f->refs[f->n_refs++] = (ResourceRef) { t, xstrdup(name->str), reporter_path(&w->report), name->line, name->column };
        reporter_pop(&w->report, saved);
}

/* RouteAction and TcpProxy: a cluster, or weighted clusters. */
static void cluster_targets(Walk *w, const YamlNode *node) {
        add_ref(w, RESOURCE_CLUSTER, yaml_map_get_field(node, "cluster"), "cluster");
        const YamlNode *wc = yaml_map_get_field(node, "weighted_clusters");
        const YamlNode *list = wc && wc->kind == YAML_KIND_MAP ? yaml_map_get_field(wc, "clusters") : NULL;
        if (!list || list->kind != YAML_KIND_SEQ)
                return;
        /* the weights are Envoy's check (envoy-checks-route.c, by release) */
        size_t saved = push_field(w, "weighted_clusters");
        for (uint32_t i = 0; i < list->n; i++) {
                const YamlNode *c = list->items[i];
                if (c->kind != YAML_KIND_MAP)
                        continue;
                size_t s2 = push_field(w, "clusters");
                push_index(w, i);
                add_ref(w, RESOURCE_CLUSTER, yaml_map_get_field(c, "name"), "name");
                reporter_pop(&w->report, s2);
        }
        reporter_pop(&w->report, saved);
}

static bool is_type_url(const YamlNode *v, const char *url) {
        return v && v->kind == YAML_KIND_STRING && streq(v->str, url);
}

/* The router, as Envoy finds it (Config::Utility::getFactoryType): by the
 * typed_config's type, or the type a TypedStruct wraps; by the type URLs
 * an ECDS config_discovery allows; by name alone before typed_config was
 * required (envoy.extension.typed-config says when that is refused). */
static bool is_router_filter(const YamlNode *filter) {
        const YamlNode *tc = yaml_map_get_field(filter, "typed_config");
        const YamlNode *t = tc && tc->kind == YAML_KIND_MAP ? yaml_map_get(tc, "@type") : NULL;
        if (t && t->kind == YAML_KIND_STRING) {
                if (streq(t->str, "type.googleapis.com/xds.type.v3.TypedStruct") ||
                    streq(t->str, "type.googleapis.com/udpa.type.v1.TypedStruct"))
                        return is_type_url(yaml_map_get_field(tc, "type_url"), ROUTER_TYPE);
                return streq(t->str, ROUTER_TYPE);
        }
        const YamlNode *cd = yaml_map_get_field(filter, "config_discovery");
        const YamlNode *urls = cd && cd->kind == YAML_KIND_MAP ? yaml_map_get_field(cd, "type_urls") : NULL;
        if (urls) {
                if (urls->kind != YAML_KIND_SEQ)
                        return is_type_url(urls, ROUTER_TYPE);
                for (uint32_t i = 0; i < urls->n; i++)
                        if (is_type_url(urls->items[i], ROUTER_TYPE))
                                return true;
                return false;
        }
        const YamlNode *name = yaml_map_get_field(filter, "name");
        return !tc && name && name->kind == YAML_KIND_STRING && streq(name->str, ROUTER_NAME);
}

static void http_connection_manager(Walk *w, const YamlNode *node) {
        const YamlNode *rds = yaml_map_get_field(node, "rds");
        if (rds && rds->kind == YAML_KIND_MAP && !config_source_is_remote(yaml_map_get_field(rds, "config_source")))
                add_ref(w, RESOURCE_ROUTE_CONFIGURATION, yaml_map_get_field(rds, "route_config_name"), "rds.route_config_name");
        const YamlNode *filters = yaml_map_get_field(node, "http_filters");
        /* a single mapping is a list of one (the legacy form the encoder takes) */
        const YamlNode *const *items = &filters;
        size_t n = filters && filters->kind == YAML_KIND_MAP ? 1 : 0;
        if (filters && filters->kind == YAML_KIND_SEQ) {
                items = (const YamlNode *const *) filters->items;
                n = filters->n;
        }
        size_t router = n;
        for (size_t i = 0; i < n; i++)
                if (items[i]->kind == YAML_KIND_MAP && is_router_filter(items[i]))
                        router = i;
        if (router == n) {
                size_t saved = push_field(w, "http_filters");
                walk_error(w, filters ? filters : node, "graph.router-filter",
                           "no HTTP router filter (%s, typed_config %s): requests would be answered by no upstream",
                           ROUTER_NAME, ROUTER_TYPE);
                reporter_pop(&w->report, saved);
        } else if (router != n - 1) {
                size_t saved = push_field(w, "http_filters");
                push_index(w, router);
                walk_error(w, items[router], "graph.router-last",
                           "the router filter is filter %zu of %zu: it must be the last one (Envoy rejects filters after a "
                           "terminal filter)", router + 1, n);
                reporter_pop(&w->report, saved);
        }
}

static void cluster(Walk *w, const YamlNode *node) {
        const YamlNode *t = yaml_map_get_field(node, "type");
        if (!t || !yaml_is_scalar(t) || !(streq(t->str, "EDS") || streq(t->str, "3")))
                return;
        const YamlNode *ecc = yaml_map_get_field(node, "eds_cluster_config");
        if (ecc && ecc->kind == YAML_KIND_MAP && config_source_is_remote(yaml_map_get_field(ecc, "eds_config")))
                return;
        const YamlNode *svc = ecc && ecc->kind == YAML_KIND_MAP ? yaml_map_get_field(ecc, "service_name") : NULL;
        if (svc && svc->kind == YAML_KIND_STRING && svc->n > 0)
                add_ref(w, RESOURCE_CLUSTER_LOAD_ASSIGNMENT, svc, "eds_cluster_config.service_name");
        else
                add_ref(w, RESOURCE_CLUSTER_LOAD_ASSIGNMENT, yaml_map_get_field(node, "name"), "name");
}

/* A canonical text of a YAML value: mappings with sorted keys. */
static void canonical(const YamlNode *v, Buf *out) {
        if (!v || v->kind == YAML_KIND_NULL) {
                buf_printf(out, "{}");
                return;
        }
        if (v->kind == YAML_KIND_SEQ) {
                buf_putc(out, '[');
                for (uint32_t i = 0; i < v->n; i++) {
                        canonical(v->items[i], out);
                        buf_putc(out, ',');
                }
                buf_putc(out, ']');
                return;
        }
        if (v->kind != YAML_KIND_MAP) {
                buf_printf(out, "%d:%s", (int) v->kind, v->str ? v->str : "");
                return;
        }
        /* keys sorted by insertion: mappings here are small */
        const YamlNode **keys = xcalloc(v->n + 1, sizeof(YamlNode *));
        for (uint32_t i = 0; i < v->n; i++) {
                const YamlNode *k = v->items[2 * i];
                uint32_t j = i;
                while (j > 0 && strcmp(keys[j - 1]->str, k->str) > 0) {
                        keys[j] = keys[j - 1];
                        j--;
                }
                keys[j] = k;
        }
        buf_putc(out, '{');
        for (uint32_t i = 0; i < v->n; i++) {
                buf_printf(out, "%s=", keys[i]->str);
                canonical(yaml_map_get(v, keys[i]->str), out);
                buf_putc(out, ',');
        }
        buf_putc(out, '}');
        free(keys);
}

static void listener(Walk *w, const YamlNode *node) {
        const YamlNode *addr = yaml_map_get_field(node, "address");
        const YamlNode *sa = addr && addr->kind == YAML_KIND_MAP ? yaml_map_get_field(addr, "socket_address") : NULL;
        if (sa && sa->kind == YAML_KIND_MAP) {
                const YamlNode *a = yaml_map_get_field(sa, "address"), *p = yaml_map_get_field(sa, "port_value");
                const YamlNode *proto = yaml_map_get_field(sa, "protocol");
                bool udp = proto && yaml_is_scalar(proto) && (streq(proto->str, "UDP") || streq(proto->str, "1"));
                if (a && yaml_is_scalar(a) && p && yaml_is_scalar(p)) {
                        free(w->facts->address);
                        w->facts->address = xasprintf("%s %s:%s", udp ? "udp" : "tcp", a->str, p->str);
                        w->facts->line = sa->line;
                        w->facts->column = sa->column;
                }
        }
        const YamlNode *chains = yaml_map_get_field(node, "filter_chains");
        if (!chains || chains->kind != YAML_KIND_SEQ)
                return;
        /* with a filter_chain_matcher, Envoy picks chains by name and ignores
         * filter_chain_match ("filter chain match in chain '{}' is ignored",
         * source/common/listener_manager/filter_chain_manager_impl.cc) */
        const YamlNode *matcher = yaml_map_get_field(node, "filter_chain_matcher");
        if (matcher && matcher->kind != YAML_KIND_NULL)
                return;
        char **texts = xcalloc(chains->n + 1, sizeof(char *));
        for (uint32_t i = 0; i < chains->n; i++) {
                const YamlNode *c = chains->items[i];
                const YamlNode *m = c->kind == YAML_KIND_MAP ? yaml_map_get_field(c, "filter_chain_match") : NULL;
                Buf b = {};
                canonical(m, &b);
                texts[i] = buf_steal_str(&b);
                for (uint32_t j = 0; j < i; j++)
                        if (streq(texts[i], texts[j])) {
                                size_t saved = push_field(w, "filter_chains");
                                push_index(w, i);
                                walk_error(w, m ? m : c, "graph.filter-chain-match",
                                           "filter chains %u and %u (line %u) have the same filter_chain_match: a connection "
                                           "could match either", j, i, chains->items[j]->line);
                                reporter_pop(&w->report, saved);
                                break;
                        }
        }
        for (uint32_t i = 0; i < chains->n; i++)
                free(texts[i]);
        free(texts);
}

static void scoped_route(Walk *w, const YamlNode *node) {
        add_ref(w, RESOURCE_ROUTE_CONFIGURATION, yaml_map_get_field(node, "route_configuration_name"), "route_configuration_name");
        const YamlNode *key = yaml_map_get_field(node, "key");
        const YamlNode *frags = key && key->kind == YAML_KIND_MAP ? yaml_map_get_field(key, "fragments") : NULL;
        if (!frags || frags->kind != YAML_KIND_SEQ)
                return;
        Buf b = {};
        for (uint32_t i = 0; i < frags->n; i++) {
                const YamlNode *s = frags->items[i]->kind == YAML_KIND_MAP ? yaml_map_get_field(frags->items[i], "string_key") : NULL;
                buf_printf(&b, "%s%s", i ? "," : "", s && yaml_is_scalar(s) ? s->str : "");
        }
        free(w->facts->scope_key);
        w->facts->scope_key = buf_steal_str(&b);
        w->facts->line = key->line;
        w->facts->column = key->column;
}

static void walk_message(Walk *w, const SchemaMessage *m, const YamlNode *node);

static void walk_value(Walk *w, const SchemaMessage *m, const YamlNode *v) {
        if (v->kind != YAML_KIND_SEQ) {
                walk_message(w, m, v);
                return;
        }
        for (uint32_t i = 0; i < v->n; i++) {
                size_t saved = push_index(w, i);
                walk_message(w, m, v->items[i]);
                reporter_pop(&w->report, saved);
        }
}

static void walk_message(Walk *w, const SchemaMessage *m, const YamlNode *node) {
        if (node->kind != YAML_KIND_MAP || ++w->depth > 100) {
                w->depth -= node->kind == YAML_KIND_MAP;
                return; /* early-encoded lists were walked when they were read */
        }
        if (m->well_known == SCHEMA_WK_ANY) {
                const YamlNode *t = yaml_map_get(node, "@type");
                const SchemaMessage *inner = t && t->kind == YAML_KIND_STRING ? schema_message_by_type_url(w->schema, t->str) : NULL;
                if (inner && inner->well_known == SCHEMA_WK_NONE)
                        walk_message(w, inner, node);
                w->depth--;
                return;
        }
        if (m->well_known != SCHEMA_WK_NONE) {
                w->depth--;
                return;
        }
        const char *name = m->full_name;
        if (streq(name, "envoy.config.route.v3.RouteAction") ||
            streq(name, "envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy"))
                cluster_targets(w, node);
        else if (streq(name, "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"))
                http_connection_manager(w, node);
        else if (streq(name, "envoy.config.cluster.v3.Cluster"))
                cluster(w, node);
        else if (streq(name, "envoy.extensions.transport_sockets.tls.v3.SdsSecretConfig")) {
                if (!config_source_is_remote(yaml_map_get_field(node, "sds_config")))
                        add_ref(w, RESOURCE_SECRET, yaml_map_get_field(node, "name"), "name");
        } else if (streq(name, "envoy.config.listener.v3.Listener"))
                listener(w, node);
        else if (streq(name, "envoy.config.route.v3.ScopedRouteConfiguration"))
                scoped_route(w, node);
        envoy_checks_run(&w->checks, m, node);
        for (uint32_t i = 0; i < node->n; i++) {
                const YamlNode *k = node->items[2 * i], *v = node->items[2 * i + 1];
                if (!yaml_is_scalar(k))
                        continue;
                const SchemaField *f = schema_field_by_name(m, k->str, k->n);
                if (!f || f->type != SCHEMA_TYPE_MESSAGE)
                        continue;
                size_t saved = push_field(w, f->name);
                if (f->message->map_entry) {
                        const SchemaField *vf = &f->message->fields[1];
                        if (vf->type == SCHEMA_TYPE_MESSAGE && v->kind == YAML_KIND_MAP)
                                for (uint32_t j = 0; j < v->n; j++)
                                        walk_message(w, vf->message, v->items[2 * j + 1]);
                } else
                        walk_value(w, f->message, v);
                reporter_pop(&w->report, saved);
        }
        w->depth--;
}

void graph_collect(const Schema *s, const SchemaMessage *m, const YamlNode *node, const char *path, const char *file,
                   ResourceFacts *facts, DiagList *diags) {
        Walk w = { .schema = s, .facts = facts };
        reporter_init(&w.report, file, diags);
        w.checks = (CheckContext) { .schema = s, .report = &w.report, .envoy_version = schema_envoy_version(s) };
        reporter_set_path(&w.report, path);
        walk_message(&w, m, node);
        reporter_done(&w.report);
}

void resource_facts_move(ResourceFacts *dst, ResourceFacts *src) {
        if (src->n_refs > 0) {
                dst->refs = xrealloc(dst->refs, (dst->n_refs + src->n_refs) * sizeof(ResourceRef));
                memcpy(dst->refs + dst->n_refs, src->refs, src->n_refs * sizeof(ResourceRef));
                dst->n_refs += src->n_refs;
        }
        free(src->refs);
        src->refs = NULL;
        src->n_refs = 0;
        resource_facts_done(src);
}

/* ---- the node's checks ---- */

static const char *missing_what(ResourceType t) {
        switch (t) {
        case RESOURCE_CLUSTER:
                return "cluster";
        case RESOURCE_ROUTE_CONFIGURATION:
                return "route configuration";
        case RESOURCE_CLUSTER_LOAD_ASSIGNMENT:
                return "ClusterLoadAssignment (the EDS cluster's endpoints)";
        case RESOURCE_SECRET:
                return "secret";
        default:
                return resource_type_to_string(t);
        }
}

static const char *missing_rule(ResourceType t) {
        switch (t) {
        case RESOURCE_CLUSTER:
                return "graph.cluster";
        case RESOURCE_ROUTE_CONFIGURATION:
                return "graph.route-config";
        case RESOURCE_CLUSTER_LOAD_ASSIGNMENT:
                return "graph.endpoints";
        case RESOURCE_SECRET:
                return "graph.secret";
        default:
                return "graph.reference";
        }
}

/* No two resources of live with the same fact (by what), each reported at
 * the later one with the location of the first. */
static void check_unique(const Resource *const *live, size_t n, ResourceType t, bool address, const char *rule,
                         DiagList *diags) {
        Hashmap seen = {};
        for (size_t i = 0; i < n; i++) {
                const Resource *r = live[i];
                const char *key = r->type != t ? NULL : address ? r->facts.address : r->facts.scope_key;
                if (!key)
                        continue;
                const Resource *first = hashmap_get(&seen, key, strlen(key));
                if (!first) {
                        hashmap_put(&seen, key, strlen(key), (void *) r);
                        continue;
                }
                if (address)
                        diag_add_rule(diags, DIAG_ERROR, r->file, r->facts.line, r->facts.column, NULL, rule,
                                      "listener \"%s\" binds %s, which listener \"%s\" binds too (%s:%u:%u)", r->name, key,
                                      first->name, first->file, first->facts.line, first->facts.column);
                else
                        diag_add_rule(diags, DIAG_ERROR, r->file, r->facts.line, r->facts.column, NULL, rule,
                                      "scope key \"%s\" of \"%s\" is the key of \"%s\" too (%s:%u:%u)", key, r->name,
                                      first->name, first->file, first->facts.line, first->facts.column);
        }
        hashmap_free(&seen);
}

/* The names of one type a node has, gathered when a reference to that type
 * is first found missing. */
typedef struct NameList {
        const char **items;
        size_t n;
        bool loaded;
} NameList;

static void name_list_add(void *ctx, const char *name) {
        NameList *l = ctx;
        l->items = xrealloc(l->items, (l->n + 1) * sizeof(char *));
        l->items[l->n++] = name;
}

/* Missing references searched for a near name, per check: a tree whose
 * references all miss costs a bounded search, not names x references. */
#define SUGGEST_MAX 64

void graph_check(const Resource *const *live, size_t n, GraphLookup lookup, GraphNames names, void *userdata,
                 const char *node_id, bool whole, DiagList *diags) {
        Hashmap used = {}; /* EDS service names the node's clusters use */
        NameList known[_RESOURCE_TYPE_MAX] = {};
        size_t searched = 0;
        for (size_t i = 0; i < n; i++) {
                const Resource *r = live[i];
                for (size_t k = 0; k < r->facts.n_refs; k++) {
                        const ResourceRef *ref = &r->facts.refs[k];
                        if (whole && ref->type == RESOURCE_CLUSTER_LOAD_ASSIGNMENT)
                                hashmap_put(&used, ref->name, strlen(ref->name), (void *) ref);
                        if (lookup(userdata, ref->type, ref->name))
                                continue;
                        const char *hint = NULL;
                        if (names && searched < SUGGEST_MAX) {
                                searched++;
                                NameList *l = &known[ref->type];
                                if (!l->loaded)
                                        names(userdata, ref->type, name_list_add, l);
                                l->loaded = true;
                                hint = closest_match(ref->name, l->items, l->n);
                        }
                        diag_add_rule(diags, DIAG_ERROR, r->file, ref->line, ref->column, ref->path, missing_rule(ref->type),
                                      "no %s \"%s\" for node %s (%s \"%s\" names it)%s%s%s", missing_what(ref->type), ref->name,
                                      node_id, resource_type_to_string(r->type), r->name, hint ? "; did you mean \"" : "",
                                      hint ? hint : "", hint ? "\"?" : "");
                }
        }
        for (size_t t = 0; t < _RESOURCE_TYPE_MAX; t++)
                free(known[t].items);
        check_unique(live, n, RESOURCE_LISTENER, true, "graph.listener-address", diags);
        check_unique(live, n, RESOURCE_SCOPED_ROUTE_CONFIGURATION, false, "graph.scope-key", diags);
        for (size_t i = 0; whole && i < n; i++) {
                const Resource *r = live[i];
                if (r->type == RESOURCE_CLUSTER_LOAD_ASSIGNMENT && !hashmap_get(&used, r->name, strlen(r->name)))
                        diag_add_rule(diags, DIAG_WARNING, r->file, r->line, r->column, NULL, "graph.unused-endpoints",
                                      "ClusterLoadAssignment \"%s\" is used by no EDS cluster of node %s", r->name, node_id);
        }
        hashmap_free(&used);
}
