/* SPDX-License-Identifier: MIT */
/* Scalar values from their text: integers, durations, RFC 3339 timestamps
 * and base64, in the forms protobuf's JSON mapping reads them. Shared by
 * the encoder and the daemon's configuration; knows nothing of xDS. */
#pragma once

#include "util.h"

/* The integer parsers are inline: the encoder calls them for every integer
 * scalar it writes. */

/* Parses decimal, 0x hex or 0-prefixed octal, with an optional sign; the
 * sign comes back separately ("-0" is not negative). Returns -EINVAL when s
 * is not an integer, -ERANGE when its magnitude exceeds 64 bits. */
static inline int value_parse_int(const char *s, bool *ret_negative, uint64_t *ret_magnitude) {
        bool neg = false;
        if (*s == '-' || *s == '+')
                neg = *s++ == '-';
        unsigned base = 10;
        if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
                base = 16, s += 2;
        else if (s[0] == '0' && s[1])
                base = 8, s++;
        if (!*s)
                return -EINVAL;
        uint64_t v = 0;
        for (; *s; s++) {
                unsigned d;
                if (*s >= '0' && *s <= '9')
                        d = (unsigned) (*s - '0');
                else if (*s >= 'a' && *s <= 'f')
                        d = (unsigned) (*s - 'a' + 10);
                else if (*s >= 'A' && *s <= 'F')
                        d = (unsigned) (*s - 'A' + 10);
                else
                        return -EINVAL;
                if (d >= base)
                        return -EINVAL;
                if (v > (UINT64_MAX - d) / base)
                        return -ERANGE;
                v = v * base + d;
        }
        *ret_negative = neg && v != 0;
        *ret_magnitude = v;
        return 0;
}

/* Like value_parse_int(), but decimal only, "-" the only sign and no
 * leading zeros. */
static inline int value_parse_decimal(const char *s, bool *ret_negative, uint64_t *ret_magnitude) {
        /* proto3 JSON: integers as decimal strings (no hex or octal there) */
        const char *p = *s == '-' ? s + 1 : s;
        if (!*p || (p[0] == '0' && p[1]))
                return -EINVAL;
        for (const char *q = p; *q; q++)
                if (*q < '0' || *q > '9')
                        return -EINVAL;
        return value_parse_int(s, ret_negative, ret_magnitude);
}

/* "1.5s", "-0.25s": decimal seconds with an "s" suffix and at most 9
 * fractional digits, within ±315576000000 s (protobuf's Duration range).
 * Both parts carry the sign. Returns -EINVAL when s is not a duration,
 * -ERANGE when it is out of range. */
int value_parse_duration(const char *s, int64_t *ret_seconds, int32_t *ret_nanos);
/* RFC 3339, "2024-01-01T00:00:00Z": "T" or "t", an optional fraction of
 * up to 9 digits, "Z", "z" or a ±HH:MM offset; years 0001-9999. Returns
 * -EINVAL when s is not such a timestamp (or names no real day). */
int value_parse_timestamp(const char *s, int64_t *ret_seconds, int32_t *ret_nanos);
/* Decodes standard or URL-safe base64 (the alphabets may mix), padding
 * optional, and appends the bytes to out. Returns -EINVAL, out unchanged,
 * when s is not base64. */
int value_base64_decode(const char *s, size_t len, Buf *out);
