/* SPDX-License-Identifier: MIT */
/* protoc-gen-validate rules (parsed with the schema, schema-rules.c)
 * checked on what the encoder wrote. */
#include <arpa/inet.h>
#include <ctype.h>
#include <inttypes.h>
#include <time.h>

#include "re2-shim.h"
#include "validate.h"
#include "wire.h"

static bool is_float_type(SchemaType t) {
        return t == SCHEMA_TYPE_FLOAT || t == SCHEMA_TYPE_DOUBLE;
}

static void fmt_number(char *buf, size_t n, long double v, bool integer) {
        if (integer && v < 0)
                snprintf(buf, n, "%lld", (long long) v);
        else if (integer)
                snprintf(buf, n, "%llu", (unsigned long long) v);
        else
                snprintf(buf, n, "%.17Lg", v);
}

static void fmt_time(char *buf, size_t n, RuleTime t) {
        if (t.nanos == 0)
                snprintf(buf, n, "%llds", (long long) t.seconds);
        else {
                int k = snprintf(buf, n, "%lld.%09ds", (long long) t.seconds, abs(t.nanos));
                /* trailing zeros of the fraction */
                while (k > 2 && (size_t) k < n && buf[k - 2] == '0') {
                        buf[k - 2] = 's';
                        buf[--k] = 0;
                }
        }
}

static int cmp_time(RuleTime a, RuleTime b) {
        if (a.seconds != b.seconds)
                return a.seconds < b.seconds ? -1 : 1;
        return a.nanos < b.nanos ? -1 : a.nanos > b.nanos;
}

/* "validate.<kind>.<rule>" */
static const char *rule_name(char *buf, size_t n, RuleKind k, const char *rule) {
        snprintf(buf, n, "validate.%s.%s", rule_kind_to_string(k) ? rule_kind_to_string(k) : "message", rule);
        return buf;
}

#define rule_error(rep, at, kind, rule, ...)                                                       \
        do {                                                                                       \
                char _rn[64];                                                                      \
                reporter_rule_error(rep, at, rule_name(_rn, sizeof _rn, kind, rule), __VA_ARGS__); \
        } while (0)

/* Lower and upper bounds as PGV reads them: with both, lower > upper means
 * the value must lie outside [upper, lower]. */
static void check_range(Reporter *rep, const SchemaRules *r, const YamlNode *at, long double v, bool integer) {
        char sv[64], sb[64], sc[64];
        fmt_number(sv, sizeof sv, v, integer);
        if (r->has_const && v != r->v_const) {
                fmt_number(sb, sizeof sb, r->v_const, integer);
                rule_error(rep, at, r->kind, "const", "%s must be exactly %s", sv, sb);
        }
        bool has_hi = r->has_lt || r->has_lte, has_lo = r->has_gt || r->has_gte;
        long double hi = r->has_lt ? r->lt : r->lte, lo = r->has_gt ? r->gt : r->gte;
        const char *hi_rule = r->has_lt ? "lt" : "lte";
        bool above = has_hi && (r->has_lt ? v >= hi : v > hi);
        bool below = has_lo && (r->has_gt ? v <= lo : v < lo);
        if (has_hi && has_lo && hi < lo) {
                /* exclusive range: inside [hi, lo] is what is refused */
                if (!above && !below) {
                        fmt_number(sb, sizeof sb, hi, integer);
                        fmt_number(sc, sizeof sc, lo, integer);
                        rule_error(rep, at, r->kind, hi_rule, "%s must be outside the range %s%s, %s%s", sv,
                                   r->has_lt ? "[" : "(", sb, sc, r->has_gt ? "]" : ")");
                }
        } else {
                if (above) {
                        fmt_number(sb, sizeof sb, hi, integer);
                        if (r->has_lt)
                                rule_error(rep, at, r->kind, "lt", "%s must be less than %s", sv, sb);
                        else
                                rule_error(rep, at, r->kind, "lte", "%s is above the maximum %s", sv, sb);
                }
                if (below) {
                        fmt_number(sb, sizeof sb, lo, integer);
                        if (r->has_gt)
                                rule_error(rep, at, r->kind, "gt", "%s must be greater than %s", sv, sb);
                        else
                                rule_error(rep, at, r->kind, "gte", "%s is below the minimum %s", sv, sb);
                }
        }
        if (r->n_in > 0) {
                bool found = false;
                for (size_t i = 0; i < r->n_in && !found; i++)
                        found = r->in[i] == v;
                if (!found)
                        rule_error(rep, at, r->kind, "in", "%s is not one of the allowed values", sv);
        }
        for (size_t i = 0; i < r->n_not_in; i++)
                if (r->not_in[i] == v)
                        rule_error(rep, at, r->kind, "not_in", "%s is not allowed here", sv);
}

