/* SPDX-License-Identifier: MIT */
/* Scalar values from their text: integers, durations, RFC 3339 timestamps
 * and base64, in the forms protobuf's JSON mapping reads them. Shared by
 * the encoder and the daemon's configuration; knows nothing of xDS. */
#pragma once

#include "util.h"

/* Parses decimal, 0x hex or 0-prefixed octal; sign separately. */
static inline bool parse_int_text(const char *s, bool *ret_negative, uint64_t *ret_magnitude) {
        bool neg = false;
        if (*s == '-' || *s == '+')
                neg = *s++ == '-';
        unsigned base = 10;
        if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
                base = 16, s += 2;
        else if (s[0] == '0' && s[1])
                base = 8, s++;
        if (!*s)
                return false;
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
                        return false;
                if (d >= base)
                        return false;
                if (v > (UINT64_MAX - d) / base)
                        return false;
                v = v * base + d;
        }
        *ret_negative = neg && v != 0;
        *ret_magnitude = v;
        return true;
}

static inline bool parse_decimal_string(const char *s, bool *ret_negative, uint64_t *ret_magnitude) {
        /* proto3 JSON: integers as decimal strings (no hex or octal there) */
        const char *p = *s == '-' ? s + 1 : s;
        if (!*p || (p[0] == '0' && p[1]))
                return false;
        for (const char *q = p; *q; q++)
                if (*q < '0' || *q > '9')
                        return false;
        return parse_int_text(s, ret_negative, ret_magnitude);
}

bool parse_duration(const char *s, int64_t *ret_seconds, int32_t *ret_nanos);
bool parse_timestamp(const char *s, int64_t *ret_seconds, int32_t *ret_nanos);
/* Decodes standard or URL-safe base64, padding optional. */
bool base64_decode(const char *s, size_t len, Buf *out);
