/* SPDX-License-Identifier: MIT */
/* Loads a FileDescriptorSet with protobuf-c and indexes its messages, enums
 * and fields by name, json_name and number, so the encoder and decoder can
 * walk any protobuf schema without generated per-message code. */
#include "descriptor.pb-c.h"
#include "version.h"

#include <assert.h>
#include <sys/mman.h>
#include <unistd.h>

#include "hashmap.h"
#include "schema-build.h"
#include "schema.h"
#include "sha256.h"
#include "wire.h"

typedef Google__Protobuf__FileDescriptorSet FileDescriptorSet;
typedef Google__Protobuf__FileDescriptorProto FileDescriptorProto;
typedef Google__Protobuf__DescriptorProto DescriptorProto;
typedef Google__Protobuf__FieldDescriptorProto FieldDescriptorProto;
typedef Google__Protobuf__EnumDescriptorProto EnumDescriptorProto;

static char *provenance_of(const FileDescriptorSet *set);

extern const uint8_t fsxds_builtin_schema[];
extern const size_t fsxds_builtin_schema_len;

/* Messages with at most this many fields are searched by name linearly:
 * most of Envoy's are, and a table each would cost over a megabyte. */
#define SMALL_MESSAGE 16

typedef struct MessageEx {
        SchemaMessage m;
        Hashmap by_name; /* name and json_name → SchemaField; only above SMALL_MESSAGE fields */
        bool proto3;
        const DescriptorProto *descriptor; /* while loading: the set is freed then */
} MessageEx;

/* After loading, nothing points into the unpacked FileDescriptorSet (2 MiB
 * for Envoy's API): the names live in one buffer, the set is freed, and
 * the serialized bytes are kept only where they cost nothing (the
 * built-in array, or the buffer a file was read into) for
 * schema_unpack_descriptor_set(). */
struct Schema {
        FileDescriptorSet *set; /* while loading */
        char *names;            /* field, json, oneof and enum value names */
        size_t names_len, names_cap;
        char *origin;            /* the path it was loaded from, or "built-in" */
        char *provenance;        /* schema_build's record (field 15), or NULL */
        uint32_t envoy_version;  /* the release checks target; 0: unknown */
        const uint8_t *bytes;
        uint8_t *owned_bytes; /* bytes, when the schema owns them */
        size_t n_bytes;
        char fingerprint[65];
        MessageEx *messages;
        size_t n_messages;
        SchemaEnum *enums;
        size_t n_enums;
        Hashmap message_index;
        Hashmap enum_index;
        char **strings; /* owned names */
        size_t n_strings, cap_strings;
};

static const struct {
        const char *name;
        SchemaWellKnown wk;
} well_known_table[] = {
        { "google.protobuf.Any", SCHEMA_WK_ANY },
        { "google.protobuf.Duration", SCHEMA_WK_DURATION },
        { "google.protobuf.Timestamp", SCHEMA_WK_TIMESTAMP },
        { "google.protobuf.Struct", SCHEMA_WK_STRUCT },
        { "google.protobuf.Value", SCHEMA_WK_VALUE },
        { "google.protobuf.ListValue", SCHEMA_WK_LIST_VALUE },
        { "google.protobuf.FieldMask", SCHEMA_WK_FIELD_MASK },
        { "google.protobuf.Empty", SCHEMA_WK_EMPTY },
        { "google.protobuf.DoubleValue", SCHEMA_WK_DOUBLE_VALUE },
        { "google.protobuf.FloatValue", SCHEMA_WK_FLOAT_VALUE },
        { "google.protobuf.Int64Value", SCHEMA_WK_INT64_VALUE },
        { "google.protobuf.UInt64Value", SCHEMA_WK_UINT64_VALUE },
        { "google.protobuf.Int32Value", SCHEMA_WK_INT32_VALUE },
        { "google.protobuf.UInt32Value", SCHEMA_WK_UINT32_VALUE },
        { "google.protobuf.BoolValue", SCHEMA_WK_BOOL_VALUE },
        { "google.protobuf.StringValue", SCHEMA_WK_STRING_VALUE },
        { "google.protobuf.BytesValue", SCHEMA_WK_BYTES_VALUE },
};

