/* SPDX-License-Identifier: MIT */
/* Schema-driven YAML → protobuf wire encoder with Envoy's loader semantics:
 * proto3 JSON mapping (both name styles, enums by name or number, 64-bit
 * integers as strings, base64 bytes, the well-known types' JSON forms, Any
 * with "@type"), plus the legacy forms protobuf's parser accepts in Envoy's
 * mode, each with a warning naming the canonical form. Fields are written
 * in number order and map entries sorted by key, so output is
 * deterministic. */
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>

#include "encode.h"
#include "validate.h"
#include "value.h"
#include "wire.h"

void encoder_init(Encoder *e, const Schema *schema, const char *file, DiagList *diags) {
        *e = (Encoder) { .schema = schema };
        reporter_init(&e->report, file, diags);
}

void encoder_done(Encoder *e) {
        reporter_done(&e->report);
}

void encoder_set_path(Encoder *e, const char *path) {
        reporter_set_path(&e->report, path);
}

#define path_push_field(e, name) reporter_push_field(&(e)->report, name)
#define path_push_index(e, i) reporter_push_index(&(e)->report, i)
#define path_push_key(e, key) reporter_push_key(&(e)->report, key)
#define path_pop(e, saved) reporter_pop(&(e)->report, saved)
#define enc_error(e, at, ...) reporter_diag(&(e)->report, DIAG_ERROR, at, __VA_ARGS__)
#define enc_warning(e, at, ...) reporter_diag(&(e)->report, DIAG_WARNING, at, __VA_ARGS__)

/* ---- scalars ---- */

typedef struct IntRange {
        bool is_signed;
        uint64_t max_pos; /* largest magnitude allowed for positive */
        uint64_t max_neg; /* largest magnitude allowed for negative */
} IntRange;

static IntRange int_range(SchemaType t) {
        switch (t) {
        case SCHEMA_TYPE_INT32:
        case SCHEMA_TYPE_SINT32:
        case SCHEMA_TYPE_SFIXED32:
        case SCHEMA_TYPE_ENUM:
                return (IntRange) { true, INT32_MAX, (uint64_t) INT32_MAX + 1 };
        case SCHEMA_TYPE_UINT32:
        case SCHEMA_TYPE_FIXED32:
                return (IntRange) { false, UINT32_MAX, 0 };
        case SCHEMA_TYPE_UINT64:
        case SCHEMA_TYPE_FIXED64:
                return (IntRange) { false, UINT64_MAX, 0 };
        default:
                return (IntRange) { true, INT64_MAX, (uint64_t) INT64_MAX + 1 };
        }
}

/* Reads an integer of type t from a node; *ret is the two's complement bits. */
static bool node_to_int(Encoder *e, SchemaType t, const YamlNode *v, uint64_t *ret) {
        bool neg = false;
        uint64_t mag = 0;
        bool ok = false;
        if (v->kind == YAML_KIND_INT)
                ok = value_parse_int(v->str, &neg, &mag) >= 0;
        else if (v->kind == YAML_KIND_STRING && v->quoted)
                ok = value_parse_decimal(v->str, &neg, &mag) >= 0;
        else if (v->kind == YAML_KIND_FLOAT) {
                double d = strtod(v->str, NULL);
                if (isfinite(d) && d == floor(d) && fabs(d) < 1.8446744073709552e19) {
                        neg = d < 0;
                        mag = (uint64_t) fabs(d);
                        ok = true;
                }
        }
        if (!ok) {
                _cleanup_free_ char *what = yaml_describe(v);
                enc_error(e, v, "expected an integer (%s), got %s", schema_type_to_string(t), what);
                return false;
        }
        IntRange r = int_range(t);
        if ((neg && (!r.is_signed || mag > r.max_neg)) || (!neg && mag > r.max_pos)) {
                enc_error(e, v, "%s%" PRIu64 " is out of range for %s", neg ? "-" : "", mag, schema_type_to_string(t));
                return false;
        }
        *ret = neg ? (uint64_t) (-(int64_t) (mag - 1) - 1) : mag;
        return true;
}

