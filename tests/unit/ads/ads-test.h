/* SPDX-License-Identifier: MIT */
/* Helpers of the ads unit tests: resources and snapshots made from
 * strings, requests encoded by hand, responses decoded by hand (wire.h),
 * so the encoders are checked against the wire format and not against
 * themselves. */
#pragma once

#include "sha256.h"
#include "wire.h"
#include "xds-wire.h"
#include "xds.h"

/* A resource whose Any is { type_url: the type's, value: "name=content" }. */
static inline AdsResource *res_new(AdsType t, const char *name, const char *content) {
        AdsResource *r = xcalloc(1, sizeof(AdsResource));
        r->refs = 1;
        r->name = xstrdup(name);
        Buf b = {};
        wire_put_bytes(&b, 1, ads_type_url(t), strlen(ads_type_url(t)));
        _cleanup_free_ char *v = xasprintf("%s=%s", name, content);
        wire_put_bytes(&b, 2, v, strlen(v));
        r->any = b.data;
        r->any_len = b.len;
        char hex[65];
        sha256_hex(r->any, r->any_len, hex);
        memcpy(r->version, hex, 16);
        r->version[16] = 0;
        return r;
}

/* spec: "CDS:a=1,b=2 EDS:a=1" */
static inline AdsSnapshot *snap_new(uint64_t generation, const char *spec) {
        AdsSnapshot *s = xcalloc(1, sizeof(AdsSnapshot));
        s->refs = 1;
        s->generation = generation;
        _cleanup_free_ char *copy = xstrdup(spec);
        char *save = NULL;
        for (char *w = strtok_r(copy, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
                char *colon = strchr(w, ':');
                assert_non_null(colon);
                *colon = 0;
                AdsType t = _ADS_TYPE_INVALID;
                for (AdsType u = 0; u < _ADS_TYPE_MAX; u++)
                        if (streq(ads_type_short(u), w))
                                t = u;
                assert_int_not_equal(t, _ADS_TYPE_INVALID);
                char *save2 = NULL;
                for (char *item = strtok_r(colon + 1, ",", &save2); item; item = strtok_r(NULL, ",", &save2)) {
                        char *eq = strchr(item, '=');
                        assert_non_null(eq);
                        *eq = 0;
                        AdsTypeSet *set = &s->types[t];
                        set->r = xrealloc(set->r, sizeof(AdsResource *) * (set->n + 1));
                        set->r[set->n++] = res_new(t, item, eq + 1);
                }
        }
        ads_snapshot_seal(s);
        return s;
}

static inline char *str_of(const WireField *f) {
        return xstrndup((const char *) f->data, f->len);
}

/* A decoded response: resources as "name=content" (from the Any's
 * value), for delta each with its Resource.version and name checked. */
typedef struct Resp {
        char *version, *type_url, *nonce, *control_plane;
        char *res[64];
        char *res_version[64];
        size_t n_res;
        char *removed[64];
        size_t n_removed;
} Resp;

static inline void resp_done(Resp *r) {
        free(r->version);
        free(r->type_url);
        free(r->nonce);
        free(r->control_plane);
        for (size_t i = 0; i < r->n_res; i++) {
                free(r->res[i]);
                free(r->res_version[i]);
        }
        for (size_t i = 0; i < r->n_removed; i++)
                free(r->removed[i]);
        *r = (Resp) {};
}

static inline char *any_value(const uint8_t *p, size_t n, const char *want_type_url) {
        WireReader rd = { p, p + n };
        WireField f;
        char *v = NULL;
        while (wire_next(&rd, &f)) {
                if (f.number == 1) {
                        _cleanup_free_ char *tu = str_of(&f);
                        if (want_type_url)
                                assert_string_equal(tu, want_type_url);
                } else if (f.number == 2) {
                        free(v);
                        v = str_of(&f);
                }
        }
        assert_true(rd.p == rd.end);
        assert_non_null(v);
        return v;
}

static inline char *control_plane_id(const WireField *f) {
        WireReader rd = { f->data, f->data + f->len };
        WireField g;
        char *id = NULL;
        while (wire_next(&rd, &g))
                if (g.number == 1)
                        id = str_of(&g);
        assert_true(rd.p == rd.end);
        return id;
}

static inline void resp_decode(const uint8_t *p, size_t n, bool delta, Resp *r) {
        *r = (Resp) {};
        WireReader rd = { p, p + n };
        WireField f;
        while (wire_next(&rd, &f)) {
                assert_int_equal(f.wire_type, WIRE_LEN);
                if (f.number == 1)
                        r->version = str_of(&f);
                else if (f.number == 2 && !delta) {
                        assert_true(r->n_res < 64);
                        r->res[r->n_res++] = any_value(f.data, f.len, NULL);
                } else if (f.number == 2) {
                        WireReader rr = { f.data, f.data + f.len };
                        WireField g;
                        char *name = NULL, *value = NULL, *version = NULL;
                        while (wire_next(&rr, &g)) {
                                if (g.number == 1)
                                        version = str_of(&g);
                                else if (g.number == 2)
                                        value = any_value(g.data, g.len, NULL);
                                else if (g.number == 3)
                                        name = str_of(&g);
                                else
                                        fail();
                        }
                        assert_true(rr.p == rr.end);
                        assert_non_null(name);
                        assert_non_null(value);
                        assert_non_null(version);
                        assert_true(startswith(value, name) && value[strlen(name)] == '=');
                        free(name);
                        assert_true(r->n_res < 64);
                        r->res_version[r->n_res] = version;
                        r->res[r->n_res++] = value;
                } else if (f.number == 4)
                        r->type_url = str_of(&f);
                else if (f.number == 5)
                        r->nonce = str_of(&f);
                else if (f.number == 6 && !delta)
                        r->control_plane = control_plane_id(&f);
                else if (f.number == 6 && delta) {
                        assert_true(r->n_removed < 64);
                        r->removed[r->n_removed++] = str_of(&f);
                } else if (f.number == 7 && delta)
                        r->control_plane = control_plane_id(&f);
                else
                        fail_msg("unexpected field %u", f.number);
        }
        assert_true(rd.p == rd.end);
        if (!r->version)
                r->version = xstrdup("");
}

/* "a=1,b=2": the response's resources, in order */
static inline char *resp_resources(const Resp *r) {
        Buf b = {};
        for (size_t i = 0; i < r->n_res; i++)
                buf_printf(&b, "%s%s", i ? "," : "", r->res[i]);
        buf_putc(&b, 0);
        return (char *) b.data;
}

static inline char *resp_removed(const Resp *r) {
        Buf b = {};
        for (size_t i = 0; i < r->n_removed; i++)
                buf_printf(&b, "%s%s", i ? "," : "", r->removed[i]);
        buf_putc(&b, 0);
        return (char *) b.data;
}

static inline void put_str(Buf *b, uint32_t number, const char *s) {
        if (s)
                wire_put_bytes(b, number, s, strlen(s));
}

static inline void put_node(Buf *b, uint32_t number, const char *node_id) {
        if (!node_id)
                return;
        size_t m = wire_begin_len(b, number);
        put_str(b, 1, node_id);
        put_str(b, 2, "cluster-x");
        wire_end_len(b, m);
}

static inline void put_error(Buf *b, uint32_t number, const char *message) {
        if (!message)
                return;
        size_t m = wire_begin_len(b, number);
        wire_put_tag(b, 1, WIRE_VARINT);
        wire_put_varint(b, 3);
        put_str(b, 2, message);
        wire_end_len(b, m);
}

/* A DiscoveryRequest; names: space separated ("" none). */
static inline void req_sotw(Buf *b, const char *node_id, AdsType t, const char *version, const char *nonce,
                            const char *names, const char *error) {
        put_str(b, 1, version);
        put_node(b, 2, node_id);
        _cleanup_free_ char *copy = xstrdup(names ?: "");
        char *save = NULL;
        for (char *w = strtok_r(copy, " ", &save); w; w = strtok_r(NULL, " ", &save))
                put_str(b, 3, w);
        put_str(b, 4, ads_type_url(t));
        put_str(b, 5, nonce);
        put_error(b, 6, error);
}

/* A DeltaDiscoveryRequest; initial: "name=version ..." */
static inline void req_delta(Buf *b, const char *node_id, AdsType t, const char *subscribe, const char *unsubscribe,
                             const char *initial, const char *nonce, const char *error) {
        put_node(b, 1, node_id);
        put_str(b, 2, ads_type_url(t));
        _cleanup_free_ char *c1 = xstrdup(subscribe ?: ""), *c2 = xstrdup(unsubscribe ?: ""), *c3 = xstrdup(initial ?: "");
        char *save = NULL;
        for (char *w = strtok_r(c1, " ", &save); w; w = strtok_r(NULL, " ", &save))
                put_str(b, 3, w);
        for (char *w = strtok_r(c2, " ", &save); w; w = strtok_r(NULL, " ", &save))
                put_str(b, 4, w);
        for (char *w = strtok_r(c3, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
                char *eq = strchr(w, '=');
                assert_non_null(eq);
                *eq = 0;
                size_t m = wire_begin_len(b, 5);
                put_str(b, 1, w);
                put_str(b, 2, eq + 1);
                wire_end_len(b, m);
        }
        put_str(b, 6, nonce);
        put_error(b, 7, error);
}