static const char *const schema_type_table[_SCHEMA_TYPE_MAX] = {
        [SCHEMA_TYPE_DOUBLE] = "double",   [SCHEMA_TYPE_FLOAT] = "float",
        [SCHEMA_TYPE_INT64] = "int64",     [SCHEMA_TYPE_UINT64] = "uint64",
        [SCHEMA_TYPE_INT32] = "int32",     [SCHEMA_TYPE_FIXED64] = "fixed64",
        [SCHEMA_TYPE_FIXED32] = "fixed32", [SCHEMA_TYPE_BOOL] = "bool",
        [SCHEMA_TYPE_STRING] = "string",   [SCHEMA_TYPE_GROUP] = "group",
        [SCHEMA_TYPE_MESSAGE] = "message", [SCHEMA_TYPE_BYTES] = "bytes",
        [SCHEMA_TYPE_UINT32] = "uint32",   [SCHEMA_TYPE_ENUM] = "enum",
        [SCHEMA_TYPE_SFIXED32] = "sfixed32", [SCHEMA_TYPE_SFIXED64] = "sfixed64",
        [SCHEMA_TYPE_SINT32] = "sint32",   [SCHEMA_TYPE_SINT64] = "sint64",
};

const char *schema_type_to_string(SchemaType t) {
        return t > 0 && t < _SCHEMA_TYPE_MAX ? schema_type_table[t] : NULL;
}

int schema_type_wire_type(SchemaType t) {
        switch (t) {
        case SCHEMA_TYPE_DOUBLE:
        case SCHEMA_TYPE_FIXED64:
        case SCHEMA_TYPE_SFIXED64:
                return 1;
        case SCHEMA_TYPE_FLOAT:
        case SCHEMA_TYPE_FIXED32:
        case SCHEMA_TYPE_SFIXED32:
                return 5;
        case SCHEMA_TYPE_STRING:
        case SCHEMA_TYPE_BYTES:
        case SCHEMA_TYPE_MESSAGE:
                return 2;
        case SCHEMA_TYPE_GROUP:
                return 3;
        default:
                return 0;
        }
}

/* name's copy in s->names, sized beforehand by names_size(). */
static const char *own_name(Schema *s, const char *name) {
        size_t n = strlen(name) + 1;
        assert(s->names_len + n <= s->names_cap);
        char *p = memcpy(s->names + s->names_len, name, n);
        s->names_len += n;
        return p;
}

static size_t enum_names_size(const EnumDescriptorProto *e) {
        size_t n = 0;
        for (size_t i = 0; i < e->n_value; i++)
                n += strlen(e->value[i]->name) + 1;
        return n;
}

/* What own_name() will copy of d: each field's name and json_name (which
 * is never longer), oneof names, enum value names, nested messages'. */
static size_t message_names_size(const DescriptorProto *d) {
        size_t n = 0;
        for (size_t i = 0; i < d->n_field; i++)
                n += 2 * (strlen(d->field[i]->name) + 1) +
                     (d->field[i]->json_name ? strlen(d->field[i]->json_name) + 1 : 0);
        for (size_t i = 0; i < d->n_oneof_decl; i++)
                n += strlen(d->oneof_decl[i]->name) + 1;
        for (size_t i = 0; i < d->n_enum_type; i++)
                n += enum_names_size(d->enum_type[i]);
        for (size_t i = 0; i < d->n_nested_type; i++)
                n += message_names_size(d->nested_type[i]);
        return n;
}

static char *schema_own(Schema *s, char *str) {
        if (s->n_strings == s->cap_strings) {
                s->cap_strings = s->cap_strings ? s->cap_strings * 2 : 256;
                s->strings = xrealloc(s->strings, s->cap_strings * sizeof(char *));
        }
        s->strings[s->n_strings++] = str;
        return str;
}

static void count_types(const DescriptorProto *d, size_t *nm, size_t *ne) {
        (*nm)++;
        *ne += d->n_enum_type;
        for (size_t i = 0; i < d->n_nested_type; i++)
                count_types(d->nested_type[i], nm, ne);
}