static bool node_to_double(Encoder *e, SchemaType t, const YamlNode *v, double *ret) {
        double d;
        if (v->kind == YAML_KIND_FLOAT) {
                const char *s = v->str;
                if (strstr(s, "inf") || strstr(s, "Inf") || strstr(s, "INF"))
                        d = *s == '-' ? -INFINITY : INFINITY;
                else if (strstr(s, "nan") || strstr(s, "NaN") || strstr(s, "NAN"))
                        d = NAN;
                else
                        d = strtod(s, NULL);
        } else if (v->kind == YAML_KIND_INT) {
                bool neg;
                uint64_t mag;
                if (value_parse_int(v->str, &neg, &mag) < 0)
                        goto bad;
                d = neg ? -(double) mag : (double) mag;
        } else if (v->kind == YAML_KIND_STRING && v->quoted) {
                if (streq(v->str, "NaN"))
                        d = NAN;
                else if (streq(v->str, "Infinity"))
                        d = INFINITY;
                else if (streq(v->str, "-Infinity"))
                        d = -INFINITY;
                else {
                        char *end;
                        errno = 0;
                        d = strtod(v->str, &end);
                        if (!*v->str || *end || errno || !isfinite(d))
                                goto bad;
                }
        } else
                goto bad;
        if (t == SCHEMA_TYPE_FLOAT && isfinite(d) && fabs(d) > FLT_MAX) {
                enc_error(e, v, "%s is out of range for float", v->str);
                return false;
        }
        *ret = d;
        return true;
bad:;
        _cleanup_free_ char *what = yaml_describe(v);
        enc_error(e, v, "expected a number, got %s", what);
        return false;
}

static bool node_to_bool(Encoder *e, const YamlNode *v, bool *ret) {
        static const char *const truthy[] = { "y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON" };
        if (v->kind == YAML_KIND_BOOL) {
                *ret = false;
                for (size_t i = 0; i < ELEMENTSOF(truthy); i++)
                        if (streq(v->str, truthy[i]))
                                *ret = true;
                return true;
        }
        if (v->kind == YAML_KIND_STRING && (streq(v->str, "true") || streq(v->str, "false"))) {
                enc_warning(e, v, "boolean given as the string \"%s\"; write %s without quotes (legacy form)",
                            v->str, v->str);
                *ret = streq(v->str, "true");
                return true;
        }
        _cleanup_free_ char *what = yaml_describe(v);
        enc_error(e, v, "expected a boolean (true or false), got %s", what);
        return false;
}

static bool node_to_string(Encoder *e, const YamlNode *v, const char **ret, size_t *ret_len, char **ret_owned) {
        *ret_owned = NULL;
        if (v->kind == YAML_KIND_STRING) {
                *ret = v->str;
                *ret_len = v->n;
                return true;
        }
        if (v->kind == YAML_KIND_INT) {
                /* Envoy's YAML loader turns integers beyond int32 into decimal strings */
                bool neg;
                uint64_t mag;
                if (value_parse_int(v->str, &neg, &mag) >= 0 && (neg ? mag > (uint64_t) INT32_MAX + 1 : mag > INT32_MAX)) {
                        *ret_owned = xasprintf("%s%" PRIu64, neg ? "-" : "", mag);
                        *ret = *ret_owned;
                        *ret_len = strlen(*ret_owned);
                        return true;
                }
        }
        _cleanup_free_ char *what = yaml_describe(v);
        if (yaml_is_scalar(v) && v->kind != YAML_KIND_NULL)
                enc_error(e, v, "expected a string, got %s (quote it to make it a string)", what);
        else
                enc_error(e, v, "expected a string, got %s", what);
        return false;
}

static bool node_to_enum(Encoder *e, const SchemaEnum *en, const YamlNode *v, int32_t *ret) {
        if (v->kind == YAML_KIND_STRING || v->kind == YAML_KIND_BOOL) {
                if (schema_enum_value_by_name(en, v->str, v->n, ret))
                        return true;
                Buf names = {};
                for (size_t i = 0; i < en->n_values && i < 12; i++)
                        buf_printf(&names, "%s%s", i ? ", " : "", en->values[i].name);
                if (en->n_values > 12)
                        buf_printf(&names, ", ...");
                _cleanup_free_ char *list = buf_steal_str(&names);
                enc_error(e, v, "unknown value \"%s\" for enum %s (one of: %s)", v->str, en->full_name, list);
                return false;
        }
        if (v->kind == YAML_KIND_INT) {
                uint64_t u;
                if (!node_to_int(e, SCHEMA_TYPE_ENUM, v, &u))
                        return false;
                int32_t n = (int32_t) u;
                if (en->closed && !schema_enum_name(en, n)) {
                        enc_error(e, v, "%d is not a value of enum %s", n, en->full_name);
                        return false;
                }
                *ret = n;
                return true;
        }
        _cleanup_free_ char *what = yaml_describe(v);
        enc_error(e, v, "expected a value of enum %s, got %s", en->full_name, what);
        return false;
}

