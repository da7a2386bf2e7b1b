/* SPDX-License-Identifier: MIT */
/* The schema's field constraints: protoc-gen-validate's validate.FieldRules,
 * read from a field's options (extension 1071) when the schema loads. */
#include "schema.h"
#include "wire.h"

static const char *const rule_kind_table[_RULE_KIND_MAX] = {
        [RULE_FLOAT] = "float",       [RULE_DOUBLE] = "double",     [RULE_INT32] = "int32",
        [RULE_INT64] = "int64",       [RULE_UINT32] = "uint32",     [RULE_UINT64] = "uint64",
        [RULE_SINT32] = "sint32",     [RULE_SINT64] = "sint64",     [RULE_FIXED32] = "fixed32",
        [RULE_FIXED64] = "fixed64",   [RULE_SFIXED32] = "sfixed32", [RULE_SFIXED64] = "sfixed64",
        [RULE_BOOL] = "bool",         [RULE_STRING] = "string",     [RULE_BYTES] = "bytes",
        [RULE_ENUM] = "enum",         [RULE_REPEATED] = "repeated", [RULE_MAP] = "map",
        [RULE_ANY] = "any",           [RULE_DURATION] = "duration", [RULE_TIMESTAMP] = "timestamp",
};

const char *rule_kind_to_string(RuleKind k) {
        return k > 0 && k < _RULE_KIND_MAX ? rule_kind_table[k] : NULL;
}

/* The protobuf type of a numeric rule kind's values; 0 for other kinds. */
SchemaType rule_kind_numeric_type(RuleKind k) {
        static const SchemaType t[] = {
                [RULE_FLOAT] = SCHEMA_TYPE_FLOAT,       [RULE_DOUBLE] = SCHEMA_TYPE_DOUBLE,
                [RULE_INT32] = SCHEMA_TYPE_INT32,       [RULE_INT64] = SCHEMA_TYPE_INT64,
                [RULE_UINT32] = SCHEMA_TYPE_UINT32,     [RULE_UINT64] = SCHEMA_TYPE_UINT64,
                [RULE_SINT32] = SCHEMA_TYPE_SINT32,     [RULE_SINT64] = SCHEMA_TYPE_SINT64,
                [RULE_FIXED32] = SCHEMA_TYPE_FIXED32,   [RULE_FIXED64] = SCHEMA_TYPE_FIXED64,
                [RULE_SFIXED32] = SCHEMA_TYPE_SFIXED32, [RULE_SFIXED64] = SCHEMA_TYPE_SFIXED64,
        };
        return k >= RULE_FLOAT && k <= RULE_SFIXED64 ? t[k] : 0;
}

/* A scalar of type t from its wire form (a varint, or fixed bits in value). */
long double schema_type_number(SchemaType t, uint64_t v) {
        switch (t) {
        case SCHEMA_TYPE_FLOAT: {
                uint32_t u = (uint32_t) v;
                float x;
                memcpy(&x, &u, sizeof x);
                return x;
        }
        case SCHEMA_TYPE_DOUBLE: {
                double x;
                memcpy(&x, &v, sizeof x);
                return x;
        }
        case SCHEMA_TYPE_INT32:
        case SCHEMA_TYPE_ENUM:
        case SCHEMA_TYPE_SFIXED32:
                return (int32_t) (uint32_t) v;
        case SCHEMA_TYPE_INT64:
        case SCHEMA_TYPE_SFIXED64:
                return (int64_t) v;
        case SCHEMA_TYPE_SINT32:
                return (int32_t) ((uint32_t) (v >> 1) ^ -(uint32_t) (v & 1));
        case SCHEMA_TYPE_SINT64:
                return (int64_t) ((v >> 1) ^ -(v & 1));
        case SCHEMA_TYPE_FIXED32:
        case SCHEMA_TYPE_UINT32:
                return (uint32_t) v;
        default:
                return v;
        }
}

/* Every value of a (possibly packed) numeric field. */
static void numbers_add(long double **items, size_t *n, SchemaType t, const WireField *f) {
        if (f->wire_type != WIRE_LEN) {
                *items = xrealloc(*items, (*n + 1) * sizeof(long double));
                (*items)[(*n)++] = schema_type_number(t, f->value);
                return;
        }
        WireReader rd = { f->data, f->data + f->len };
        uint64_t v;
        while (wire_next_packed(&rd, schema_type_wire_type(t), &v)) {
                *items = xrealloc(*items, (*n + 1) * sizeof(long double));
                (*items)[(*n)++] = schema_type_number(t, v);
        }
}

static void text_set(RuleText *t, const WireField *f) {
        free(t->s);
        t->s = xstrndup((const char *) f->data, f->len);
        t->n = f->len;
}