static void add_enum(Schema *s, const char *scope, const EnumDescriptorProto *e, bool proto3) {
        SchemaEnum *se = &s->enums[s->n_enums++];
        se->full_name = schema_own(s, *scope ? xasprintf("%s.%s", scope, e->name) : xstrdup(e->name));
        SchemaEnumValue *v = xcalloc(e->n_value, sizeof(SchemaEnumValue));
        for (size_t i = 0; i < e->n_value; i++)
                v[i] = (SchemaEnumValue) { own_name(s, e->value[i]->name), e->value[i]->number };
        se->values = v;
        se->n_values = e->n_value;
        se->closed = !proto3;
        hashmap_put(&s->enum_index, se->full_name, strlen(se->full_name), se);
}

static void add_message(Schema *s, const char *scope, const DescriptorProto *d, bool proto3) {
        MessageEx *mx = &s->messages[s->n_messages++];
        const char *full = schema_own(s, *scope ? xasprintf("%s.%s", scope, d->name) : xstrdup(d->name));
        mx->m.full_name = full;
        mx->descriptor = d;
        mx->m.map_entry = d->options && d->options->has_map_entry && d->options->map_entry;
        mx->proto3 = proto3;
        hashmap_put(&s->message_index, full, strlen(full), mx);
        for (size_t i = 0; i < d->n_enum_type; i++)
                add_enum(s, full, d->enum_type[i], proto3);
        for (size_t i = 0; i < d->n_nested_type; i++)
                add_message(s, full, d->nested_type[i], proto3);
}

static int cmp_field_number(const void *a, const void *b) {
        const SchemaField *x = a, *y = b;
        return x->number < y->number ? -1 : x->number > y->number;
}

static char *json_name_of(const char *name) {
        char *r = xmalloc(strlen(name) + 1), *o = r;
        bool up = false;
        for (const char *p = name; *p; p++) {
                if (*p == '_') {
                        up = true;
                        continue;
                }
                *o++ = up && *p >= 'a' && *p <= 'z' ? (char) (*p - 'a' + 'A') : *p;
                up = false;
        }
        *o = 0;
        return r;
}

/* The payload of extension number (PGV's 1071 on every options message,
 * 1072 for MessageOptions' ignored) among an options message's unknown
 * fields. */
static bool pgv_option(const ProtobufCMessage *options, uint32_t number, const uint8_t **ret, size_t *ret_len,
                       uint64_t *ret_varint) {
        if (!options)
                return false;
        for (unsigned i = options->n_unknown_fields; i > 0; i--) {
                const ProtobufCMessageUnknownField *u = &options->unknown_fields[i - 1];
                if (u->tag != number)
                        continue;
                WireReader rd = { u->data, u->data + u->len };
                uint64_t v = 0;
                if (!wire_get_varint(&rd, &v))
                        return false;
                if (u->wire_type == PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED) {
                        if (v != (uint64_t) (rd.end - rd.p))
                                return false;
                        *ret = rd.p;
                        *ret_len = (size_t) v;
                } else if (ret_varint)
                        *ret_varint = v;
                return true;
        }
        return false;
}