/* Writes the raw value (no tag) of a scalar field type. Returns false on
 * error; *ret_default tells whether it is the type's default value. */
static bool put_scalar(Encoder *e, SchemaType t, const SchemaEnum *en, const YamlNode *v, Buf *out, bool *ret_default) {
        uint64_t u;
        double d;
        bool b;
        switch (t) {
        case SCHEMA_TYPE_INT32:
        case SCHEMA_TYPE_INT64:
        case SCHEMA_TYPE_UINT32:
        case SCHEMA_TYPE_UINT64:
                if (!node_to_int(e, t, v, &u))
                        return false;
                /* int32 negatives are sign-extended to 64 bits on the wire */
                wire_put_varint(out, t == SCHEMA_TYPE_INT32 ? (uint64_t) (int64_t) (int32_t) u : u);
                *ret_default = u == 0;
                return true;
        case SCHEMA_TYPE_SINT32:
                if (!node_to_int(e, t, v, &u))
                        return false;
                wire_put_varint(out, wire_zigzag32((int32_t) u));
                *ret_default = u == 0;
                return true;
        case SCHEMA_TYPE_SINT64:
                if (!node_to_int(e, t, v, &u))
                        return false;
                wire_put_varint(out, wire_zigzag64((int64_t) u));
                *ret_default = u == 0;
                return true;
        case SCHEMA_TYPE_FIXED32:
        case SCHEMA_TYPE_SFIXED32:
                if (!node_to_int(e, t, v, &u))
                        return false;
                wire_put_fixed32(out, (uint32_t) u);
                *ret_default = u == 0;
                return true;
        case SCHEMA_TYPE_FIXED64:
        case SCHEMA_TYPE_SFIXED64:
                if (!node_to_int(e, t, v, &u))
                        return false;
                wire_put_fixed64(out, u);
                *ret_default = u == 0;
                return true;
        case SCHEMA_TYPE_DOUBLE: {
                if (!node_to_double(e, t, v, &d))
                        return false;
                uint64_t bits;
                memcpy(&bits, &d, 8);
                wire_put_fixed64(out, bits);
                *ret_default = bits == 0;
                return true;
        }
        case SCHEMA_TYPE_FLOAT: {
                if (!node_to_double(e, t, v, &d))
                        return false;
                float f = (float) d;
                uint32_t bits;
                memcpy(&bits, &f, 4);
                wire_put_fixed32(out, bits);
                *ret_default = bits == 0;
                return true;
        }
        case SCHEMA_TYPE_BOOL:
                if (!node_to_bool(e, v, &b))
                        return false;
                wire_put_varint(out, b);
                *ret_default = !b;
                return true;
        case SCHEMA_TYPE_ENUM: {
                int32_t n;
                if (!node_to_enum(e, en, v, &n))
                        return false;
                wire_put_varint(out, (uint64_t) (int64_t) n);
                *ret_default = n == 0;
                return true;
        }
        case SCHEMA_TYPE_STRING: {
                const char *s;
                size_t len;
                _cleanup_free_ char *owned = NULL;
                if (!node_to_string(e, v, &s, &len, &owned))
                        return false;
                wire_put_varint(out, len);
                buf_append(out, s, len);
                *ret_default = len == 0;
                return true;
        }
        case SCHEMA_TYPE_BYTES: {
                if (v->kind != YAML_KIND_STRING) {
                        _cleanup_free_ char *what = yaml_describe(v);
                        enc_error(e, v, "expected base64 bytes, got %s", what);
                        return false;
                }
                Buf raw = {};
                if (value_base64_decode(v->str, v->n, &raw) < 0) {
                        buf_free(&raw);
                        enc_error(e, v, "invalid base64 in bytes field");
                        return false;
                }
                wire_put_varint(out, raw.len);
                buf_append(out, raw.data, raw.len);
                *ret_default = raw.len == 0;
                buf_free(&raw);
                return true;
        }
        default:
                enc_error(e, v, "field type %s is not supported", schema_type_to_string(t));
                return false;
        }
}

/* ---- messages ---- */

static void encode_field_value(Encoder *e, const SchemaField *f, const YamlNode *v, Buf *out);

static const char *suggest_field(const SchemaMessage *m, const char *key) {
        const char *best = NULL;
        size_t best_d = 3;
        for (size_t i = 0; i < m->n_fields; i++) {
                size_t d = MIN(edit_distance(key, m->fields[i].name, 2), edit_distance(key, m->fields[i].json_name, 2));
                if (d < best_d) {
                        best_d = d;
                        best = m->fields[i].name;
                }
        }
        return best;
}

