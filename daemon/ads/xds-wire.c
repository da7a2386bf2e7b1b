/* SPDX-License-Identifier: MIT */
/* The xDS request parsers and response encoders of xds-wire.h, on the
 * protobuf wire primitives of basic/wire.h. Field numbers from
 * envoy/service/discovery/v3/discovery.proto, config/core/v3/base.proto
 * (Node, ControlPlane) and google/rpc/status.proto. Unknown fields are
 * skipped, as protobuf parsers do; a known field with the wrong wire type
 * is an error. */
#include <assert.h>

#include "diag.h"
#include "version.h"
#include "wire.h"
#include "xds-wire.h"

typedef struct StrList {
        char **v;
        size_t n;
} StrList;

static int bad(char **ret_error, const char *fmt, ...) _printf_(2, 3);
static int bad(char **ret_error, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        *ret_error = xvasprintf(fmt, ap);
        va_end(ap);
        return -EBADMSG;
}

static int want_type(const WireField *f, int wt, const char *field, char **ret_error) {
        if (f->wire_type != wt)
                return bad(ret_error, "%s: wire type %d, expected %d", field, f->wire_type, wt);
        return 0;
}

static int get_string(const WireField *f, const char *field, char **s, char **ret_error) {
        int r = want_type(f, WIRE_LEN, field, ret_error);
        if (r < 0)
                return r;
        if (memchr(f->data, 0, f->len))
                return bad(ret_error, "%s: string holds a NUL byte", field);
        if (utf8_valid_prefix((const char *) f->data, f->len) != f->len)
                return bad(ret_error, "%s: string is not UTF-8", field);
        free(*s);
        *s = xstrndup((const char *) f->data, f->len);
        return 0;
}

/* A NACK's message as the client wrote it, but for a NUL or a byte that
 * is not UTF-8, shown as \xNN (at most 64 KiB of it). */
static char *message_kept(const uint8_t *p, size_t n) {
        Buf b = {};
        n = MIN(n, (size_t) 64 * 1024);
        for (size_t i = 0; i < n;) {
                size_t l = utf8_char_len(p + i, n - i);
                if (l == 0 || p[i] == 0) {
                        buf_printf(&b, "\\x%02x", p[i]);
                        i++;
                } else {
                        buf_append(&b, p + i, l);
                        i += l;
                }
        }
        return b.data ? buf_steal_str(&b) : xstrdup("");
}

static int list_add(StrList *l, const WireField *f, const char *field, char **ret_error) {
        if (l->n >= XDS_NAMES_MAX)
                return bad(ret_error, "%s: more than %u names", field, XDS_NAMES_MAX);
        char *s = NULL;
        int r = get_string(f, field, &s, ret_error);
        if (r < 0)
                return r;
        if ((l->n & (l->n - 1)) == 0 || l->n == 0)
                l->v = xrealloc(l->v, sizeof(char *) * (l->n ? l->n * 2 : 4));
        l->v[l->n++] = s;
        return 0;
}

static void list_free(char **v, size_t n) {
        for (size_t i = 0; i < n; i++)
                free(v[i]);
        free(v);
}

static int end_of(const WireReader *rd, const char *what, char **ret_error) {
        if (rd->p != rd->end)
                return bad(ret_error, "%s: malformed or truncated field", what);
        return 0;
}

static int parse_node(const WireField *nf, XdsRequest *req, char **ret_error) {
        int r = want_type(nf, WIRE_LEN, "node", ret_error);
        if (r < 0)
                return r;
        WireReader rd = { nf->data, nf->data + nf->len };
        WireField f;
        while (wire_next(&rd, &f)) {
                if (f.number == 1)
                        r = get_string(&f, "node.id", &req->node_id, ret_error);
                else if (f.number == 2)
                        r = get_string(&f, "node.cluster", &req->node_cluster, ret_error);
                if (r < 0)
                        return r;
        }
        return end_of(&rd, "node", ret_error);
}