static int resolve_message(Schema *s, MessageEx *mx, char **ret_error) {
        const DescriptorProto *d = mx->descriptor;
        SchemaField *f = xcalloc(d->n_field, sizeof(SchemaField));
        mx->m.fields = f;
        mx->m.n_fields = d->n_field;
        for (size_t i = 0; i < d->n_field; i++) {
                const FieldDescriptorProto *fd = d->field[i];
                SchemaField *sf = &f[i];
                sf->name = own_name(s, fd->name);
                if (fd->json_name)
                        sf->json_name = streq(fd->json_name, fd->name) ? sf->name : own_name(s, fd->json_name);
                else {
                        _cleanup_free_ char *j = json_name_of(fd->name);
                        sf->json_name = streq(j, fd->name) ? sf->name : own_name(s, j);
                }
                sf->number = (uint32_t) fd->number;
                sf->type = (SchemaType) fd->type;
                sf->repeated = fd->label == GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__LABEL__LABEL_REPEATED;
                sf->parent = &mx->m;
                bool proto3_optional = fd->has_proto3_optional && fd->proto3_optional;
                sf->oneof_index = fd->has_oneof_index && !proto3_optional ? fd->oneof_index : -1;
                int wt = schema_type_wire_type(sf->type);
                bool scalar_numeric = wt == 0 || wt == 1 || wt == 5;
                if (sf->repeated && scalar_numeric) {
                        if (fd->options && fd->options->has_packed)
                                sf->packed = fd->options->packed;
                        else
                                sf->packed = mx->proto3;
                }
                sf->explicit_presence = !sf->repeated &&
                        (sf->type == SCHEMA_TYPE_MESSAGE || sf->type == SCHEMA_TYPE_GROUP ||
                         sf->oneof_index >= 0 || proto3_optional || !mx->proto3);
                if (sf->type == SCHEMA_TYPE_MESSAGE || sf->type == SCHEMA_TYPE_GROUP) {
                        const char *tn = fd->type_name ? fd->type_name : "";
                        if (*tn == '.')
                                tn++;
                        MessageEx *t = hashmap_get(&s->message_index, tn, strlen(tn));
                        if (!t) {
                                *ret_error = xasprintf("%s.%s: unknown message type %s", mx->m.full_name, fd->name, tn);
                                return -EINVAL;
                        }
                        sf->message = &t->m;
                } else if (sf->type == SCHEMA_TYPE_ENUM) {
                        const char *tn = fd->type_name ? fd->type_name : "";
                        if (*tn == '.')
                                tn++;
                        sf->enumeration = hashmap_get(&s->enum_index, tn, strlen(tn));
                        if (!sf->enumeration) {
                                *ret_error = xasprintf("%s.%s: unknown enum type %s", mx->m.full_name, fd->name, tn);
                                return -EINVAL;
                        }
                } else if (!schema_type_to_string(sf->type)) {
                        *ret_error = xasprintf("%s.%s: unknown field type %d", mx->m.full_name, fd->name, (int) fd->type);
                        return -EINVAL;
                }
                const uint8_t *rules = NULL;
                size_t rules_len = 0;
                if (fd->options && pgv_option(&fd->options->base, 1071, &rules, &rules_len, NULL)) {
                        SchemaRules *r = NULL;
                        if (schema_rules_parse(rules, rules_len, &r) < 0) {
                                *ret_error = xasprintf("%s.%s: (validate.rules) do not decode", mx->m.full_name, fd->name);
                                return -EINVAL;
                        }
                        sf->rules = r;
                        mx->m.validated = true;
                }
        }
        qsort(f, d->n_field, sizeof(SchemaField), cmp_field_number);
        for (size_t i = 0; d->n_field > SMALL_MESSAGE && i < d->n_field; i++) {
                hashmap_put(&mx->by_name, f[i].name, strlen(f[i].name), &f[i]);
                if (!streq(f[i].json_name, f[i].name))
                        hashmap_put(&mx->by_name, f[i].json_name, strlen(f[i].json_name), &f[i]);
        }
        size_t n_real = 0;
        const char **names = xcalloc(d->n_oneof_decl, sizeof(char *));
        bool *required = NULL;
        for (size_t i = 0; i < d->n_oneof_decl; i++) {
                names[i] = own_name(s, d->oneof_decl[i]->name);
                uint64_t v = 0;
                const uint8_t *p;
                size_t n;
                if (d->oneof_decl[i]->options && pgv_option(&d->oneof_decl[i]->options->base, 1071, &p, &n, &v) && v) {
                        if (!required)
                                required = xcalloc(d->n_oneof_decl, sizeof(bool));
                        required[i] = true;
                        mx->m.validated = true;
                }
        }
        mx->m.oneof_required = required;
        /* disabled (1071) or ignored (1072): none of the message's rules apply */
        uint64_t disabled = 0, ignored = 0;
        const uint8_t *p;
        size_t n;
        mx->m.validate_disabled = d->options && ((pgv_option(&d->options->base, 1071, &p, &n, &disabled) && disabled) ||
                                                 (pgv_option(&d->options->base, 1072, &p, &n, &ignored) && ignored));
        for (size_t i = 0; i < d->n_field; i++)
                if (f[i].oneof_index >= 0 && (size_t) f[i].oneof_index + 1 > n_real)
                        n_real = (size_t) f[i].oneof_index + 1;
        mx->m.oneof_names = names;
        mx->m.n_oneofs = n_real;
        for (size_t i = 0; i < ELEMENTSOF(well_known_table); i++)
                if (streq(well_known_table[i].name, mx->m.full_name))
                        mx->m.well_known = well_known_table[i].wk;
        if (mx->m.map_entry && (d->n_field != 2 || f[0].number != 1 || f[1].number != 2)) {
                *ret_error = xasprintf("%s: malformed map entry", mx->m.full_name);
                return -EINVAL;
        }
        return 0;
}