typedef struct FieldEntry {
        const SchemaField *field;
        const YamlNode *key;
        const YamlNode *value;
} FieldEntry;

static int cmp_field_entry(const void *a, const void *b) {
        const FieldEntry *x = a, *y = b;
        if (x->field->number != y->field->number)
                return x->field->number < y->field->number ? -1 : 1;
        return 0;
}

static bool message_is_special(const SchemaMessage *m, const YamlNode *v);
static void legacy_object_warning(Encoder *e, const SchemaMessage *m, const YamlNode *v);
static void encode_special(Encoder *e, const SchemaMessage *m, const YamlNode *v, Buf *out);

/* skip_key: a key that belongs to the container (Any's "@type"). */
static void encode_fields(Encoder *e, const SchemaMessage *m, const YamlNode *node, const char *skip_key, Buf *out) {
        if (node->kind != YAML_KIND_MAP) {
                _cleanup_free_ char *what = yaml_describe(node);
                enc_error(e, node, "expected a mapping for %s, got %s", m->full_name, what);
                return;
        }
        FieldEntry stack_entries[32];
        FieldEntry *entries = node->n <= ELEMENTSOF(stack_entries) ? stack_entries : xcalloc(node->n, sizeof(FieldEntry));
        size_t n = 0;
        for (uint32_t i = 0; i < node->n; i++) {
                const YamlNode *k = node->items[2 * i], *v = node->items[2 * i + 1];
                if (!yaml_is_scalar(k))
                        continue;
                if (skip_key && streq(k->str, skip_key))
                        continue;
                const SchemaField *f = schema_field_by_name(m, k->str, k->n);
                if (!f) {
                        const char *hint = suggest_field(m, k->str);
                        _cleanup_free_ char *shown = diag_excerpt(k->str);
                        size_t saved = path_push_field(e, shown);
                        if (hint)
                                enc_error(e, k, "unknown field \"%s\" in %s (did you mean \"%s\"?)", shown, m->full_name, hint);
                        else
                                enc_error(e, k, "unknown field \"%s\" in %s", shown, m->full_name);
                        path_pop(e, saved);
                        continue;
                }
                bool dup = false;
                for (size_t j = 0; j < n; j++) {
                        if (entries[j].field == f) {
                                if (streq(entries[j].key->str, k->str)) {
                                        dup = true; /* a duplicate key: the YAML loader reported it */
                                        break;
                                }
                                size_t saved = path_push_field(e, f->name);
                                enc_error(e, k, "field given twice (as \"%s\" at line %u and as \"%s\")",
                                          entries[j].key->str, entries[j].key->line, k->str);
                                path_pop(e, saved);
                                dup = true;
                                break;
                        }
                        if (f->oneof_index >= 0 && entries[j].field->oneof_index == f->oneof_index &&
                            v->kind != YAML_KIND_NULL && entries[j].value->kind != YAML_KIND_NULL) {
                                size_t saved = path_push_field(e, f->name);
                                enc_error(e, k, "\"%s\" and \"%s\" (line %u) are both set, but only one of oneof \"%s\" may be",
                                          k->str, entries[j].key->str, entries[j].key->line,
                                          m->oneof_names[f->oneof_index]);
                                path_pop(e, saved);
                                dup = true;
                                break;
                        }
                }
                if (dup)
                        continue;
                entries[n++] = (FieldEntry) { f, k, v };
        }
        if (n > 1) {
                /* insertion sort: field lists are short and often already ordered */
                for (size_t i = 1; i < n; i++) {
                        FieldEntry x = entries[i];
                        size_t j = i;
                        while (j > 0 && cmp_field_entry(&entries[j - 1], &x) > 0) {
                                entries[j] = entries[j - 1];
                                j--;
                        }
                        entries[j] = x;
                }
        }
        bool validate = m->validated && !m->validate_disabled && e->no_validate == 0;
        bool stack_present[64], *present = NULL;
        if (validate)
                present = m->n_fields <= ELEMENTSOF(stack_present) ? memset(stack_present, 0, sizeof stack_present)
                                                                   : xcalloc(m->n_fields, sizeof(bool));
        for (size_t i = 0; i < n; i++) {
                const SchemaField *f = entries[i].field;
                if (entries[i].value->kind == YAML_KIND_NULL)
                        continue; /* null means absent */
                size_t saved = path_push_field(e, f->name);
                size_t start = out->len, errors = e->report.n_errors;
                bool skip = f->rules && f->rules->message_skip;
                e->no_validate += skip;
                encode_field_value(e, f, entries[i].value, out);
                e->no_validate -= skip;
                if (validate) {
                        present[f - m->fields] = true;
                        /* a value that did not encode has had its error */
                        if (e->report.n_errors == errors)
                                validate_field(&e->report, f, entries[i].value, out->data + start, out->len - start);
                }
                path_pop(e, saved);
        }
        if (validate) {
                validate_absent(&e->report, m, node, present);
                if (present != stack_present)
                        free(present);
        }
        if (entries != stack_entries)
                free(entries);
}