static int parse_status(const WireField *sf, const char *field, XdsRequest *req, char **ret_error) {
        int r = want_type(sf, WIRE_LEN, field, ret_error);
        if (r < 0)
                return r;
        req->has_error = true;
        WireReader rd = { sf->data, sf->data + sf->len };
        WireField f;
        while (wire_next(&rd, &f)) {
                if (f.number == 1) {
                        r = want_type(&f, WIRE_VARINT, "error_detail.code", ret_error);
                        if (r < 0)
                                return r;
                        req->error_code = (int32_t) (uint32_t) f.value;
                } else if (f.number == 2) {
                        /* the client's own words: kept whatever their bytes
                         * (NUL, not UTF-8: escaped), never lost with the stream */
                        r = want_type(&f, WIRE_LEN, "error_detail.message", ret_error);
                        if (r < 0)
                                return r;
                        free(req->error_message);
                        req->error_message = message_kept(f.data, f.len);
                }
        }
        return end_of(&rd, field, ret_error);
}

/* a map<string, string> entry: key 1, value 2 */
static int parse_initial(const WireField *ef, StrList *names, StrList *versions, char **ret_error) {
        int r = want_type(ef, WIRE_LEN, "initial_resource_versions", ret_error);
        if (r < 0)
                return r;
        if (names->n >= XDS_NAMES_MAX)
                return bad(ret_error, "initial_resource_versions: more than %u names", XDS_NAMES_MAX);
        _cleanup_free_ char *k = NULL, *v = NULL;
        WireReader rd = { ef->data, ef->data + ef->len };
        WireField f;
        while (wire_next(&rd, &f)) {
                if (f.number == 1)
                        r = get_string(&f, "initial_resource_versions.key", &k, ret_error);
                else if (f.number == 2)
                        r = get_string(&f, "initial_resource_versions.value", &v, ret_error);
                if (r < 0)
                        return r;
        }
        r = end_of(&rd, "initial_resource_versions", ret_error);
        if (r < 0)
                return r;
        WireField fake = { .wire_type = WIRE_LEN, .data = (const uint8_t *) (k ?: ""), .len = k ? strlen(k) : 0 };
        r = list_add(names, &fake, "initial_resource_versions", ret_error);
        if (r < 0)
                return r;
        fake.data = (const uint8_t *) (v ?: "");
        fake.len = v ? strlen(v) : 0;
        return list_add(versions, &fake, "initial_resource_versions", ret_error);
}

static int parse_fields(const uint8_t *p, size_t n, bool delta, XdsRequest *req, StrList *names,
                        StrList *unsub, StrList *inames, StrList *iversions, char **ret_error) {
        WireReader rd = { p, p + n };
        WireField f;
        int r = 0;
        while (wire_next(&rd, &f)) {
                if (!delta)
                        switch (f.number) {
                        case 1: r = get_string(&f, "version_info", &req->version_info, ret_error); break;
                        case 2: r = parse_node(&f, req, ret_error); break;
                        case 3: r = list_add(names, &f, "resource_names", ret_error); break;
                        case 4: r = get_string(&f, "type_url", &req->type_url, ret_error); break;
                        case 5: r = get_string(&f, "response_nonce", &req->response_nonce, ret_error); break;
                        case 6: r = parse_status(&f, "error_detail", req, ret_error); break;
                        default: break;
                        }
                else
                        switch (f.number) {
                        case 1: r = parse_node(&f, req, ret_error); break;
                        case 2: r = get_string(&f, "type_url", &req->type_url, ret_error); break;
                        case 3: r = list_add(names, &f, "resource_names_subscribe", ret_error); break;
                        case 4: r = list_add(unsub, &f, "resource_names_unsubscribe", ret_error); break;
                        case 5: r = parse_initial(&f, inames, iversions, ret_error); break;
                        case 6: r = get_string(&f, "response_nonce", &req->response_nonce, ret_error); break;
                        case 7: r = parse_status(&f, "error_detail", req, ret_error); break;
                        default: break;
                        }
                if (r < 0)
                        return r;
        }
        return end_of(&rd, delta ? "DeltaDiscoveryRequest" : "DiscoveryRequest", ret_error);
}