/* Loads data, which must outlive the schema (see schema_load_bytes). */
static int load(const uint8_t *data, size_t len, char **ret_error, Schema **ret) {
        _cleanup_(schema_freep) Schema *s = xcalloc(1, sizeof(Schema));
        char *error = NULL;
        s->set = google__protobuf__file_descriptor_set__unpack(NULL, len, data);
        if (!s->set || s->set->n_file == 0) {
                if (ret_error)
                        *ret_error = xstrdup(s->set ? "an empty descriptor set (no file): a truncated or unfinished write?"
                                                    : "not a serialized google.protobuf.FileDescriptorSet");
                return -EBADMSG;
        }
        s->bytes = data;
        s->n_bytes = len;
        sha256_hex(data, len, s->fingerprint);

        size_t nm = 0, ne = 0;
        for (size_t i = 0; i < s->set->n_file; i++) {
                const FileDescriptorProto *fp = s->set->file[i];
                ne += fp->n_enum_type;
                for (size_t j = 0; j < fp->n_message_type; j++) {
                        count_types(fp->message_type[j], &nm, &ne);
                        s->names_cap += message_names_size(fp->message_type[j]);
                }
                for (size_t j = 0; j < fp->n_enum_type; j++)
                        s->names_cap += enum_names_size(fp->enum_type[j]);
        }
        s->names = xmalloc(s->names_cap ? s->names_cap : 1);
        s->messages = xcalloc(nm, sizeof(MessageEx));
        s->enums = xcalloc(ne, sizeof(SchemaEnum));
        for (size_t i = 0; i < s->set->n_file; i++) {
                const FileDescriptorProto *fp = s->set->file[i];
                bool proto3 = fp->syntax && streq(fp->syntax, "proto3");
                const char *pkg = fp->package ? fp->package : "";
                for (size_t j = 0; j < fp->n_enum_type; j++)
                        add_enum(s, pkg, fp->enum_type[j], proto3);
                for (size_t j = 0; j < fp->n_message_type; j++)
                        add_message(s, pkg, fp->message_type[j], proto3);
        }
        for (size_t i = 0; i < s->n_messages; i++) {
                int r = resolve_message(s, &s->messages[i], &error);
                if (r < 0) {
                        if (ret_error)
                                *ret_error = error;
                        else
                                free(error);
                        return r;
                }
        }
        s->provenance = provenance_of(s->set);
        google__protobuf__file_descriptor_set__free_unpacked(s->set, NULL);
        s->set = NULL;
        for (size_t i = 0; i < s->n_messages; i++)
                s->messages[i].descriptor = NULL;
        _cleanup_free_ char *release = schema_provenance(s, "envoy_release");
        if (!release || envoy_version_parse(release, &s->envoy_version) < 0) {
                int r = envoy_version_parse(FSXDS_DEFAULT_ENVOY_RELEASE, &s->envoy_version);
                assert(r >= 0);
        }
        *ret = TAKE_PTR(s);
        return 0;
}

int schema_load_bytes(const uint8_t *data, size_t len, char **ret_error, Schema **ret) {
        uint8_t *copy = xmalloc(len ? len : 1);
        memcpy(copy, data, len);
        int r = load(copy, len, ret_error, ret);
        if (r < 0) {
                free(copy);
                return r;
        }
        (*ret)->owned_bytes = copy;
        return 0;
}