size_t encode_message(Encoder *e, const SchemaMessage *m, const YamlNode *node, Buf *out) {
        size_t before = e->report.n_errors;
        if (++e->depth > 200) {
                enc_error(e, node, "messages nested too deeply");
        } else if (message_is_special(m, node))
                encode_special(e, m, node, out);
        else {
                if (m->well_known != SCHEMA_WK_NONE && m->well_known != SCHEMA_WK_EMPTY && node->kind == YAML_KIND_MAP)
                        legacy_object_warning(e, m, node);
                encode_fields(e, m, node, NULL, out);
        }
        e->depth--;
        return e->report.n_errors - before;
}

static void encode_single(Encoder *e, const SchemaField *f, const YamlNode *v, Buf *out, bool in_repeated) {
        if (v->kind == YAML_KIND_ENCODED) {
                /* encoded while the file was read (yaml_parse's encode_early) */
                wire_put_bytes(out, f->number, v->str, v->n);
                return;
        }
        if (f->type == SCHEMA_TYPE_MESSAGE) {
                size_t mark = wire_begin_len(out, f->number);
                encode_message(e, f->message, v, out);
                wire_end_len(out, mark);
                return;
        }
        size_t saved = out->len;
        wire_put_tag(out, f->number, schema_type_wire_type(f->type));
        bool is_default = false;
        if (!put_scalar(e, f->type, f->enumeration, v, out, &is_default) ||
            (is_default && !f->explicit_presence && !in_repeated))
                out->len = saved;
}

static int cmp_map_key(const void *a, const void *b) {
        const YamlNode *const *x = a, *const *y = b;
        /* numeric keys compare as numbers when both parse */
        char *ex, *ey;
        long long nx = strtoll((*x)->str, &ex, 0), ny = strtoll((*y)->str, &ey, 0);
        if (*(*x)->str && *(*y)->str && !*ex && !*ey && nx != ny)
                return nx < ny ? -1 : 1;
        return strcmp((*x)->str, (*y)->str);
}

static void encode_map(Encoder *e, const SchemaField *f, const YamlNode *v, Buf *out) {
        if (v->kind != YAML_KIND_MAP) {
                _cleanup_free_ char *what = yaml_describe(v);
                enc_error(e, v, "expected a mapping (a map field), got %s", what);
                return;
        }
        const SchemaField *kf = &f->message->fields[0], *vf = &f->message->fields[1];
        /* pairs sorted by key: items are (key, value) pointer pairs */
        size_t n = v->n;
        const YamlNode **pairs = xcalloc(2 * n, sizeof(YamlNode *));
        memcpy(pairs, v->items, 2 * n * sizeof(YamlNode *));
        qsort(pairs, n, 2 * sizeof(YamlNode *), cmp_map_key);
        for (size_t i = 0; i < n; i++) {
                const YamlNode *k = pairs[2 * i], *val = pairs[2 * i + 1];
                size_t saved = path_push_key(e, k->str);
                size_t mark = wire_begin_len(out, f->number);
                /* map keys are strings in JSON; parse them as the key type */
                YamlNode key = *k;
                key.kind = kf->type == SCHEMA_TYPE_STRING ? YAML_KIND_STRING :
                           kf->type == SCHEMA_TYPE_BOOL ? YAML_KIND_BOOL : YAML_KIND_INT;
                key.quoted = 0;
                wire_put_tag(out, 1, schema_type_wire_type(kf->type));
                bool dflt;
                put_scalar(e, kf->type, NULL, &key, out, &dflt);
                if (val->kind == YAML_KIND_NULL && vf->type != SCHEMA_TYPE_MESSAGE) {
                        enc_error(e, val, "map value is null");
                } else if (val->kind != YAML_KIND_NULL || vf->message) {
                        if (vf->type == SCHEMA_TYPE_MESSAGE) {
                                size_t m2 = wire_begin_len(out, 2);
                                if (val->kind != YAML_KIND_NULL || vf->message->well_known == SCHEMA_WK_VALUE)
                                        encode_message(e, vf->message, val, out);
                                wire_end_len(out, m2);
                        } else {
                                wire_put_tag(out, 2, schema_type_wire_type(vf->type));
                                put_scalar(e, vf->type, vf->enumeration, val, out, &dflt);
                        }
                }
                wire_end_len(out, mark);
                path_pop(e, saved);
        }
        free(pairs);
}