/* Unicode code points in s (invalid UTF-8 counts a byte each). */
static size_t utf8_length(const char *s, size_t n) {
        size_t k = 0;
        for (size_t i = 0; i < n; i++)
                if (((unsigned char) s[i] & 0xc0) != 0x80)
                        k++;
        return k;
}

static bool header_name_ok(const char *s, size_t n, bool strict) {
        if (!strict) {
                for (size_t i = 0; i < n; i++)
                        if (s[i] == 0 || s[i] == '\n' || s[i] == '\r')
                                return false;
                return true;
        }
        /* ^:?[0-9a-zA-Z!#$%&'*+-.^_|~`]+$ */
        size_t i = n > 0 && s[0] == ':' ? 1 : 0;
        if (i >= n)
                return false;
        for (; i < n; i++) {
                unsigned char c = (unsigned char) s[i];
                if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || strchr("!#$%&'*+-.^_|~`", c)) ||
                    c == 0)
                        return false;
        }
        return true;
}

static bool header_value_ok(const char *s, size_t n, bool strict) {
        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char) s[i];
                if (strict ? ((c < 0x20 && c != '\t') || c == 0x7f) : (c == 0 || c == '\n' || c == '\r'))
                        return false;
        }
        return true;
}

static bool hostname_ok(const char *s, size_t n) {
        if (n == 0 || n > 253)
                return false;
        if (s[n - 1] == '.')
                n--;
        size_t label = 0;
        for (size_t i = 0; i <= n; i++) {
                if (i == n || s[i] == '.') {
                        if (label == 0 || label > 63 || s[i - 1] == '-' || s[i - label] == '-')
                                return false;
                        label = 0;
                        continue;
                }
                char c = s[i];
                if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-'))
                        return false;
                label++;
        }
        return true;
}

static bool ip_ok(const char *s, int family) {
        unsigned char buf[16];
        return (family != AF_INET6 && inet_pton(AF_INET, s, buf) == 1) ||
               (family != AF_INET && inet_pton(AF_INET6, s, buf) == 1);
}

static bool uuid_ok(const char *s, size_t n) {
        if (n != 36)
                return false;
        for (size_t i = 0; i < n; i++) {
                bool dash = i == 8 || i == 13 || i == 18 || i == 23;
                if (dash ? s[i] != '-' : !isxdigit((unsigned char) s[i]))
                        return false;
        }
        return true;
}


/* The well-known format of a string (or bytes, for ip/ipv4/ipv6); shown:
 * s as messages show it. */
static void check_well_known(Reporter *rep, const SchemaRules *r, const YamlNode *at, const char *s, size_t n,
                             const char *shown) {
        bool has_nul = memchr(s, 0, n) != NULL;
        const char *what = NULL, *rule = NULL;
        switch (r->well_known) {
        case 12:
                rule = "email";
                if (has_nul || !strchr(s, '@') || !hostname_ok(strrchr(s, '@') + 1, strlen(strrchr(s, '@') + 1)))
                        what = "an email address";
                break;
        case 13:
                rule = "hostname";
                if (has_nul || !hostname_ok(s, n))
                        what = "a hostname";
                break;
        case 14:
                rule = "ip";
                if (has_nul || !ip_ok(s, AF_UNSPEC))
                        what = "an IP address";
                break;
        case 15:
                rule = "ipv4";
                if (has_nul || !ip_ok(s, AF_INET))
                        what = "an IPv4 address";
                break;
        case 16:
                rule = "ipv6";
                if (has_nul || !ip_ok(s, AF_INET6))
                        what = "an IPv6 address";
                break;
        case 17:
        case 18:
                rule = r->well_known == 17 ? "uri" : "uri_ref";
                if (has_nul || (r->well_known == 17 && !strstr(s, ":")))
                        what = "a URI";
                break;
        case 21:
                rule = "address";
                if (has_nul || !(ip_ok(s, AF_UNSPEC) || hostname_ok(s, n)))
                        what = "an IP address or a hostname";
                break;
        case 22:
                rule = "uuid";
                if (!uuid_ok(s, n))
                        what = "a UUID";
                break;
        case 24:
                rule = "well_known_regex";
                if (r->well_known_regex == 1 && !header_name_ok(s, n, r->strict))
                        what = "a valid HTTP header name";
                else if (r->well_known_regex == 2 && !header_value_ok(s, n, r->strict))
                        what = "a valid HTTP header value (no control characters)";
                break;
        }
        if (what)
                rule_error(rep, at, r->kind, rule, "\"%s\" is not %s", shown, what);
}