#define SCHEMA_FILE_MAX (256u << 20)

int schema_load_file(const char *path, char **ret_error, Schema **ret) {
        _cleanup_free_ char *data = NULL;
        size_t len;
        int r = read_file_bounded(path, SCHEMA_FILE_MAX, &data, &len);
        if (r < 0) {
                char limit[FORMAT_BYTES_MAX];
                if (ret_error)
                        *ret_error = r == -EFBIG ? xasprintf("%s: larger than %s", path, format_bytes(SCHEMA_FILE_MAX, limit))
                                                 : xasprintf("%s: %s", path, strerror(-r));
                return r;
        }
        r = load((const uint8_t *) data, len, ret_error, ret);
        if (r < 0)
                return r;
        (*ret)->owned_bytes = (uint8_t *) TAKE_PTR(data);
        (*ret)->origin = xstrdup(path);
        return 0;
}

int schema_load_builtin(Schema **ret) {
        _cleanup_free_ char *error = NULL;
        int r = load(fsxds_builtin_schema, fsxds_builtin_schema_len, &error, ret);
        /* The built-in set is checked at build time; failing here is a bug. */
        assert(r >= 0);
        /* Indexed, the half megabyte of serialized descriptors is read again
         * only by schema_unpack_descriptor_set(): give its pages back (they
         * are the binary's, read-only, so they are simply read again from
         * the file if it ever is). */
        long page = sysconf(_SC_PAGESIZE);
        uintptr_t first = ((uintptr_t) fsxds_builtin_schema + (uintptr_t) page - 1) & ~((uintptr_t) page - 1);
        uintptr_t end = ((uintptr_t) fsxds_builtin_schema + fsxds_builtin_schema_len) & ~((uintptr_t) page - 1);
        if (page > 0 && end > first)
                (void) madvise((void *) first, end - first, MADV_DONTNEED);
        if (r >= 0)
                (*ret)->origin = xstrdup("built-in");
        return r;
}

Schema *schema_free(Schema *s) {
        if (!s)
                return NULL;
        for (size_t i = 0; i < s->n_messages; i++) {
                for (size_t k = 0; s->messages[i].m.fields && k < s->messages[i].m.n_fields; k++)
                        schema_rules_free((SchemaRules *) s->messages[i].m.fields[k].rules);
                free((void *) s->messages[i].m.oneof_required);
                free((void *) s->messages[i].m.fields);
                free((void *) s->messages[i].m.oneof_names);
                hashmap_free(&s->messages[i].by_name);
        }
        for (size_t i = 0; i < s->n_enums; i++)
                free((void *) s->enums[i].values);
        for (size_t i = 0; i < s->n_strings; i++)
                free(s->strings[i]);
        free(s->strings);
        free(s->messages);
        free(s->enums);
        hashmap_free(&s->message_index);
        hashmap_free(&s->enum_index);
        if (s->set)
                google__protobuf__file_descriptor_set__free_unpacked(s->set, NULL);
        free(s->owned_bytes);
        free(s->names);
        free(s->origin);
        free(s->provenance);
        free(s);
        return NULL;
}

/* The text schema_build appended (field SCHEMA_PROVENANCE_FIELD of the set,
 * an unknown field to protobuf-c), or NULL. */
static char *provenance_of(const FileDescriptorSet *set) {
        for (size_t i = 0; i < set->base.n_unknown_fields; i++) {
                const ProtobufCMessageUnknownField *u = &set->base.unknown_fields[i];
                if (u->tag != SCHEMA_PROVENANCE_FIELD || u->wire_type != PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED)
                        continue;
                WireReader r = { u->data, u->data + u->len }; /* the data holds the length too */
                uint64_t len;
                if (wire_get_varint(&r, &len) && len <= (uint64_t) (r.end - r.p))
                        return xstrndup((const char *) r.p, len);
        }
        return NULL;
}

char *schema_provenance(const Schema *s, const char *key) {
        size_t k = strlen(key);
        for (const char *line = s->provenance; line && *line;) {
                const char *end = strchrnul(line, '\n');
                if ((size_t) (end - line) > k + 1 && strneq_len(line, k, key) && line[k] == ':')
                        return xstrndup(line + k + 2, end - line - k - 2);
                line = *end ? end + 1 : end;
        }
        return NULL;
}

