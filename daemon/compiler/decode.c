/* SPDX-License-Identifier: MIT */
/* Protobuf wire → YAML/JSON against the schema, with protobuf's merge
 * rules (the last scalar and the last oneof member win, repeated
 * occurrences of a message merge), fields in number order, and the
 * well-known types in their JSON forms. Every byte range is bounds-checked
 * and nesting is limited, so any input yields text or an error. */
#include <assert.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>

#include "decode.h"
#include "wire.h"

#define DECODE_MAX_DEPTH 100u

/* Where the YAML output stands: at a line start, after "key:", after "- ". */
enum { POS_LINE, POS_KEY, POS_DASH };

typedef struct Decoder {
        const Schema *schema;
        DecodeFormat fmt;
        Buf *out;
        const uint8_t *base; /* the input, for offsets in errors */
        Buf path;            /* field path of what is being decoded */
        Buf scratch;         /* one formatted scalar */
        unsigned depth;      /* nested messages */
        unsigned level;      /* open containers in the output */
        int pos;
        char *error;
} Decoder;

/* A wire field with its schema field; also a byte range to decode as a
 * message (only w.data, w.len and w.start set). */
typedef struct Entry {
        const SchemaField *field;
        WireField w;
} Entry;

/* The default (absent) value: zero, "" or an empty message. */
static const Entry empty_entry = { .w = { .data = (const uint8_t *) "" } };

_printf_(3, 4) static int fail(Decoder *d, const uint8_t *at, const char *fmt, ...) {
        va_list ap;
        char *msg;
        va_start(ap, fmt);
        if (vasprintf(&msg, fmt, ap) < 0)
                abort();
        va_end(ap);
        Buf e = {};
        if (at)
                buf_printf(&e, "byte %zu", (size_t) (at - d->base));
        if (d->path.len > 0)
                buf_printf(&e, "%sin %.*s", at ? " " : "", (int) d->path.len, (const char *) d->path.data);
        buf_printf(&e, "%s%s", e.len > 0 ? ": " : "", msg);
        free(msg);
        assert(!d->error);
        d->error = buf_steal_str(&e);
        return -EBADMSG;
}

static size_t path_push_field(Decoder *d, const char *name) {
        size_t saved = d->path.len;
        if (saved > 0)
                buf_putc(&d->path, '.');
        buf_append(&d->path, name, strlen(name));
        return saved;
}

/* ---- text output ---- */

/* Length of the UTF-8 sequence at p (valid, shortest form, no surrogates)
 * with its code point, or 0. */
