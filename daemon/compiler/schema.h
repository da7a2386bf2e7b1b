/* SPDX-License-Identifier: MIT */
/* The protobuf schema everything is compiled against: a FileDescriptorSet
 * (protoc --include_imports --descriptor_set_out), decoded with protobuf-c
 * and indexed for the encoder and decoder. The built-in set comes from
 * proto/ at build time; --schema/schema: load any other one. */
#pragma once

#include "util.h"

/* Same numbers as google.protobuf.FieldDescriptorProto.Type */
typedef enum SchemaType {
        SCHEMA_TYPE_DOUBLE = 1,
        SCHEMA_TYPE_FLOAT = 2,
        SCHEMA_TYPE_INT64 = 3,
        SCHEMA_TYPE_UINT64 = 4,
        SCHEMA_TYPE_INT32 = 5,
        SCHEMA_TYPE_FIXED64 = 6,
        SCHEMA_TYPE_FIXED32 = 7,
        SCHEMA_TYPE_BOOL = 8,
        SCHEMA_TYPE_STRING = 9,
        SCHEMA_TYPE_GROUP = 10,
        SCHEMA_TYPE_MESSAGE = 11,
        SCHEMA_TYPE_BYTES = 12,
        SCHEMA_TYPE_UINT32 = 13,
        SCHEMA_TYPE_ENUM = 14,
        SCHEMA_TYPE_SFIXED32 = 15,
        SCHEMA_TYPE_SFIXED64 = 16,
        SCHEMA_TYPE_SINT32 = 17,
        SCHEMA_TYPE_SINT64 = 18,
        _SCHEMA_TYPE_MAX,
} SchemaType;

typedef enum SchemaWellKnown {
        SCHEMA_WK_NONE,
        SCHEMA_WK_ANY,
        SCHEMA_WK_DURATION,
        SCHEMA_WK_TIMESTAMP,
        SCHEMA_WK_STRUCT,
        SCHEMA_WK_VALUE,
        SCHEMA_WK_LIST_VALUE,
        SCHEMA_WK_FIELD_MASK,
        SCHEMA_WK_EMPTY,
        SCHEMA_WK_DOUBLE_VALUE,
        SCHEMA_WK_FLOAT_VALUE,
        SCHEMA_WK_INT64_VALUE,
        SCHEMA_WK_UINT64_VALUE,
        SCHEMA_WK_INT32_VALUE,
        SCHEMA_WK_UINT32_VALUE,
        SCHEMA_WK_BOOL_VALUE,
        SCHEMA_WK_STRING_VALUE,
        SCHEMA_WK_BYTES_VALUE,
        _SCHEMA_WK_MAX,
} SchemaWellKnown;

typedef struct Schema Schema;
typedef struct SchemaMessage SchemaMessage;
typedef struct SchemaEnum SchemaEnum;

typedef struct SchemaField {
        const char *name;      /* snake_case, as declared */
        const char *json_name; /* lowerCamelCase */
        uint32_t number;
        SchemaType type;
        bool repeated;
        bool packed;          /* repeated scalar written packed */
        bool explicit_presence; /* oneof member, proto3 optional, message, or proto2 */
        int oneof_index;      /* -1 when not in a oneof (synthetic proto3-optional oneofs excluded) */
        const SchemaMessage *message; /* TYPE_MESSAGE / TYPE_GROUP */
        const SchemaEnum *enumeration; /* TYPE_ENUM */
        const SchemaMessage *parent;
        const struct SchemaRules *rules; /* (validate.rules), NULL when none (below) */
} SchemaField;

struct SchemaMessage {
        const char *full_name; /* without leading dot */
        const SchemaField *fields; /* sorted by number */
        size_t n_fields;
        const char *const *oneof_names;
        size_t n_oneofs;
        bool map_entry;  /* key = fields[0] (number 1), value = fields[1] */
        const bool *oneof_required; /* (validate.required) per oneof; NULL when none is */
        bool validate_disabled;     /* (validate.disabled): none of its rules apply */
        bool validated;             /* a field has rules or a oneof is required */
        SchemaWellKnown well_known;
};