const char *schema_origin(const Schema *s) {
        return s->origin ? s->origin : "(bytes)";
}

void *schema_unpack_descriptor_set(const Schema *s) {
        return google__protobuf__file_descriptor_set__unpack(NULL, s->n_bytes, s->bytes);
}

uint32_t schema_envoy_version(const Schema *s) {
        return s->envoy_version;
}

void schema_set_envoy_version(Schema *s, uint32_t v) {
        s->envoy_version = v;
}

/* A decimal number of at most 3 digits at *p; advances *p. */
static bool version_part(const char **p, unsigned *ret) {
        unsigned v = 0, n = 0;
        while (**p >= '0' && **p <= '9' && n < 4) {
                v = v * 10 + (unsigned) (**p - '0');
                (*p)++;
                n++;
        }
        if (n == 0 || n > 3)
                return false;
        *ret = v;
        return true;
}

int envoy_version_parse(const char *text, uint32_t *ret) {
        const char *p = text;
        unsigned major, minor, patch = 0;
        if (!version_part(&p, &major) || major != 1 || *p++ != '.' || !version_part(&p, &minor))
                return -EINVAL;
        if (*p == '.' && (p++, !version_part(&p, &patch)))
                return -EINVAL;
        /* what `envoy --version` says of a development build, 1.32.0-dev:
         * the release it becomes */
        if (*p == '-' && p[1])
                p += strlen(p);
        if (*p)
                return -EINVAL;
        *ret = minor * 1000 + patch;
        return 0;
}

char *envoy_version_format(uint32_t v) {
        return xasprintf("1.%u.%u", v / 1000, v % 1000);
}

const SchemaMessage *schema_message(const Schema *s, const char *full_name) {
        if (*full_name == '.')
                full_name++;
        MessageEx *mx = hashmap_get(&s->message_index, full_name, strlen(full_name));
        return mx ? &mx->m : NULL;
}

const SchemaEnum *schema_enum(const Schema *s, const char *full_name) {
        if (*full_name == '.')
                full_name++;
        return hashmap_get(&s->enum_index, full_name, strlen(full_name));
}

const SchemaMessage *schema_message_by_type_url(const Schema *s, const char *url) {
        const char *slash = strrchr(url, '/');
        if (!slash || slash == url)
                return NULL;
        return schema_message(s, slash + 1);
}

const SchemaField *schema_field_by_name(const SchemaMessage *m, const char *name, size_t len) {
        if (m->n_fields > SMALL_MESSAGE)
                return hashmap_get(&((const MessageEx *) m)->by_name, name, len);
        for (size_t i = 0; i < m->n_fields; i++)
                if (strneq_len(name, len, m->fields[i].name) || strneq_len(name, len, m->fields[i].json_name))
                        return &m->fields[i];
        return NULL;
}

const SchemaField *schema_field_by_number(const SchemaMessage *m, uint32_t number) {
        size_t lo = 0, hi = m->n_fields;
        while (lo < hi) {
                size_t mid = (lo + hi) / 2;
                if (m->fields[mid].number == number)
                        return &m->fields[mid];
                if (m->fields[mid].number < number)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return NULL;
}

bool schema_enum_value_by_name(const SchemaEnum *e, const char *name, size_t len, int32_t *ret) {
        for (size_t i = 0; i < e->n_values; i++)
                if (strneq_len(name, len, e->values[i].name)) {
                        *ret = e->values[i].number;
                        return true;
                }
        return false;
}

const char *schema_enum_name(const SchemaEnum *e, int32_t number) {
        for (size_t i = 0; i < e->n_values; i++)
                if (e->values[i].number == number)
                        return e->values[i].name;
        return NULL;
}

size_t schema_n_messages(const Schema *s) {
        return s->n_messages;
}

const SchemaMessage *schema_message_at(const Schema *s, size_t i) {
        return i < s->n_messages ? &s->messages[i].m : NULL;
}

const char *schema_fingerprint(const Schema *s) {
        return s->fingerprint;
}