static bool text_in(const RuleText *items, size_t n, const char *s, size_t len) {
        for (size_t i = 0; i < n; i++)
                if (items[i].n == len && memcmp(items[i].s, s, len) == 0)
                        return true;
        return false;
}

static void check_text(Reporter *rep, const SchemaRules *r, const YamlNode *at, const char *s, size_t n) {
        if (r->ignore_empty && n == 0)
                return;
        bool bytes = r->kind == RULE_BYTES;
        size_t chars = bytes ? n : utf8_length(s, n);
        const char *unit = bytes ? "bytes" : "characters";
        _cleanup_free_ char *shown = diag_shown_len(s, n, DIAG_EXCERPT_MAX);
        if (r->t_const.s && (r->t_const.n != n || memcmp(r->t_const.s, s, n) != 0))
                rule_error(rep, at, r->kind, "const", "\"%s\" must be \"%s\"", shown, r->t_const.s);
        if (r->has_len && chars != r->len)
                rule_error(rep, at, r->kind, "len", "\"%s\" must be exactly %" PRIu64 " %s long", shown, r->len, unit);
        if (r->has_min_len && chars < r->min_len)
                rule_error(rep, at, r->kind, "min_len", "\"%s\" is shorter than the minimum length %" PRIu64 " (%s)", shown,
                           r->min_len, unit);
        if (r->has_max_len && chars > r->max_len)
                rule_error(rep, at, r->kind, "max_len", "\"%s\" is longer than the maximum length %" PRIu64 " (%s)", shown,
                           r->max_len, unit);
        if (r->has_len_bytes && n != r->len_bytes)
                rule_error(rep, at, r->kind, "len_bytes", "\"%s\" must be exactly %" PRIu64 " bytes long", shown, r->len_bytes);
        if (r->has_min_bytes && n < r->min_bytes)
                rule_error(rep, at, r->kind, "min_bytes", "\"%s\" is shorter than the minimum %" PRIu64 " bytes", shown,
                           r->min_bytes);
        if (r->has_max_bytes && n > r->max_bytes)
                rule_error(rep, at, r->kind, "max_bytes", "\"%s\" is longer than the maximum %" PRIu64 " bytes", shown,
                           r->max_bytes);
        if (r->prefix.s && (n < r->prefix.n || memcmp(s, r->prefix.s, r->prefix.n) != 0))
                rule_error(rep, at, r->kind, "prefix", "\"%s\" must start with \"%s\"", shown, r->prefix.s);
        if (r->suffix.s && (n < r->suffix.n || memcmp(s + n - r->suffix.n, r->suffix.s, r->suffix.n) != 0))
                rule_error(rep, at, r->kind, "suffix", "\"%s\" must end with \"%s\"", shown, r->suffix.s);
        if (r->contains.s && !memmem(s, n, r->contains.s, r->contains.n))
                rule_error(rep, at, r->kind, "contains", "\"%s\" must contain \"%s\"", shown, r->contains.s);
        if (r->not_contains.s && memmem(s, n, r->not_contains.s, r->not_contains.n))
                rule_error(rep, at, r->kind, "not_contains", "\"%s\" must not contain \"%s\"", shown, r->not_contains.s);
        /* PGV's C++ (what Envoy runs): RE2::FullMatch, the whole value; a
         * pattern RE2 refuses matches nothing there, so it fails here too */
        if (r->pattern.s && re2_full_match(r->pattern.s, r->pattern.n, s, n) != 1) {
                _cleanup_free_ char *p = diag_shown_len(r->pattern.s, r->pattern.n, DIAG_EXCERPT_MAX);
                rule_error(rep, at, r->kind, "pattern", "\"%s\" does not match regex pattern \"%s\"", shown, p);
        }
        if (r->n_t_in > 0 && !text_in(r->t_in, r->n_t_in, s, n))
                rule_error(rep, at, r->kind, "in", "\"%s\" is not one of the allowed values", shown);
        if (text_in(r->t_not_in, r->n_t_not_in, s, n))
                rule_error(rep, at, r->kind, "not_in", "\"%s\" is not allowed here", shown);
        if (r->well_known) {
                _cleanup_free_ char *z = xstrndup(s, n);
                check_well_known(rep, r, at, z, n, shown);
        }
}

