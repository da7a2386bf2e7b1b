/* SPDX-License-Identifier: MIT */
/* Envoy's field constraints: the protoc-gen-validate (PGV) annotations a
 * descriptor set carries (FieldOptions/OneofOptions/MessageOptions
 * extension 1071), read by the schema loader and enforced by the encoder
 * on the bytes it has just written, so a value is checked exactly as Envoy
 * will see it. A violation is an error at the user's line with the field
 * path and the rule ("validate.uint32.lte"). */
#pragma once

#include "encode.h"
#include "schema.h"

/* The member numbers of PGV's FieldRules "type" oneof. */
typedef enum RuleKind {
        RULE_NONE = 0,
        RULE_FLOAT = 1,
        RULE_DOUBLE = 2,
        RULE_INT32 = 3,
        RULE_INT64 = 4,
        RULE_UINT32 = 5,
        RULE_UINT64 = 6,
        RULE_SINT32 = 7,
        RULE_SINT64 = 8,
        RULE_FIXED32 = 9,
        RULE_FIXED64 = 10,
        RULE_SFIXED32 = 11,
        RULE_SFIXED64 = 12,
        RULE_BOOL = 13,
        RULE_STRING = 14,
        RULE_BYTES = 15,
        RULE_ENUM = 16,
        RULE_REPEATED = 18,
        RULE_MAP = 19,
        RULE_ANY = 20,
        RULE_DURATION = 21,
        RULE_TIMESTAMP = 22,
        _RULE_KIND_MAX,
} RuleKind;

typedef struct RuleText {
        char *s; /* NUL-terminated copy; n is its length (bytes may hold NULs) */
        size_t n;
} RuleText;

typedef struct RuleTime {
        int64_t seconds;
        int32_t nanos;
} RuleTime;

typedef struct SchemaRules {
        RuleKind kind;
        bool message_skip, message_required;

        /* numbers (every integer and float kind; the enum's const/in/not_in):
         * long double holds every 64-bit integer and every double exactly */
        bool has_const, has_lt, has_lte, has_gt, has_gte;
        long double v_const, lt, lte, gt, gte;
        long double *in, *not_in;
        size_t n_in, n_not_in;

        bool enum_defined_only;

        /* string and bytes */
        bool has_len, has_min_len, has_max_len, has_len_bytes, has_min_bytes, has_max_bytes;
        uint64_t len, min_len, max_len, len_bytes, min_bytes, max_bytes;
        RuleText t_const, prefix, suffix, contains, not_contains, pattern;
        RuleText *t_in, *t_not_in; /* also AnyRules.in/not_in */
        size_t n_t_in, n_t_not_in;
        uint32_t well_known;     /* the well_known oneof member's number, 0 for none */
        int32_t well_known_regex;
        bool strict;             /* default true */
        bool ignore_empty;

        /* repeated and map */
        bool has_min_items, has_max_items;
        uint64_t min_items, max_items; /* also min_pairs/max_pairs */
        bool unique, no_sparse;
        struct SchemaRules *items, *keys, *values;

        /* any, duration, timestamp */
        bool required;
        bool has_t_const, has_t_lt, has_t_lte, has_t_gt, has_t_gte, has_within;
        RuleTime d_const, d_lt, d_lte, d_gt, d_gte, within;
        RuleTime *d_in, *d_not_in;
        size_t n_d_in, n_d_not_in;
        bool lt_now, gt_now;
} SchemaRules;

/* Parses a serialized validate.FieldRules. Returns -EBADMSG when it does
 * not decode. */
int schema_rules_parse(const uint8_t *data, size_t len, SchemaRules **ret);
SchemaRules *schema_rules_free(SchemaRules *r);
/* "uint32", "string", ...: the middle of a rule's name ("validate.uint32.lte") */
const char *rule_kind_to_string(RuleKind k);

/* Checks a field the encoder just wrote (enc: its bytes, tags included,
 * possibly none for a default scalar) against its rules. v is the YAML
 * value (for locations). */
void validate_field(Encoder *e, const SchemaField *f, const YamlNode *v, const uint8_t *enc, size_t len);
/* After a message's fields: the rules of fields that were not given
 * (required messages, scalars whose zero value breaks a rule, empty
 * repeated fields with min_items) and required oneofs. present[i] tells
 * whether m->fields[i] was given. */
void validate_absent(Encoder *e, const SchemaMessage *m, const YamlNode *node, const bool *present);