static void encode_field_value(Encoder *e, const SchemaField *f, const YamlNode *v, Buf *out) {
        if (f->type == SCHEMA_TYPE_MESSAGE && f->message->map_entry) {
                encode_map(e, f, v, out);
                return;
        }
        if (!f->repeated) {
                if (v->kind == YAML_KIND_SEQ && !(f->message && (f->message->well_known == SCHEMA_WK_LIST_VALUE ||
                                                                 f->message->well_known == SCHEMA_WK_VALUE))) {
                        enc_error(e, v, "expected a single value, got a list");
                        return;
                }
                encode_single(e, f, v, out, false);
                return;
        }
        const YamlNode *const *items;
        size_t n;
        const YamlNode *single[1];
        if (v->kind == YAML_KIND_SEQ) {
                items = (const YamlNode *const *) v->items;
                n = v->n;
        } else {
                enc_warning(e, v, "a single value where a list is expected; write it as a one-element list (legacy form)");
                single[0] = v;
                items = single;
                n = 1;
        }
        if (f->packed) {
                size_t mark = wire_begin_len(out, f->number);
                for (size_t i = 0; i < n; i++) {
                        size_t saved = path_push_index(e, i);
                        bool dflt;
                        if (items[i]->kind == YAML_KIND_NULL)
                                enc_error(e, items[i], "null is not allowed in a list");
                        else
                                put_scalar(e, f->type, f->enumeration, items[i], out, &dflt);
                        path_pop(e, saved);
                }
                if (out->len == mark) /* empty packed list: write nothing */
                        out->len = mark - 1 - wire_varint_size(((uint64_t) f->number << 3) | WIRE_LEN);
                else
                        wire_end_len(out, mark);
                return;
        }
        for (size_t i = 0; i < n; i++) {
                size_t saved = path_push_index(e, i);
                if (items[i]->kind == YAML_KIND_NULL && !(f->message && f->message->well_known == SCHEMA_WK_VALUE))
                        enc_error(e, items[i], "null is not allowed in a list");
                else
                        encode_single(e, f, items[i], out, true);
                path_pop(e, saved);
        }
}

/* ---- well-known types ---- */

static bool is_wrapper(SchemaWellKnown wk) {
        return wk >= SCHEMA_WK_DOUBLE_VALUE && wk <= SCHEMA_WK_BYTES_VALUE;
}

static bool message_is_special(const SchemaMessage *m, const YamlNode *v) {
        switch (m->well_known) {
        case SCHEMA_WK_ANY:
        case SCHEMA_WK_STRUCT:
        case SCHEMA_WK_VALUE:
        case SCHEMA_WK_LIST_VALUE:
                return true;
        case SCHEMA_WK_DURATION:
        case SCHEMA_WK_TIMESTAMP:
        case SCHEMA_WK_FIELD_MASK:
                return v->kind != YAML_KIND_MAP; /* object form: legacy, encoded as fields */
        default:
                return is_wrapper(m->well_known) && v->kind != YAML_KIND_MAP;
        }
}

static void legacy_object_warning(Encoder *e, const SchemaMessage *m, const YamlNode *v) {
        const char *canonical = m->well_known == SCHEMA_WK_DURATION ? "a string like \"1.5s\"" :
                m->well_known == SCHEMA_WK_TIMESTAMP ? "an RFC 3339 string like \"2024-01-01T00:00:00Z\"" :
                m->well_known == SCHEMA_WK_FIELD_MASK ? "a string like \"a.b,c\"" : "the bare value";
        enc_warning(e, v, "%s given in object form; write %s (legacy form)", m->full_name, canonical);
}

static void put_varint_field(Buf *out, uint32_t number, uint64_t v) {
        if (v == 0)
                return;
        wire_put_tag(out, number, WIRE_VARINT);
        wire_put_varint(out, v);
}

static void encode_value(Encoder *e, const YamlNode *v, Buf *out);