/* The one field of a (well-known) message by number; NULL when absent. */
static bool message_field(const uint8_t *p, size_t n, uint32_t number, WireField *ret) {
        WireReader rd = { p, p + n };
        WireField f = {};
        bool found = false;
        while (wire_next(&rd, &f))
                if (f.number == number) {
                        *ret = f;
                        found = true;
                }
        return found;
}

static RuleTime time_of(const uint8_t *p, size_t n) {
        WireField f = {};
        RuleTime t = {};
        if (message_field(p, n, 1, &f))
                t.seconds = (int64_t) f.value;
        if (message_field(p, n, 2, &f))
                t.nanos = (int32_t) f.value;
        return t;
}

static void check_time(Reporter *rep, const SchemaRules *r, const YamlNode *at, RuleTime t) {
        char sv[48], sb[48];
        fmt_time(sv, sizeof sv, t);
        if (r->has_t_const && cmp_time(t, r->d_const) != 0) {
                fmt_time(sb, sizeof sb, r->d_const);
                rule_error(rep, at, r->kind, "const", "%s must be exactly %s", sv, sb);
        }
        if (r->has_t_lt && cmp_time(t, r->d_lt) >= 0) {
                fmt_time(sb, sizeof sb, r->d_lt);
                rule_error(rep, at, r->kind, "lt", "%s must be less than %s", sv, sb);
        }
        if (r->has_t_lte && cmp_time(t, r->d_lte) > 0) {
                fmt_time(sb, sizeof sb, r->d_lte);
                rule_error(rep, at, r->kind, "lte", "%s is above the maximum %s", sv, sb);
        }
        if (r->has_t_gt && cmp_time(t, r->d_gt) <= 0) {
                fmt_time(sb, sizeof sb, r->d_gt);
                rule_error(rep, at, r->kind, "gt", "%s must be greater than %s", sv, sb);
        }
        if (r->has_t_gte && cmp_time(t, r->d_gte) < 0) {
                fmt_time(sb, sizeof sb, r->d_gte);
                rule_error(rep, at, r->kind, "gte", "%s is below the minimum %s", sv, sb);
        }
        if (r->n_d_in > 0) {
                bool found = false;
                for (size_t i = 0; i < r->n_d_in && !found; i++)
                        found = cmp_time(t, r->d_in[i]) == 0;
                if (!found)
                        rule_error(rep, at, r->kind, "in", "%s is not one of the allowed values", sv);
        }
        for (size_t i = 0; i < r->n_d_not_in; i++)
                if (cmp_time(t, r->d_not_in[i]) == 0)
                        rule_error(rep, at, r->kind, "not_in", "%s is not allowed here", sv);
        struct timespec now;
        if ((r->lt_now || r->gt_now) && clock_gettime(CLOCK_REALTIME, &now) == 0) {
                RuleTime tn = { now.tv_sec, (int32_t) now.tv_nsec };
                if (r->lt_now && cmp_time(t, tn) >= 0)
                        rule_error(rep, at, r->kind, "lt_now", "%s must be in the past", sv);
                if (r->gt_now && cmp_time(t, tn) <= 0)
                        rule_error(rep, at, r->kind, "gt_now", "%s must be in the future", sv);
        }
}

static const SchemaField *wrapper_value_field(const SchemaMessage *m) {
        return m->well_known >= SCHEMA_WK_DOUBLE_VALUE && m->well_known <= SCHEMA_WK_BYTES_VALUE ? schema_field_by_number(m, 1)
                                                                                                 : NULL;
}

/* One value of field f (wf: its wire field, NULL for an absent scalar or
 * message) against rules r. */