static void texts_add(RuleText **items, size_t *n, const WireField *f) {
        *items = xrealloc(*items, (*n + 1) * sizeof(RuleText));
        (*items)[*n] = (RuleText) {};
        text_set(&(*items)[(*n)++], f);
}

static bool parse_time(const WireField *f, RuleTime *ret) {
        if (f->wire_type != WIRE_LEN)
                return false;
        *ret = (RuleTime) {};
        WireReader rd = { f->data, f->data + f->len };
        WireField g = {};
        while (wire_next(&rd, &g))
                if (g.number == 1 && g.wire_type == WIRE_VARINT)
                        ret->seconds = (int64_t) g.value;
                else if (g.number == 2 && g.wire_type == WIRE_VARINT)
                        ret->nanos = (int32_t) g.value;
        return true;
}

static int parse_field_rules(const uint8_t *data, size_t len, SchemaRules *r, unsigned depth);

static int parse_sub_rules(const WireField *f, SchemaRules **ret, unsigned depth) {
        if (f->wire_type != WIRE_LEN)
                return -EBADMSG;
        schema_rules_free(*ret);
        *ret = xcalloc(1, sizeof(SchemaRules));
        return parse_field_rules(f->data, f->len, *ret, depth + 1);
}

static void parse_numeric(SchemaRules *r, SchemaType t, const WireField *g) {
        bool scalar = g->wire_type != WIRE_LEN;
        long double v = scalar ? schema_type_number(t, g->value) : 0;
        switch (g->number) {
        case 1: r->has_const = scalar, r->v_const = v; break;
        case 2: r->has_lt = scalar, r->lt = v; break;
        case 3: r->has_lte = scalar, r->lte = v; break;
        case 4: r->has_gt = scalar, r->gt = v; break;
        case 5: r->has_gte = scalar, r->gte = v; break;
        case 6: numbers_add(&r->in, &r->n_in, t, g); break;
        case 7: numbers_add(&r->not_in, &r->n_not_in, t, g); break;
        }
}

static void parse_string(SchemaRules *r, const WireField *g, bool bytes) {
        /* StringRules and BytesRules share most numbers; where they differ: */
        uint32_t n = g->number;
        if (bytes) {
                static const uint32_t map[] = { [1] = 1, [2] = 2, [3] = 3, [4] = 6, [5] = 7, [6] = 8, [7] = 9,
                                                [8] = 10, [9] = 11, [10] = 14, [11] = 15, [12] = 16, [13] = 19 };
                n = n < ELEMENTSOF(map) ? map[n] : 0; /* to StringRules' numbers */
        }
        switch (n) {
        case 1: text_set(&r->t_const, g); break;
        case 2: r->has_min_len = true, r->min_len = g->value; break;
        case 3: r->has_max_len = true, r->max_len = g->value; break;
        case 4: r->has_min_bytes = true, r->min_bytes = g->value; break;
        case 5: r->has_max_bytes = true, r->max_bytes = g->value; break;
        case 6: text_set(&r->pattern, g); break;
        case 7: text_set(&r->prefix, g); break;
        case 8: text_set(&r->suffix, g); break;
        case 9: text_set(&r->contains, g); break;
        case 10: texts_add(&r->t_in, &r->n_t_in, g); break;
        case 11: texts_add(&r->t_not_in, &r->n_t_not_in, g); break;
        case 12: case 13: case 14: case 15: case 16: case 17: case 18: case 21: case 22:
                if (g->value)
                        r->well_known = n;
                break;
        case 19: r->has_len = true, r->len = g->value; break;
        case 20: r->has_len_bytes = true, r->len_bytes = g->value; break;
        case 23: text_set(&r->not_contains, g); break;
        case 24: r->well_known = 24, r->well_known_regex = (int32_t) g->value; break;
        case 25: r->strict = g->value != 0; break;
        case 26: r->ignore_empty = g->value != 0; break;
        }
}