static size_t utf8_decode(const uint8_t *p, size_t n, uint32_t *ret) {
        static const uint32_t min[] = { 0, 0, 0x80, 0x800, 0x10000 };
        uint32_t c = p[0];
        size_t len = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : (c & 0xf8) == 0xf0 ? 4 : 0;
        if (len == 0 || len > n)
                return 0;
        if (len > 1) {
                c &= 0x7fu >> len;
                for (size_t i = 1; i < len; i++) {
                        if ((p[i] & 0xc0) != 0x80)
                                return 0;
                        c = (c << 6) | (p[i] & 0x3f);
                }
                if (c < min[len] || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
                        return 0;
        }
        *ret = c;
        return len;
}

static bool utf8_valid(const uint8_t *p, size_t n) {
        uint32_t c;
        for (size_t i = 0, l; i < n; i += l)
                if ((l = utf8_decode(p + i, n - i, &c)) == 0)
                        return false;
        return true;
}

/* A double-quoted string valid as JSON and as YAML: JSON escapes, plus
 * \u escapes for what YAML readers reject or fold (DEL, C1 controls, line
 * and paragraph separators, BOM, noncharacters). s is valid UTF-8. */
static void put_quoted(Buf *out, const uint8_t *s, size_t n) {
        buf_putc(out, '"');
        for (size_t i = 0, l; i < n; i += l) {
                uint32_t c = 0;
                l = utf8_decode(s + i, n - i, &c);
                assert(l > 0);
                const char *esc = c == '"' ? "\\\"" : c == '\\' ? "\\\\" : c == '\n' ? "\\n" : c == '\t' ? "\\t" :
                        c == '\r' ? "\\r" : c == '\b' ? "\\b" : c == '\f' ? "\\f" : NULL;
                if (esc)
                        buf_append(out, esc, 2);
                else if (c < 0x20 || (c >= 0x7f && c <= 0x9f) || c == 0x2028 || c == 0x2029 || c == 0xfeff ||
                         c == 0xfffe || c == 0xffff)
                        buf_printf(out, "\\u%04" PRIx32, c);
                else
                        buf_append(out, s + i, l);
        }
        buf_putc(out, '"');
}

static void put_indent(Decoder *d, unsigned level) {
        for (unsigned i = 0; i < level; i++)
                buf_append(d->out, "  ", 2);
}

/* An open mapping or list in the output. */
typedef struct Container {
        bool seq;
        int pos; /* YAML position where it opened */
        size_t n; /* children so far */
} Container;

static void emit_begin(Decoder *d, Container *c, bool seq) {
        *c = (Container) { .seq = seq, .pos = d->pos };
        d->level++;
        if (d->fmt == DECODE_FORMAT_JSON)
                buf_putc(d->out, seq ? '[' : '{');
}

static void emit_end(Decoder *d, Container *c) {
        d->level--;
        if (d->fmt == DECODE_FORMAT_JSON) {
                if (c->n > 0) {
                        buf_putc(d->out, '\n');
                        put_indent(d, d->level);
                }
                buf_putc(d->out, c->seq ? ']' : '}');
        } else if (c->n == 0) {
                /* YAML block collections cannot be empty: flow style */
                if (c->pos == POS_KEY)
                        buf_putc(d->out, ' ');
                buf_append(d->out, c->seq ? "[]\n" : "{}\n", 3);
                d->pos = POS_LINE;
        }
}

static void next_child(Decoder *d, Container *c) {
        if (d->fmt == DECODE_FORMAT_JSON) {
                if (c->n > 0)
                        buf_putc(d->out, ',');
                buf_putc(d->out, '\n');
                put_indent(d, d->level);
        } else {
                if (c->n == 0 && c->pos == POS_KEY)
                        buf_putc(d->out, '\n');
                /* the first child of a list item goes on the "- " line */
                if (c->n > 0 || c->pos != POS_DASH)
                        put_indent(d, d->level - 1);
        }
        c->n++;
}

static void emit_key(Decoder *d, Container *c, const void *name, size_t n, bool quote) {
        next_child(d, c);
        if (quote || d->fmt == DECODE_FORMAT_JSON)
                put_quoted(d->out, name, n);
        else
                buf_append(d->out, name, n);
        buf_append(d->out, ": ", d->fmt == DECODE_FORMAT_JSON ? 2 : 1);
        d->pos = POS_KEY;
}

static void emit_dash(Decoder *d, Container *c) {
        next_child(d, c);
        if (d->fmt == DECODE_FORMAT_YAML) {
                buf_append(d->out, "- ", 2);
                d->pos = POS_DASH;
        }
}

static void emit_token(Decoder *d, const void *s, size_t n, bool quote) {
        if (d->fmt == DECODE_FORMAT_YAML && d->pos == POS_KEY)
                buf_putc(d->out, ' ');
        if (quote)
                put_quoted(d->out, s, n);
        else
                buf_append(d->out, s, n);
        if (d->fmt == DECODE_FORMAT_YAML) {
                buf_putc(d->out, '\n');
                d->pos = POS_LINE;
        }
}

static void emit_scratch(Decoder *d, bool quote) {
        emit_token(d, d->scratch.data, d->scratch.len, quote);
}

/* ---- scalars ---- */

static void put_base64(Buf *t, const uint8_t *s, size_t n) {
        static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        for (size_t i = 0; i < n; i += 3) {
                uint32_t v = (uint32_t) s[i] << 16 | (i + 1 < n ? (uint32_t) s[i + 1] << 8 : 0) | (i + 2 < n ? s[i + 2] : 0);
                char q[4] = { alphabet[v >> 18], alphabet[(v >> 12) & 63], i + 1 < n ? alphabet[(v >> 6) & 63] : '=',
                              i + 2 < n ? alphabet[v & 63] : '=' };
                buf_append(t, q, 4);
        }
}

/* The shorter of DIG and round-trip precision that reads back the same,
 * as protobuf's SimpleDtoa/SimpleFtoa. Returns true when the text is a
 * string to quote (NaN, infinities). */
static bool put_double(Buf *t, double v, bool is_float, bool in_value) {
        if (!isfinite(v)) {
                const char *s = isnan(v) ? "NaN" : v < 0 ? "-Infinity" : "Infinity";
                buf_append(t, s, strlen(s));
                return true;
        }
        char s[32]; /* "%.17g" of a double is at most 24 characters */
        snprintf(s, sizeof s, "%.*g", is_float ? FLT_DIG : DBL_DIG, v);
        if (is_float ? strtof(s, NULL) != (float) v : strtod(s, NULL) != v)
                snprintf(s, sizeof s, "%.*g", is_float ? 9 : 17, v);
        buf_append(t, s, strlen(s));
        /* integers the loader would read back differently: an integer has
         * no negative zero, and in a Value one beyond int32 is a string
         * (Envoy's YAML rule) */
        if (!strpbrk(s, ".e") && ((v == 0 && signbit(v)) || (in_value && fabs(v) > INT32_MAX)))
                buf_append(t, ".0", 2);
        return false;
}

static bool get_fixed(WireReader *r, size_t n, uint64_t *ret) {
        if ((size_t) (r->end - r->p) < n)
                return false;
        uint64_t v = 0;
        for (size_t i = n; i > 0; i--)
                v = (v << 8) | r->p[i - 1];
        r->p += n;
        *ret = v;
        return true;
}

/* Formats the value w of scalar field f into d->scratch. Returns 1 when it
 * is a string to quote, 0 for a bare token, -EBADMSG on invalid data. */
static int format_scalar(Decoder *d, const SchemaField *f, const WireField *w) {
        Buf *t = &d->scratch;
        uint64_t v = w->value;
        t->len = 0;
        switch (f->type) {
        case SCHEMA_TYPE_INT32:
        case SCHEMA_TYPE_SFIXED32:
                buf_printf(t, "%" PRId32, (int32_t) (uint32_t) v);
                return 0;
        case SCHEMA_TYPE_SINT32:
                buf_printf(t, "%" PRId32, (int32_t) (((uint32_t) v >> 1) ^ (0u - ((uint32_t) v & 1))));
                return 0;
        case SCHEMA_TYPE_UINT32:
        case SCHEMA_TYPE_FIXED32:
                buf_printf(t, "%" PRIu32, (uint32_t) v);
                return 0;
        /* 64-bit integers are strings in proto3 JSON */
        case SCHEMA_TYPE_INT64:
        case SCHEMA_TYPE_SFIXED64:
                buf_printf(t, "%" PRId64, (int64_t) v);
                return 1;
        case SCHEMA_TYPE_SINT64:
                buf_printf(t, "%" PRId64, (int64_t) ((v >> 1) ^ (0u - (v & 1))));
                return 1;
        case SCHEMA_TYPE_UINT64:
        case SCHEMA_TYPE_FIXED64:
                buf_printf(t, "%" PRIu64, v);
                return 1;
        case SCHEMA_TYPE_BOOL:
                buf_printf(t, "%s", v ? "true" : "false");
                return 0;
        case SCHEMA_TYPE_ENUM: {
                const char *name = schema_enum_name(f->enumeration, (int32_t) (uint32_t) v);
                if (name) {
                        buf_append(t, name, strlen(name));
                        return 1;
                }
                buf_printf(t, "%" PRId32, (int32_t) (uint32_t) v);
                return 0;
        }
        case SCHEMA_TYPE_FLOAT: {
                uint32_t bits = (uint32_t) v;
                float x;
                memcpy(&x, &bits, sizeof x);
                return put_double(t, x, true, false);
        }
        case SCHEMA_TYPE_DOUBLE: {
                double x;
                memcpy(&x, &v, sizeof x);
                return put_double(t, x, false, false);
        }
        case SCHEMA_TYPE_STRING:
                if (!utf8_valid(w->data, w->len))
                        return fail(d, w->start, "invalid UTF-8 in string field %s", f->name);
                buf_append(t, w->data, w->len);
                return 1;
        case SCHEMA_TYPE_BYTES:
                put_base64(t, w->data, w->len);
                return 1;
        default:
                return fail(d, w->start, "field %s: type %s is not supported", f->name, schema_type_to_string(f->type));
        }
}

static int emit_scalar(Decoder *d, const SchemaField *f, const WireField *w) {
        int r = format_scalar(d, f, w);
        if (r < 0)
                return r;
        emit_scratch(d, r);
        return 0;
}

/* ---- messages ---- */

static const char *wire_type_name(int wt) {
        static const char *const names[] = { "varint", "fixed64", "length-delimited", "group start", "group end", "fixed32" };
        return wt >= 0 && (size_t) wt < ELEMENTSOF(names) ? names[wt] : "invalid";
}

/* Says what is wrong with the field at p that wire_next() refused. */
static int fail_malformed(Decoder *d, const uint8_t *p, const uint8_t *end) {
        WireReader r = { p, end };
        uint64_t tag, len;
        if (!wire_get_varint(&r, &tag))
                return fail(d, p, "truncated or overlong field tag");
        uint64_t number = tag >> 3;
        int wt = (int) (tag & 7);
        if (number == 0 || number > 0x1fffffff)
                return fail(d, p, "invalid field number %" PRIu64, number);
        switch (wt) {
        case WIRE_VARINT:
                return fail(d, p, "field %" PRIu64 ": truncated varint", number);
        case WIRE_I64:
        case WIRE_I32:
                return fail(d, p, "field %" PRIu64 ": truncated %s value", number, wire_type_name(wt));
        case WIRE_LEN:
                if (!wire_get_varint(&r, &len))
                        return fail(d, p, "field %" PRIu64 ": truncated length", number);
                return fail(d, p, "field %" PRIu64 ": length %" PRIu64 " goes past the end (%zu bytes left)", number,
                            len, (size_t) (end - r.p));
        default:
                return fail(d, p, "field %" PRIu64 ": unsupported wire type %d (%s)", number, wt, wire_type_name(wt));
        }
}

static int cmp_entry(const void *a, const void *b) {
        const Entry *x = a, *y = b;
        if (x->w.number != y->w.number)
                return x->w.number < y->w.number ? -1 : 1;
        /* all ranges lie in the one input in wire order: keeps it stable */
        return x->w.start < y->w.start ? -1 : x->w.start > y->w.start;
}

/* Enters a message of type m made of the byte ranges parts (more than one
 * when occurrences merge): its fields, checked against the schema, sorted
 * by number in wire order, the losing members of each oneof dropped. */
static int enter(Decoder *d, const SchemaMessage *m, const Entry *parts, size_t n_parts, Entry **ret,
                 size_t *ret_n) {
        if (d->depth >= DECODE_MAX_DEPTH)
                return fail(d, parts[0].w.start, "messages nested deeper than %u", DECODE_MAX_DEPTH);
        d->depth++;
        _cleanup_free_ Entry *fs = NULL;
        size_t n = 0, cap = 0;
        for (size_t i = 0; i < n_parts; i++) {
                WireReader r = { parts[i].w.data, parts[i].w.data + parts[i].w.len };
                WireField w;
                while (wire_next(&r, &w)) {
                        const SchemaField *f = schema_field_by_number(m, w.number);
                        if (!f)
                                return fail(d, w.start, "unknown field number %" PRIu32 " in %s", w.number, m->full_name);
                        int want = schema_type_wire_type(f->type);
                        /* repeated numbers may come packed or not */
                        if (w.wire_type != want && !(f->repeated && w.wire_type == WIRE_LEN && want != WIRE_LEN))
                                return fail(d, w.start, "field %s (%" PRIu32 ") of %s: wire type %s, expected %s",
                                            f->name, w.number, m->full_name, wire_type_name(w.wire_type), wire_type_name(want));
                        if (n == cap)
                                fs = xrealloc(fs, (cap = MAX(cap * 2, 8u)) * sizeof(Entry));
                        fs[n++] = (Entry) { f, w };
                }
                if (r.p != r.end)
                        return fail_malformed(d, r.p, r.end);
        }
        if (n > 1)
                qsort(fs, n, sizeof(Entry), cmp_entry);
        if (n > 1 && m->n_oneofs > 0) {
                _cleanup_free_ Entry *last = xcalloc(m->n_oneofs, sizeof(Entry));
                for (size_t i = 0; i < n; i++) {
                        int k = fs[i].field->oneof_index;
                        if (k >= 0 && (!last[k].field || fs[i].w.start > last[k].w.start))
                                last[k] = fs[i];
                }
                size_t j = 0;
                for (size_t i = 0; i < n; i++) {
                        int k = fs[i].field->oneof_index;
                        if (k < 0 || fs[i].field == last[k].field)
                                fs[j++] = fs[i];
                }
                n = j;
        }
        *ret = TAKE_PTR(fs);
        *ret_n = n;
        return 0;
}

/* Sorted fields of a message whose fields are numbers 1 and 2 only:
 * how many are number 1. */
static size_t count_first(const Entry *fs, size_t n) {
        size_t k = 0;
        while (k < n && fs[k].w.number == 1)
                k++;
        return k;
}

static int decode_value(Decoder *d, const SchemaMessage *m, const Entry *parts, size_t n_parts);
static int emit_field(Decoder *d, const SchemaField *f, const Entry *g, size_t n);

static int emit_fields(Decoder *d, const Entry *fs, size_t n, Container *c) {
        for (size_t i = 0, j; i < n; i = j) {
                for (j = i + 1; j < n && fs[j].field == fs[i].field; j++)
                        ;
                const SchemaField *f = fs[i].field;
                size_t saved = path_push_field(d, f->name);
                emit_key(d, c, f->name, strlen(f->name), false);
                int r = emit_field(d, f, fs + i, j - i);
                d->path.len = saved;
                if (r < 0)
                        return r;
        }
        return 0;
}

static int emit_item(Decoder *d, Container *c, const SchemaField *f, const Entry *e) {
        size_t saved = d->path.len;
        buf_printf(&d->path, "[%zu]", c->n);
        emit_dash(d, c);
        int r = f->type == SCHEMA_TYPE_MESSAGE ? decode_value(d, f->message, e, 1) : emit_scalar(d, f, &e->w);
        d->path.len = saved;
        return r;
}

typedef struct MapItem {
        Entry *fs; /* the entry's fields: n, of which nk keys */
        size_t n, nk;
        size_t key_offset, key_len; /* the key's text, in a shared buffer */
        const uint8_t *key;
        bool replaced; /* a later entry has the same key */
} MapItem;

static int cmp_key(const MapItem *x, const MapItem *y) {
        size_t n = MIN(x->key_len, y->key_len);
        int c = n > 0 ? memcmp(x->key, y->key, n) : 0;
        return c != 0 ? c : x->key_len < y->key_len ? -1 : x->key_len > y->key_len;
}

static int cmp_map_item(const void *a, const void *b) {
        const MapItem *x = *(const MapItem *const *) a, *y = *(const MapItem *const *) b;
        int c = cmp_key(x, y);
        return c != 0 ? c : x < y ? -1 : x > y; /* items are in wire order */
}

/* A map in wire order; of entries with the same key only the last counts,
 * as when protobuf parses them. */
static int emit_map(Decoder *d, const SchemaField *f, const Entry *g, size_t n) {
        const SchemaField *kf = &f->message->fields[0], *vf = &f->message->fields[1];
        MapItem *items = xcalloc(n, sizeof(MapItem));
        _cleanup_free_ MapItem **order = xcalloc(n, sizeof(MapItem *));
        Buf keys = {};
        int r = 0;
        for (size_t i = 0; i < n && r >= 0; i++) {
                MapItem *it = &items[i];
                r = enter(d, f->message, &g[i], 1, &it->fs, &it->n);
                if (r < 0)
                        break;
                d->depth--;
                it->nk = count_first(it->fs, it->n);
                r = format_scalar(d, kf, it->nk > 0 ? &it->fs[it->nk - 1].w : &empty_entry.w);
                it->key_offset = keys.len;
                it->key_len = d->scratch.len;
                buf_append(&keys, d->scratch.data, d->scratch.len);
        }
        if (r >= 0) {
                for (size_t i = 0; i < n; i++) {
                        items[i].key = keys.len > 0 ? keys.data + items[i].key_offset : empty_entry.w.data;
                        order[i] = &items[i];
                }
                if (n > 1)
                        qsort(order, n, sizeof(MapItem *), cmp_map_item);
                for (size_t i = 0; i + 1 < n; i++)
                        order[i]->replaced = cmp_key(order[i], order[i + 1]) == 0;
                Container c;
                emit_begin(d, &c, false);
                for (size_t i = 0; i < n && r >= 0; i++) {
                        const MapItem *it = &items[i];
                        if (it->replaced)
                                continue;
                        size_t saved = d->path.len;
                        buf_printf(&d->path, "[\"%.*s\"]", (int) it->key_len, (const char *) it->key);
                        /* JSON object keys are strings, whatever the key type */
                        emit_key(d, &c, it->key, it->key_len, true);
                        r = emit_field(d, vf, it->n > it->nk ? it->fs + it->nk : NULL, it->n - it->nk);
                        d->path.len = saved;
                }
                if (r >= 0)
                        emit_end(d, &c);
        }
        for (size_t i = 0; i < n; i++)
                free(items[i].fs);
        free(items);
        buf_free(&keys);
        return r;
}

/* The value of field f from its n occurrences g (n = 0: the default). */
static int emit_field(Decoder *d, const SchemaField *f, const Entry *g, size_t n) {
        if (f->type == SCHEMA_TYPE_MESSAGE && f->message->map_entry)
                return emit_map(d, f, g, n);
        if (!f->repeated) {
                if (n == 0) {
                        g = &empty_entry;
                        n = 1;
                }
                return f->type == SCHEMA_TYPE_MESSAGE ? decode_value(d, f->message, g, n) : emit_scalar(d, f, &g[n - 1].w);
        }
        int wt = schema_type_wire_type(f->type);
        Container c;
        emit_begin(d, &c, true);
        for (size_t i = 0; i < n; i++) {
                int r;
                if (wt == WIRE_LEN || g[i].w.wire_type != WIRE_LEN) {
                        r = emit_item(d, &c, f, &g[i]);
                        if (r < 0)
                                return r;
                        continue;
                }
                WireReader rd = { g[i].w.data, g[i].w.data + g[i].w.len };
                while (rd.p < rd.end) {
                        Entry e = { f, { .number = f->number, .wire_type = wt, .start = rd.p } };
                        if (!(wt == WIRE_VARINT ? wire_get_varint(&rd, &e.w.value) :
                                                  get_fixed(&rd, wt == WIRE_I64 ? 8 : 4, &e.w.value)))
                                return fail(d, e.w.start, "truncated %s element in packed field %s", wire_type_name(wt), f->name);
                        r = emit_item(d, &c, f, &e);
                        if (r < 0)
                                return r;
                }
        }
        emit_end(d, &c);
        return 0;
}

/* ---- well-known types ---- */

static void put_nanos(Buf *t, int32_t nanos) {
        /* 0, 3, 6 or 9 digits, as protobuf prints them */
        if (nanos == 0)
                return;
        if (nanos % 1000000 == 0)
                buf_printf(t, ".%03" PRId32, nanos / 1000000);
        else if (nanos % 1000 == 0)
                buf_printf(t, ".%06" PRId32, nanos / 1000);
        else
                buf_printf(t, ".%09" PRId32, nanos);
}

static int emit_time(Decoder *d, const SchemaMessage *m, const Entry *fs, size_t n, const uint8_t *at) {
        size_t k = count_first(fs, n);
        int64_t secs = k > 0 ? (int64_t) fs[k - 1].w.value : 0;
        int32_t nanos = n > k ? (int32_t) (uint32_t) fs[n - 1].w.value : 0;
        Buf *t = &d->scratch;
        t->len = 0;
        if (m->well_known == SCHEMA_WK_DURATION) {
                if (secs < -315576000000 || secs > 315576000000 || nanos < -999999999 || nanos > 999999999 ||
                    (secs > 0 && nanos < 0) || (secs < 0 && nanos > 0))
                        return fail(d, at, "invalid %s (seconds %" PRId64 ", nanos %" PRId32 ")", m->full_name, secs, nanos);
                buf_printf(t, "%s%" PRIu64, secs < 0 || nanos < 0 ? "-" : "", secs < 0 ? -(uint64_t) secs : (uint64_t) secs);
                put_nanos(t, nanos < 0 ? -nanos : nanos);
                buf_putc(t, 's');
        } else {
                /* 0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z */
                if (secs < -62135596800 || secs > 253402300799 || nanos < 0 || nanos > 999999999)
                        return fail(d, at, "invalid %s (seconds %" PRId64 ", nanos %" PRId32 ")", m->full_name, secs, nanos);
                int64_t days = secs / 86400, rem = secs % 86400;
                if (rem < 0) {
                        rem += 86400;
                        days--;
                }
                /* civil_from_days() from Howard Hinnant's date algorithms */
                days += 719468;
                int64_t era = (days >= 0 ? days : days - 146096) / 146097;
                unsigned doe = (unsigned) (days - era * 146097);
                unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
                unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
                unsigned mp = (5 * doy + 2) / 153;
                unsigned day = doy - (153 * mp + 2) / 5 + 1, month = mp < 10 ? mp + 3 : mp - 9;
                int64_t year = (int64_t) yoe + era * 400 + (month <= 2);
                buf_printf(t, "%04" PRId64 "-%02u-%02uT%02u:%02u:%02u", year, month, day, (unsigned) (rem / 3600),
                           (unsigned) (rem / 60 % 60), (unsigned) (rem % 60));
                put_nanos(t, nanos);
                buf_putc(t, 'Z');
        }
        emit_scratch(d, true);
        return 0;
}

/* "a.b,fooBar": paths joined by commas, each snake_case → lowerCamelCase;
 * a path that would not come back the same has no JSON form. */
static int emit_field_mask(Decoder *d, const Entry *fs, size_t n) {
        Buf *t = &d->scratch;
        t->len = 0;
        for (size_t i = 0; i < n; i++) {
                const uint8_t *p = fs[i].w.data;
                size_t len = fs[i].w.len;
                if (i > 0)
                        buf_putc(t, ',');
                for (size_t j = 0; j < len; j++) {
                        if (p[j] == '_' && j + 1 < len && p[j + 1] >= 'a' && p[j + 1] <= 'z')
                                buf_putc(t, (uint8_t) (p[++j] - 'a' + 'A'));
                        else if (p[j] == '_' || p[j] == ',' || (p[j] >= 'A' && p[j] <= 'Z') || p[j] < 0x20 || p[j] >= 0x7f)
                                return fail(d, fs[i].w.start, "field mask path \"%.*s\" has no JSON form", (int) len,
                                            (const char *) p);
                        else
                                buf_putc(t, p[j]);
                }
        }
        emit_scratch(d, true);
        return 0;
}

static int emit_value(Decoder *d, const Entry *fs, size_t n) {
        /* the oneof "kind" is down to one member: the last on the wire */
        const SchemaField *f = n > 0 ? fs[n - 1].field : NULL;
        if (!f || f->number == 1) {
                emit_token(d, "null", 4, false);
                return 0;
        }
        if (f->number != 2)
                return emit_field(d, f, fs, n);
        double v;
        memcpy(&v, &fs[n - 1].w.value, sizeof v);
        if (!isfinite(v))
                return fail(d, fs[n - 1].w.start, "google.protobuf.Value number %g has no JSON form", v);
        d->scratch.len = 0;
        put_double(&d->scratch, v, false, true);
        emit_scratch(d, false);
        return 0;
}

static bool has_special_form(const SchemaMessage *m) {
        return m->well_known != SCHEMA_WK_NONE && m->well_known != SCHEMA_WK_EMPTY;
}

static int emit_any(Decoder *d, const Entry *fs, size_t n) {
        size_t k = count_first(fs, n);
        const Entry *type = k > 0 ? &fs[k - 1] : NULL, *value = n > k ? &fs[n - 1] : NULL;
        Container c;
        emit_begin(d, &c, false);
        if (!type) {
                if (value)
                        return fail(d, value->w.start, "google.protobuf.Any with a value but no type URL");
                emit_end(d, &c);
                return 0;
        }
        _cleanup_free_ char *url = xstrndup((const char *) type->w.data, type->w.len);
        const SchemaMessage *inner = strlen(url) == type->w.len ? schema_message_by_type_url(d->schema, url) : NULL;
        if (!inner)
                return fail(d, type->w.start, "google.protobuf.Any: unknown type URL \"%s\" (not in the schema)", url);
        int r = format_scalar(d, type->field, &type->w);
        if (r < 0)
                return r;
        emit_key(d, &c, "@type", 5, true);
        emit_scratch(d, true);
        Entry part = value ? *value : empty_entry;
        if (has_special_form(inner)) {
                size_t saved = path_push_field(d, "value");
                emit_key(d, &c, "value", 5, false);
                r = decode_value(d, inner, &part, 1);
                d->path.len = saved;
        } else {
                _cleanup_free_ Entry *ifs = NULL;
                size_t in;
                r = enter(d, inner, &part, 1, &ifs, &in);
                if (r >= 0)
                        r = emit_fields(d, ifs, in, &c);
                d->depth--;
        }
        if (r < 0)
                return r;
        emit_end(d, &c);
        return 0;
}

/* One value of message type m from its occurrences parts (merged). */
static int decode_value(Decoder *d, const SchemaMessage *m, const Entry *parts, size_t n_parts) {
        _cleanup_free_ Entry *fs = NULL;
        size_t n = 0;
        int r = enter(d, m, parts, n_parts, &fs, &n);
        if (r < 0)
                return r;
        switch (m->well_known) {
        case SCHEMA_WK_NONE:
        case SCHEMA_WK_EMPTY: {
                Container c;
                emit_begin(d, &c, false);
                r = emit_fields(d, fs, n, &c);
                if (r >= 0)
                        emit_end(d, &c);
                break;
        }
        case SCHEMA_WK_ANY:
                r = emit_any(d, fs, n);
                break;
        case SCHEMA_WK_DURATION:
        case SCHEMA_WK_TIMESTAMP:
                r = emit_time(d, m, fs, n, parts[0].w.start);
                break;
        case SCHEMA_WK_FIELD_MASK:
                r = emit_field_mask(d, fs, n);
                break;
        case SCHEMA_WK_VALUE:
                r = emit_value(d, fs, n);
                break;
        default:
                /* Struct, ListValue and the wrappers: the JSON of their one field */
                r = emit_field(d, &m->fields[0], fs, n);
        }
        d->depth--;
        return r;
}

int decode_message(const Schema *schema, const SchemaMessage *m, const uint8_t *data, size_t len,
                   DecodeFormat fmt, Buf *out, char **ret_error) {
        assert(schema && m && out && ret_error);
        assert(fmt >= 0 && fmt < _DECODE_FORMAT_MAX);
        Decoder d = { .schema = schema, .fmt = fmt, .out = out, .base = data };
        Entry part = { .w = { .data = data ? data : empty_entry.w.data, .len = len, .start = data } };
        size_t saved = out->len;
        int r = decode_value(&d, m, &part, 1);
        if (r >= 0 && fmt == DECODE_FORMAT_JSON)
                buf_putc(out, '\n');
        buf_free(&d.path);
        buf_free(&d.scratch);
        if (r < 0) {
                out->len = saved;
                *ret_error = d.error;
                return r;
        }
        return 0;
}