int xds_request_parse(const uint8_t *p, size_t n, bool delta, XdsRequest *req, char **ret_error) {
        assert(req && ret_error);
        *req = (XdsRequest) { .delta = delta };
        StrList names = {}, unsub = {}, inames = {}, iversions = {};
        char *error = NULL;
        int r = parse_fields(p, n, delta, req, &names, &unsub, &inames, &iversions, &error);
        req->names = names.v;
        req->n_names = names.n;
        req->unsubscribe = unsub.v;
        req->n_unsubscribe = unsub.n;
        req->initial_names = inames.v;
        req->initial_versions = iversions.v;
        req->n_initial = MIN(inames.n, iversions.n);
        if (inames.n != iversions.n) {
                /* the failing entry's key went in, its value did not */
                free(inames.v[inames.n - 1]);
        }
        if (r < 0) {
                xds_request_done(req);
                *ret_error = error;
                return r;
        }
        if (!req->version_info)
                req->version_info = xstrdup("");
        if (!req->type_url)
                req->type_url = xstrdup("");
        if (!req->response_nonce)
                req->response_nonce = xstrdup("");
        if (!req->error_message)
                req->error_message = xstrdup("");
        return 0;
}

void xds_request_done(XdsRequest *req) {
        if (!req)
                return;
        free(req->node_id);
        free(req->node_cluster);
        free(req->version_info);
        free(req->type_url);
        free(req->response_nonce);
        free(req->error_message);
        list_free(req->names, req->n_names);
        list_free(req->unsubscribe, req->n_unsubscribe);
        list_free(req->initial_names, req->n_initial);
        list_free(req->initial_versions, req->n_initial);
        *req = (XdsRequest) {};
}

static void put_string(Buf *b, uint32_t number, const char *s) {
        if (s && *s)
                wire_put_bytes(b, number, s, strlen(s));
}

static void put_control_plane(Buf *b, uint32_t number) {
        static const char id[] = "fsxds/" FSXDS_VERSION;
        size_t m = wire_begin_len(b, number);
        wire_put_bytes(b, 1, id, sizeof(id) - 1);
        wire_end_len(b, m);
}

void xds_encode_response(Buf *b, const char *version_info, AdsResource *const *r, size_t n,
                         const char *type_url, const char *nonce) {
        put_string(b, 1, version_info);
        for (size_t i = 0; i < n; i++)
                wire_put_bytes(b, 2, r[i]->any, r[i]->any_len);
        put_string(b, 4, type_url);
        put_string(b, 5, nonce);
        put_control_plane(b, 6);
}

void xds_encode_response_head(Buf *b, const char *version_info, const char *nonce) {
        put_string(b, 1, version_info);
        put_string(b, 5, nonce);
}

void xds_encode_response_body(Buf *b, AdsResource *const *r, size_t n, const char *type_url) {
        for (size_t i = 0; i < n; i++)
                wire_put_bytes(b, 2, r[i]->any, r[i]->any_len);
        put_string(b, 4, type_url);
        put_control_plane(b, 6);
}

void xds_encode_delta_response(Buf *b, const char *system_version_info, AdsResource *const *r, size_t n,
                               const char *type_url, const char *nonce, char *const *removed, size_t n_removed) {
        put_string(b, 1, system_version_info);
        for (size_t i = 0; i < n; i++) {
                size_t m = wire_begin_len(b, 2);
                put_string(b, 1, r[i]->version);
                wire_put_bytes(b, 2, r[i]->any, r[i]->any_len);
                put_string(b, 3, r[i]->name);
                wire_end_len(b, m);
        }
        put_string(b, 4, type_url);
        put_string(b, 5, nonce);
        for (size_t i = 0; i < n_removed; i++)
                wire_put_bytes(b, 6, removed[i], strlen(removed[i]));
        put_control_plane(b, 7);
}