typedef struct SchemaEnumValue {
        const char *name;
        int32_t number;
} SchemaEnumValue;

struct SchemaEnum {
        const char *full_name;
        const SchemaEnumValue *values; /* declaration order */
        size_t n_values;
        bool closed; /* proto2 enum */
};

/* Loads a serialized FileDescriptorSet. Returns -EBADMSG when it does not
 * decode, -ENOENT-like errnos on I/O; resolves every type reference and
 * fails with -EINVAL when one is missing (ret_error describes it). */
int schema_load_bytes(const uint8_t *data, size_t len, char **ret_error, Schema **ret);
int schema_load_file(const char *path, char **ret_error, Schema **ret);
/* The descriptor set compiled in: Envoy's complete v3 API. */
int schema_load_builtin(Schema **ret);
Schema *schema_free(Schema *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(Schema *, schema_free);

/* full_name without leading dot */
const SchemaMessage *schema_message(const Schema *s, const char *full_name);
const SchemaEnum *schema_enum(const Schema *s, const char *full_name);
/* "type.googleapis.com/pkg.Msg" or any "prefix/pkg.Msg" */
const SchemaMessage *schema_message_by_type_url(const Schema *s, const char *url);
/* By declared name or json_name. */
const SchemaField *schema_field_by_name(const SchemaMessage *m, const char *name, size_t len);
const SchemaField *schema_field_by_number(const SchemaMessage *m, uint32_t number);
bool schema_enum_value_by_name(const SchemaEnum *e, const char *name, size_t len, int32_t *ret);
/* First declared name for a number, NULL when unknown. */
const char *schema_enum_name(const SchemaEnum *e, int32_t number);

size_t schema_n_messages(const Schema *s);
const SchemaMessage *schema_message_at(const Schema *s, size_t i);
/* sha256 of the serialized descriptor set, hex. */
const char *schema_fingerprint(const Schema *s);

/* Where it came from: the path it was loaded from, or "built-in". */
const char *schema_origin(const Schema *s);
/* A value of schema_build's provenance record ("source", "envoy_release",
 * "data_plane_api_commit", "api_files"), or NULL. */
char *schema_provenance(const Schema *s, const char *key);
/* The descriptor set unpacked anew by protobuf-c (a
 * Google__Protobuf__FileDescriptorSet, for what reads options the index
 * does not keep); free it with
 * google__protobuf__file_descriptor_set__free_unpacked(). NULL: no memory. */
void *schema_unpack_descriptor_set(const Schema *s);

/* The Envoy release the load-time checks target (envoy_version): 1.MINOR.PATCH
 * as MINOR * 1000 + PATCH; at load, the schema's own envoy_release, or the
 * built-in schema's when it records none. */
uint32_t schema_envoy_version(const Schema *s);
void schema_set_envoy_version(Schema *s, uint32_t v);
#define ENVOY_VERSION(minor, patch) ((minor) * 1000u + (patch))
/* "1.36", "1.36.2" or "1.36.0-dev" → ENVOY_VERSION(36, 2); -EINVAL
 * otherwise (numbers of at most three digits). */
int envoy_version_parse(const char *text, uint32_t *ret);
char *envoy_version_format(uint32_t v);

const char *schema_type_to_string(SchemaType t);
/* Wire type (0 varint, 1 i64, 2 len, 5 i32) of a field's single value. */
int schema_type_wire_type(SchemaType t);

/* ---- field constraints (schema-rules.c) ---- */

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
/* The protobuf type of a numeric rule kind's values; 0 for other kinds. */
SchemaType rule_kind_numeric_type(RuleKind k);
/* A scalar of type t from its wire form (a varint, or fixed bits in value). */
long double schema_type_number(SchemaType t, uint64_t v);