static int parse_kind(SchemaRules *r, RuleKind kind, const WireField *f, unsigned depth) {
        if (f->wire_type != WIRE_LEN)
                return -EBADMSG;
        r->kind = kind;
        WireReader rd = { f->data, f->data + f->len };
        WireField g = {};
        int ret = 0;
        while (ret >= 0 && wire_next(&rd, &g)) {
                if (rule_kind_numeric_type(kind)) {
                        parse_numeric(r, rule_kind_numeric_type(kind), &g);
                        continue;
                }
                switch (kind) {
                case RULE_BOOL:
                        if (g.number == 1)
                                r->has_const = true, r->v_const = g.value != 0;
                        break;
                case RULE_STRING:
                case RULE_BYTES:
                        parse_string(r, &g, kind == RULE_BYTES);
                        break;
                case RULE_ENUM:
                        if (g.number == 2)
                                r->enum_defined_only = g.value != 0;
                        else if (g.number == 1 || g.number == 3 || g.number == 4) {
                                WireField h = g;
                                h.number = g.number == 1 ? 1 : g.number + 3; /* in 3 -> 6, not_in 4 -> 7 */
                                parse_numeric(r, SCHEMA_TYPE_INT32, &h);
                        }
                        break;
                case RULE_REPEATED:
                case RULE_MAP:
                        if (g.number == 1)
                                r->has_min_items = true, r->min_items = g.value;
                        else if (g.number == 2)
                                r->has_max_items = true, r->max_items = g.value;
                        else if (g.number == 3 && kind == RULE_REPEATED)
                                r->unique = g.value != 0;
                        else if (g.number == 3)
                                r->no_sparse = g.value != 0;
                        else if (g.number == 4)
                                ret = parse_sub_rules(&g, kind == RULE_REPEATED ? &r->items : &r->keys, depth);
                        else if (g.number == 5 && kind == RULE_MAP)
                                ret = parse_sub_rules(&g, &r->values, depth);
                        break;
                case RULE_ANY:
                        if (g.number == 1)
                                r->required = g.value != 0;
                        else if (g.number == 2)
                                texts_add(&r->t_in, &r->n_t_in, &g);
                        else if (g.number == 3)
                                texts_add(&r->t_not_in, &r->n_t_not_in, &g);
                        break;
                case RULE_DURATION:
                case RULE_TIMESTAMP:
                        switch (g.number) {
                        case 1: r->required = g.value != 0; break;
                        case 2: r->has_t_const = parse_time(&g, &r->d_const); break;
                        case 3: r->has_t_lt = parse_time(&g, &r->d_lt); break;
                        case 4: r->has_t_lte = parse_time(&g, &r->d_lte); break;
                        case 5: r->has_t_gt = parse_time(&g, &r->d_gt); break;
                        case 6: r->has_t_gte = parse_time(&g, &r->d_gte); break;
                        case 7:
                        case 8:
                                if (kind == RULE_DURATION) {
                                        RuleTime **items = g.number == 7 ? &r->d_in : &r->d_not_in;
                                        size_t *n = g.number == 7 ? &r->n_d_in : &r->n_d_not_in;
                                        *items = xrealloc(*items, (*n + 1) * sizeof(RuleTime));
                                        if (parse_time(&g, &(*items)[*n]))
                                                (*n)++;
                                } else if (g.number == 7)
                                        r->lt_now = g.value != 0;
                                else
                                        r->gt_now = g.value != 0;
                                break;
                        case 9: r->has_within = parse_time(&g, &r->within); break;
                        }
                        break;
                default:
                        break;
                }
        }
        return ret;
}

static int parse_field_rules(const uint8_t *data, size_t len, SchemaRules *r, unsigned depth) {
        if (depth > 8)
                return -EBADMSG;
        r->strict = true;
        WireReader rd = { data, data + len };
        WireField f = {};
        int ret = 0;
        while (ret >= 0 && wire_next(&rd, &f)) {
                if (f.number == 17 && f.wire_type == WIRE_LEN) {
                        WireReader m = { f.data, f.data + f.len };
                        WireField g = {};
                        while (wire_next(&m, &g))
                                if (g.number == 1)
                                        r->message_skip = g.value != 0;
                                else if (g.number == 2)
                                        r->message_required = g.value != 0;
                } else if (f.number >= 1 && f.number < _RULE_KIND_MAX && rule_kind_table[f.number])
                        ret = parse_kind(r, (RuleKind) f.number, &f, depth);
        }
        if (ret >= 0 && rd.p != rd.end)
                ret = -EBADMSG;
        return ret;
}

int schema_rules_parse(const uint8_t *data, size_t len, SchemaRules **ret) {
        SchemaRules *r = xcalloc(1, sizeof(SchemaRules));
        int e = parse_field_rules(data, len, r, 0);
        if (e < 0) {
                schema_rules_free(r);
                return e;
        }
        *ret = r;
        return 0;
}

static void texts_free(RuleText *t, size_t n) {
        for (size_t i = 0; i < n; i++)
                free(t[i].s);
        free(t);
}

SchemaRules *schema_rules_free(SchemaRules *r) {
        if (!r)
                return NULL;
        free(r->in);
        free(r->not_in);
        RuleText *single[] = { &r->t_const, &r->prefix, &r->suffix, &r->contains, &r->not_contains, &r->pattern };
        for (size_t i = 0; i < ELEMENTSOF(single); i++)
                free(single[i]->s);
        texts_free(r->t_in, r->n_t_in);
        texts_free(r->t_not_in, r->n_t_not_in);
        schema_rules_free(r->items);
        schema_rules_free(r->keys);
        schema_rules_free(r->values);
        free(r->d_in);
        free(r->d_not_in);
        free(r);
        return NULL;
}