static void encode_struct(Encoder *e, const YamlNode *v, Buf *out) {
        if (v->kind != YAML_KIND_MAP) {
                _cleanup_free_ char *what = yaml_describe(v);
                enc_error(e, v, "expected a mapping for google.protobuf.Struct, got %s", what);
                return;
        }
        size_t n = v->n;
        const YamlNode **pairs = xcalloc(2 * n, sizeof(YamlNode *));
        memcpy(pairs, v->items, 2 * n * sizeof(YamlNode *));
        qsort(pairs, n, 2 * sizeof(YamlNode *), cmp_map_key);
        for (size_t i = 0; i < n; i++) {
                size_t saved = path_push_key(e, pairs[2 * i]->str);
                size_t mark = wire_begin_len(out, 1);
                wire_put_bytes(out, 1, pairs[2 * i]->str, pairs[2 * i]->n);
                size_t m2 = wire_begin_len(out, 2);
                encode_value(e, pairs[2 * i + 1], out);
                wire_end_len(out, m2);
                wire_end_len(out, mark);
                path_pop(e, saved);
        }
        free(pairs);
}

static void encode_list_value(Encoder *e, const YamlNode *v, Buf *out) {
        if (v->kind != YAML_KIND_SEQ) {
                _cleanup_free_ char *what = yaml_describe(v);
                enc_error(e, v, "expected a list for google.protobuf.ListValue, got %s", what);
                return;
        }
        for (uint32_t i = 0; i < v->n; i++) {
                size_t saved = path_push_index(e, i);
                size_t mark = wire_begin_len(out, 1);
                encode_value(e, v->items[i], out);
                wire_end_len(out, mark);
                path_pop(e, saved);
        }
}

/* google.protobuf.Value from any YAML node, as Envoy's YAML loader builds
 * it: integers within int32 are numbers, larger ones decimal strings. */
static void encode_value(Encoder *e, const YamlNode *v, Buf *out) {
        switch (v->kind) {
        case YAML_KIND_NULL:
                wire_put_tag(out, 1, WIRE_VARINT);
                wire_put_varint(out, 0);
                return;
        case YAML_KIND_BOOL: {
                bool b;
                node_to_bool(e, v, &b);
                wire_put_tag(out, 4, WIRE_VARINT);
                wire_put_varint(out, b);
                return;
        }
        case YAML_KIND_INT: {
                bool neg;
                uint64_t mag;
                if (value_parse_int(v->str, &neg, &mag) >= 0 &&
                    (neg ? mag > (uint64_t) INT32_MAX + 1 : mag > INT32_MAX)) {
                        _cleanup_free_ char *s = xasprintf("%s%" PRIu64, neg ? "-" : "", mag);
                        wire_put_bytes(out, 3, s, strlen(s));
                        return;
                }
        }
                _fallthrough_;
        case YAML_KIND_FLOAT: {
                double d;
                if (!node_to_double(e, SCHEMA_TYPE_DOUBLE, v, &d))
                        return;
                uint64_t bits;
                memcpy(&bits, &d, 8);
                wire_put_tag(out, 2, WIRE_I64);
                wire_put_fixed64(out, bits);
                return;
        }
        case YAML_KIND_STRING:
                wire_put_bytes(out, 3, v->str, v->n);
                return;
        case YAML_KIND_MAP: {
                size_t mark = wire_begin_len(out, 5);
                encode_struct(e, v, out);
                wire_end_len(out, mark);
                return;
        }
        case YAML_KIND_SEQ: {
                size_t mark = wire_begin_len(out, 6);
                encode_list_value(e, v, out);
                wire_end_len(out, mark);
                return;
        }
        }
}

static void encode_field_mask(Encoder *e, const YamlNode *v, Buf *out) {
        if (v->kind != YAML_KIND_STRING) {
                _cleanup_free_ char *what = yaml_describe(v);
                enc_error(e, v, "expected a field mask string like \"a.b,c\", got %s", what);
                return;
        }
        const char *p = v->str;
        while (*p) {
                const char *end = strchrnul(p, ',');
                Buf path = {};
                for (const char *q = p; q < end; q++) {
                        if (*q >= 'A' && *q <= 'Z') {
                                buf_putc(&path, '_');
                                buf_putc(&path, (uint8_t) (*q - 'A' + 'a'));
                        } else
                                buf_putc(&path, (uint8_t) *q);
                }
                wire_put_bytes(out, 1, path.data, path.len);
                buf_free(&path);
                p = *end ? end + 1 : end;
        }
}

