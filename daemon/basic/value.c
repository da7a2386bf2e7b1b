/* SPDX-License-Identifier: MIT */
/* Scalar values from their text: durations, RFC 3339 timestamps and
 * base64 (the integer parsers are inline in value.h, on the encoder's
 * per-scalar path). */
#include "value.h"

int value_parse_duration(const char *s, int64_t *ret_seconds, int32_t *ret_nanos) {
        bool neg = false;
        const char *p = s;
        if (*p == '-')
                neg = true, p++;
        if (!(*p >= '0' && *p <= '9'))
                return -EINVAL;
        uint64_t secs = 0;
        for (; *p >= '0' && *p <= '9'; p++) {
                secs = secs * 10 + (uint64_t) (*p - '0');
                if (secs > 315576000000ULL)
                        return -ERANGE;
        }
        uint32_t nanos = 0;
        if (*p == '.') {
                p++;
                unsigned digits = 0;
                if (!(*p >= '0' && *p <= '9'))
                        return -EINVAL;
                for (; *p >= '0' && *p <= '9'; p++) {
                        if (++digits > 9)
                                return -EINVAL;
                        nanos = nanos * 10 + (uint32_t) (*p - '0');
                }
                for (; digits < 9; digits++)
                        nanos *= 10;
        }
        if (!streq(p, "s"))
                return -EINVAL;
        *ret_seconds = neg ? -(int64_t) secs : (int64_t) secs;
        *ret_nanos = neg ? -(int32_t) nanos : (int32_t) nanos;
        return 0;
}

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
        y -= m <= 2;
        int64_t era = (y >= 0 ? y : y - 399) / 400;
        unsigned yoe = (unsigned) (y - era * 400);
        unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
        unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        return era * 146097 + (int64_t) doe - 719468;
}

static bool take_digits(const char **p, unsigned n, unsigned *ret) {
        unsigned v = 0;
        for (unsigned i = 0; i < n; i++) {
                char c = (*p)[i];
                if (c < '0' || c > '9')
                        return false;
                v = v * 10 + (unsigned) (c - '0');
        }
        *p += n;
        *ret = v;
        return true;
}

int value_parse_timestamp(const char *s, int64_t *ret_seconds, int32_t *ret_nanos) {
        /* RFC 3339: YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM) */
        unsigned Y, M, D, h, m, sec, oh = 0, om = 0;
        const char *p = s;
        if (!take_digits(&p, 4, &Y) || *p++ != '-' || !take_digits(&p, 2, &M) || *p++ != '-' ||
            !take_digits(&p, 2, &D) || (*p != 'T' && *p != 't') || !++p || !take_digits(&p, 2, &h) ||
            *p++ != ':' || !take_digits(&p, 2, &m) || *p++ != ':' || !take_digits(&p, 2, &sec))
                return -EINVAL;
        static const unsigned mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
        if (Y < 1 || M < 1 || M > 12 || D < 1 || D > mdays[M - 1] || h > 23 || m > 59 || sec > 59)
                return -EINVAL;
        if (M == 2 && D == 29 && !((Y % 4 == 0 && Y % 100 != 0) || Y % 400 == 0))
                return -EINVAL;
        uint32_t nanos = 0;
        if (*p == '.') {
                p++;
                unsigned digits = 0;
                for (; *p >= '0' && *p <= '9'; p++) {
                        if (++digits > 9)
                                return -EINVAL;
                        nanos = nanos * 10 + (uint32_t) (*p - '0');
                }
                if (digits == 0)
                        return -EINVAL;
                for (; digits < 9; digits++)
                        nanos *= 10;
        }
        int sign = 0;
        if (*p == 'Z' || *p == 'z')
                p++;
        else if (*p == '+' || *p == '-') {
                sign = *p++ == '+' ? 1 : -1;
                if (!take_digits(&p, 2, &oh) || *p++ != ':' || !take_digits(&p, 2, &om) || oh > 23 || om > 59)
                        return -EINVAL;
        } else
                return -EINVAL;
        if (*p)
                return -EINVAL;
        int64_t t = days_from_civil(Y, M, D) * 86400 + h * 3600 + m * 60 + sec;
        t -= sign * (int64_t) (oh * 3600 + om * 60);
        *ret_seconds = t;
        *ret_nanos = (int32_t) nanos;
        return 0;
}

int value_base64_decode(const char *s, size_t len, Buf *out) {
        size_t start = out->len;
        uint32_t acc = 0;
        unsigned bits = 0;
        size_t i = 0, pad = 0;
        for (; i < len; i++) {
                char c = s[i];
                unsigned v;
                if (c >= 'A' && c <= 'Z')
                        v = (unsigned) (c - 'A');
                else if (c >= 'a' && c <= 'z')
                        v = (unsigned) (c - 'a' + 26);
                else if (c >= '0' && c <= '9')
                        v = (unsigned) (c - '0' + 52);
                else if (c == '+' || c == '-')
                        v = 62;
                else if (c == '/' || c == '_')
                        v = 63;
                else if (c == '=')
                        break;
                else
                        goto bad;
                acc = (acc << 6) | v;
                bits += 6;
                if (bits >= 8) {
                        bits -= 8;
                        buf_putc(out, (uint8_t) (acc >> bits));
                }
        }
        for (; i < len; i++, pad++)
                if (s[i] != '=')
                        goto bad;
        if (pad > 2 || bits >= 6)
                goto bad;
        return 0;
bad:
        out->len = start;
        return -EINVAL;
}