static void check_value(Reporter *rep, const SchemaRules *r, const SchemaField *f, SchemaType type, const YamlNode *at,
                        const WireField *wf) {
        if (type == SCHEMA_TYPE_MESSAGE) {
                const SchemaMessage *m = f->message;
                if (!wf) {
                        if (r->message_required || r->required)
                                rule_error(rep, at, r->message_required ? RULE_NONE : r->kind, "required", "required, but not set");
                        return;
                }
                const SchemaField *inner = wrapper_value_field(m);
                if (inner && r->kind != RULE_NONE && r->kind != RULE_ANY) {
                        WireField g = {};
                        check_value(rep, r, inner, inner->type, at, message_field(wf->data, wf->len, 1, &g) ? &g : NULL);
                        return;
                }
                if (r->kind == RULE_DURATION || r->kind == RULE_TIMESTAMP)
                        check_time(rep, r, at, time_of(wf->data, wf->len));
                else if (r->kind == RULE_ANY) {
                        WireField g = {};
                        _cleanup_free_ char *url =
                                message_field(wf->data, wf->len, 1, &g) ? xstrndup((const char *) g.data, g.len) : xstrdup("");
                        if (r->n_t_in > 0 && !text_in(r->t_in, r->n_t_in, url, strlen(url)))
                                rule_error(rep, at, r->kind, "in", "type %s is not allowed here", url);
                        if (text_in(r->t_not_in, r->n_t_not_in, url, strlen(url)))
                                rule_error(rep, at, r->kind, "not_in", "type %s is not allowed here", url);
                }
                return;
        }
        if (type == SCHEMA_TYPE_STRING || type == SCHEMA_TYPE_BYTES) {
                if (r->kind == RULE_STRING || r->kind == RULE_BYTES)
                        check_text(rep, r, at, wf ? (const char *) wf->data : "", wf ? wf->len : 0);
                return;
        }
        uint64_t raw = wf ? wf->value : 0;
        if (r->kind == RULE_BOOL) {
                if (r->has_const && (raw != 0) != (r->v_const != 0))
                        rule_error(rep, at, r->kind, "const", "must be %s", r->v_const != 0 ? "true" : "false");
                return;
        }
        long double v = schema_type_number(type, raw);
        if (r->kind == RULE_ENUM) {
                if (r->enum_defined_only && f->enumeration && !schema_enum_name(f->enumeration, (int32_t) v))
                        rule_error(rep, at, r->kind, "defined_only", "%d is not a value of %s", (int32_t) v,
                                   f->enumeration->full_name);
                check_range(rep, r, at, v, true);
                return;
        }
        if (rule_kind_numeric_type(r->kind))
                check_range(rep, r, at, v, !is_float_type(type));
}

/* The fields numbered like f in enc, in order; packed scalars unpacked
 * into one WireField each (value set). */
static size_t collect_values(const SchemaField *f, const uint8_t *enc, size_t len, WireField **ret) {
        *ret = NULL;
        if (len == 0)
                return 0; /* enc may be NULL: no pointer arithmetic on it */
        WireReader rd = { enc, enc + len };
        WireField w, *items = NULL;
        size_t n = 0;
        int wt = schema_type_wire_type(f->type);
        while (wire_next(&rd, &w)) {
                if (w.number != f->number)
                        continue;
                if (w.wire_type == WIRE_LEN && wt != WIRE_LEN) {
                        /* packed */
                        WireReader p = { w.data, w.data + w.len };
                        uint64_t v;
                        while (wire_next_packed(&p, wt, &v)) {
                                items = xrealloc(items, (n + 1) * sizeof(WireField));
                                items[n++] = (WireField) { .number = w.number, .wire_type = wt, .value = v };
                        }
                        continue;
                }
                items = xrealloc(items, (n + 1) * sizeof(WireField));
                items[n++] = w;
        }
        *ret = items;
        return n;
}

static const YamlNode *item_node(const YamlNode *v, size_t i) {
        return v && v->kind == YAML_KIND_SEQ && i < v->n ? v->items[i] : v;
}

static bool same_value(const WireField *a, const WireField *b) {
        if (a->wire_type != b->wire_type)
                return false;
        if (a->wire_type == WIRE_LEN)
                return a->len == b->len && memcmp(a->data, b->data, a->len) == 0;
        return a->value == b->value;
}

static void check_repeated(Reporter *rep, const SchemaField *f, const SchemaRules *r, const YamlNode *v, const uint8_t *enc,
                           size_t len) {
        WireField *items = NULL;
        size_t n = collect_values(f, enc, len, &items);
        if (r->kind == RULE_REPEATED) {
                if (r->has_min_items && n < r->min_items)
                        rule_error(rep, v, r->kind, "min_items", "%zu item%s, at least %" PRIu64 " required", n,
                                   n == 1 ? "" : "s", r->min_items);
                if (r->has_max_items && n > r->max_items)
                        rule_error(rep, v, r->kind, "max_items", "%zu items, at most %" PRIu64 " allowed", n, r->max_items);
                for (size_t i = 0; r->unique && i < n; i++)
                        for (size_t j = 0; j < i; j++)
                                if (same_value(&items[i], &items[j])) {
                                        size_t saved = reporter_push_index(rep, i);
                                        rule_error(rep, item_node(v, i), r->kind, "unique", "repeats item %zu; items must be unique", j);
                                        reporter_pop(rep, saved);
                                        break;
                                }
                if (r->items)
                        for (size_t i = 0; i < n; i++) {
                                size_t saved = reporter_push_index(rep, i);
                                check_value(rep, r->items, f, f->type, item_node(v, i), &items[i]);
                                reporter_pop(rep, saved);
                        }
        }
        free(items);
}

