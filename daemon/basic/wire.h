/* SPDX-License-Identifier: MIT */
/* Protobuf wire format primitives: writing into a Buf, reading from a
 * bounded byte range. */
#pragma once

#include "util.h"

enum {
        WIRE_VARINT = 0,
        WIRE_I64 = 1,
        WIRE_LEN = 2,
        WIRE_SGROUP = 3,
        WIRE_EGROUP = 4,
        WIRE_I32 = 5,
};

static inline size_t wire_varint_size(uint64_t v) {
        size_t n = 1;
        while (v >= 0x80) {
                v >>= 7;
                n++;
        }
        return n;
}

static inline void wire_put_varint(Buf *b, uint64_t v) {
        buf_reserve(b, 10);
        uint8_t *p = b->data + b->len;
        while (v >= 0x80) {
                *p++ = (uint8_t) (v | 0x80);
                v >>= 7;
        }
        *p++ = (uint8_t) v;
        b->len = (size_t) (p - b->data);
}

static inline void wire_put_tag(Buf *b, uint32_t number, int wire_type) {
        wire_put_varint(b, ((uint64_t) number << 3) | (uint64_t) wire_type);
}

static inline void wire_put_fixed32(Buf *b, uint32_t v) {
        uint8_t x[4] = { (uint8_t) v, (uint8_t) (v >> 8), (uint8_t) (v >> 16), (uint8_t) (v >> 24) };
        buf_append(b, x, 4);
}

static inline void wire_put_fixed64(Buf *b, uint64_t v) {
        wire_put_fixed32(b, (uint32_t) v);
        wire_put_fixed32(b, (uint32_t) (v >> 32));
}

static inline void wire_put_bytes(Buf *b, uint32_t number, const void *p, size_t n) {
        wire_put_tag(b, number, WIRE_LEN);
        wire_put_varint(b, n);
        buf_append(b, p, n);
}

/* Length-delimited field whose length is known only afterwards:
 * mark = wire_begin_len(b, number); ...write body...; wire_end_len(b, mark); */
static inline size_t wire_begin_len(Buf *b, uint32_t number) {
        wire_put_tag(b, number, WIRE_LEN);
        buf_putc(b, 0); /* one byte reserved for the length */
        return b->len;
}

static inline void wire_end_len(Buf *b, size_t mark) {
        size_t body = b->len - mark;
        size_t n = wire_varint_size(body);
        if (n > 1) {
                buf_reserve(b, n - 1);
                memmove(b->data + mark + n - 1, b->data + mark, body);
                b->len += n - 1;
        }
        uint8_t *p = b->data + mark - 1;
        uint64_t v = body;
        while (v >= 0x80) {
                *p++ = (uint8_t) (v | 0x80);
                v >>= 7;
        }
        *p = (uint8_t) v;
}

static inline uint64_t wire_zigzag64(int64_t v) {
        return ((uint64_t) v << 1) ^ (uint64_t) (v >> 63);
}
static inline uint32_t wire_zigzag32(int32_t v) {
        return ((uint32_t) v << 1) ^ (uint32_t) (v >> 31);
}

/* Reading. */
typedef struct WireReader {
        const uint8_t *p, *end;
} WireReader;

/* Returns false on truncation or overlong varint. */
static inline bool wire_get_varint(WireReader *r, uint64_t *ret) {
        uint64_t v = 0;
        for (unsigned shift = 0; shift < 64; shift += 7) {
                if (r->p >= r->end)
                        return false;
                uint8_t c = *r->p++;
                v |= (uint64_t) (c & 0x7f) << shift;
                if (!(c & 0x80)) {
                        *ret = v;
                        return true;
                }
        }
        return false;
}

typedef struct WireField {
        uint32_t number;
        int wire_type;
        uint64_t value;      /* varint, i64, i32 */
        const uint8_t *data; /* LEN */
        size_t len;
        const uint8_t *start; /* first byte of the tag */
        const uint8_t *end;   /* one past the field */
} WireField;

/* Next field; false at the end (r->p == r->end) or on malformed input
 * (then r->p != r->end). Groups are not supported (proto3 has none). */
static inline bool wire_next(WireReader *r, WireField *f) {
        if (r->p >= r->end)
                return false;
        f->start = r->p;
        uint64_t key;
        if (!wire_get_varint(r, &key) || (key >> 3) == 0 || (key >> 3) > 0x1fffffff) {
                r->p = f->start;
                return false;
        }
        f->number = (uint32_t) (key >> 3);
        f->wire_type = (int) (key & 7);
        f->data = NULL;
        f->len = 0;
        switch (f->wire_type) {
        case WIRE_VARINT:
                if (!wire_get_varint(r, &f->value))
                        goto bad;
                break;
        case WIRE_I64:
                if (r->end - r->p < 8)
                        goto bad;
                f->value = 0;
                for (int i = 7; i >= 0; i--)
                        f->value = (f->value << 8) | r->p[i];
                r->p += 8;
                break;
        case WIRE_I32:
                if (r->end - r->p < 4)
                        goto bad;
                f->value = (uint64_t) r->p[0] | (uint64_t) r->p[1] << 8 | (uint64_t) r->p[2] << 16 |
                        (uint64_t) r->p[3] << 24;
                r->p += 4;
                break;
        case WIRE_LEN: {
                uint64_t len;
                if (!wire_get_varint(r, &len) || len > (uint64_t) (r->end - r->p))
                        goto bad;
                f->data = r->p;
                f->len = (size_t) len;
                r->p += len;
                break;
        }
        default:
                goto bad;
        }
        f->end = r->p;
        return true;
bad:
        r->p = f->start;
        return false;
}

/* The next value of a packed field whose elements have wire type wt. */
static inline bool wire_next_packed(WireReader *p, int wt, uint64_t *ret) {
        if (p->p >= p->end)
                return false;
        if (wt == WIRE_VARINT)
                return wire_get_varint(p, ret);
        size_t width = wt == WIRE_I32 ? 4 : 8;
        if ((size_t) (p->end - p->p) < width)
                return false;
        uint64_t v = 0;
        for (size_t i = 0; i < width; i++)
                v |= (uint64_t) p->p[i] << (8 * i);
        p->p += width;
        *ret = v;
        return true;
}