static void encode_special(Encoder *e, const SchemaMessage *m, const YamlNode *v, Buf *out) {
        switch (m->well_known) {
        case SCHEMA_WK_ANY:
                encode_any(e, v, out, NULL);
                return;
        case SCHEMA_WK_STRUCT:
                encode_struct(e, v, out);
                return;
        case SCHEMA_WK_VALUE:
                encode_value(e, v, out);
                return;
        case SCHEMA_WK_LIST_VALUE:
                encode_list_value(e, v, out);
                return;
        case SCHEMA_WK_FIELD_MASK:
                encode_field_mask(e, v, out);
                return;
        case SCHEMA_WK_DURATION:
        case SCHEMA_WK_TIMESTAMP: {
                bool dur = m->well_known == SCHEMA_WK_DURATION;
                int64_t s;
                int32_t ns;
                if (v->kind != YAML_KIND_STRING ||
                    (dur ? value_parse_duration(v->str, &s, &ns) : value_parse_timestamp(v->str, &s, &ns)) < 0) {
                        _cleanup_free_ char *what = yaml_describe(v);
                        if (dur)
                                enc_error(e, v, "expected a duration like \"1.5s\" (seconds with an \"s\" suffix, at most 9 fractional digits), got %s", what);
                        else
                                enc_error(e, v, "expected an RFC 3339 timestamp like \"2024-01-01T00:00:00Z\", got %s", what);
                        return;
                }
                put_varint_field(out, 1, (uint64_t) s);
                put_varint_field(out, 2, (uint64_t) (int64_t) ns);
                return;
        }
        default:
                if (is_wrapper(m->well_known)) {
                        encode_single(e, &m->fields[0], v, out, false);
                        return;
                }
                encode_fields(e, m, v, NULL, out);
        }
}

size_t encode_any(Encoder *e, const YamlNode *node, Buf *out, const SchemaMessage **ret_type) {
        size_t before = e->report.n_errors;
        if (node->kind != YAML_KIND_MAP) {
                _cleanup_free_ char *what = yaml_describe(node);
                enc_error(e, node, "expected a mapping with \"@type\" (google.protobuf.Any), got %s", what);
                return e->report.n_errors - before;
        }
        const YamlNode *type = yaml_map_get(node, "@type");
        if (!type) {
                if (node->n == 0) {
                        enc_warning(e, node, "empty google.protobuf.Any without \"@type\" (legacy form)");
                        return 0;
                }
                enc_error(e, node, "missing \"@type\" (a google.protobuf.Any needs its type URL)");
                return e->report.n_errors - before;
        }
        if (type->kind != YAML_KIND_STRING) {
                enc_error(e, type, "\"@type\" must be a type URL string");
                return e->report.n_errors - before;
        }
        const SchemaMessage *m = schema_message_by_type_url(e->schema, type->str);
        if (!m) {
                if (!strchr(type->str, '/'))
                        enc_error(e, type, "\"@type\": \"%s\" is not a type URL (expected type.googleapis.com/<message>)", type->str);
                else
                        enc_error(e, type, "\"@type\": unknown type %s (not in the %s schema: fsxds schema info)",
                                  type->str, schema_origin(e->schema));
                return e->report.n_errors - before;
        }
        if (ret_type)
                *ret_type = m;
        wire_put_bytes(out, 1, type->str, type->n);
        size_t mark = wire_begin_len(out, 2);
        bool special = m->well_known != SCHEMA_WK_NONE && m->well_known != SCHEMA_WK_EMPTY;
        if (special) {
                const YamlNode *value = NULL;
                for (uint32_t i = 0; i < node->n; i++) {
                        const YamlNode *k = node->items[2 * i];
                        if (streq(k->str, "@type"))
                                continue;
                        if (streq(k->str, "value"))
                                value = node->items[2 * i + 1];
                        else {
                                size_t saved = path_push_field(e, k->str);
                                enc_error(e, k, "unknown field \"%s\": a %s inside Any is given as \"value\"", k->str, m->full_name);
                                path_pop(e, saved);
                        }
                }
                if (!value)
                        enc_error(e, node, "a %s inside Any needs \"value\"", m->full_name);
                else if (value->kind != YAML_KIND_NULL || m->well_known == SCHEMA_WK_VALUE) {
                        size_t saved = path_push_field(e, "value");
                        encode_message(e, m, value, out);
                        path_pop(e, saved);
                }
        } else {
                e->depth++;
                encode_fields(e, m, node, "@type", out);
                e->depth--;
        }
        if (out->len == mark) /* empty payload: proto3 writes no empty bytes field */
                out->len = mark - 1 - wire_varint_size(((uint64_t) 2 << 3) | WIRE_LEN);
        else
                wire_end_len(out, mark);
        return e->report.n_errors - before;
}