static void check_map(Reporter *rep, const SchemaField *f, const SchemaRules *r, const YamlNode *v, const uint8_t *enc,
                      size_t len) {
        WireField *entries = NULL;
        size_t n = collect_values(f, enc, len, &entries);
        if (r->kind == RULE_MAP) {
                if (r->has_min_items && n < r->min_items)
                        rule_error(rep, v, r->kind, "min_pairs", "%zu entr%s, at least %" PRIu64 " required", n,
                                   n == 1 ? "y" : "ies", r->min_items);
                if (r->has_max_items && n > r->max_items)
                        rule_error(rep, v, r->kind, "max_pairs", "%zu entries, at most %" PRIu64 " allowed", n, r->max_items);
                const SchemaField *kf = &f->message->fields[0], *vf = &f->message->fields[1];
                for (size_t i = 0; i < n; i++) {
                        WireField k, val;
                        bool has_k = message_field(entries[i].data, entries[i].len, 1, &k);
                        bool has_v = message_field(entries[i].data, entries[i].len, 2, &val);
                        _cleanup_free_ char *key = has_k && kf->type == SCHEMA_TYPE_STRING ? xstrndup((const char *) k.data, k.len)
                                                                                            : xstrdup("");
                        size_t saved = reporter_push_key(rep, key);
                        if (r->keys)
                                check_value(rep, r->keys, kf, kf->type, v, has_k ? &k : NULL);
                        if (r->no_sparse && vf->type == SCHEMA_TYPE_MESSAGE && !has_v)
                                rule_error(rep, v, r->kind, "no_sparse", "a map value must be set");
                        if (r->values)
                                check_value(rep, r->values, vf, vf->type, v, has_v ? &val : NULL);
                        reporter_pop(rep, saved);
                }
        }
        free(entries);
}

void validate_field(Reporter *rep, const SchemaField *f, const YamlNode *v, const uint8_t *enc, size_t len) {
        const SchemaRules *r = f->rules;
        if (!r)
                return;
        if (f->message && f->message->map_entry) {
                check_map(rep, f, r, v, enc, len);
                return;
        }
        if (f->repeated) {
                check_repeated(rep, f, r, v, enc, len);
                return;
        }
        WireField *items = NULL;
        size_t n = collect_values(f, enc, len, &items);
        /* the last occurrence is the value (there is one) */
        check_value(rep, r, f, f->type, v, n > 0 ? &items[n - 1] : NULL);
        free(items);
}

void validate_absent(Reporter *rep, const SchemaMessage *m, const YamlNode *node, const bool *present) {
        if (m->validate_disabled)
                return;
        for (size_t i = 0; i < m->n_fields; i++) {
                const SchemaField *f = &m->fields[i];
                if (present[i] || !f->rules)
                        continue;
                /* oneof members and scalars with presence are only checked when set */
                if (f->oneof_index >= 0 || (f->explicit_presence && f->type != SCHEMA_TYPE_MESSAGE))
                        continue;
                size_t saved = reporter_push_field(rep, f->name);
                if (f->repeated || (f->message && f->message->map_entry))
                        validate_field(rep, f, node, NULL, 0);
                else
                        check_value(rep, f->rules, f, f->type, node, NULL);
                reporter_pop(rep, saved);
        }
        for (size_t o = 0; m->oneof_required && o < m->n_oneofs; o++) {
                if (!m->oneof_required[o])
                        continue;
                bool set = false;
                for (size_t i = 0; i < m->n_fields && !set; i++)
                        set = m->fields[i].oneof_index == (int) o && present[i];
                if (set)
                        continue;
                Buf names = {};
                for (size_t i = 0; i < m->n_fields; i++)
                        if (m->fields[i].oneof_index == (int) o)
                                buf_printf(&names, "%s%s", names.len ? ", " : "", m->fields[i].name);
                _cleanup_free_ char *list = buf_steal_str(&names);
                size_t saved = reporter_push_field(rep, m->oneof_names[o]);
                reporter_rule_error(rep, node, "validate.oneof.required", "one of %s is required", list);
                reporter_pop(rep, saved);
        }
}
