/* SPDX-License-Identifier: MIT */
/* A small JSON reader: a whole document as a tree, for status.json and
 * MANIFEST. */
#include <assert.h>
#include <stdarg.h>

#include "json.h"

#define JSON_MAX_DEPTH 64

Json *json_free(Json *j) {
        if (!j)
                return NULL;
        for (size_t i = 0; i < j->n; i++) {
                if (j->keys)
                        free(j->keys[i]);
                json_free(j->items[i]);
        }
        free(j->keys);
        free(j->items);
        free(j->str);
        free(j);
        return NULL;
}

typedef struct JsonParser {
        const char *p, *end;
        const char *line_start;
        unsigned line;
        char *error; /* the first error, with its line:column */
} JsonParser;

static Json *json_fail(JsonParser *jp, const char *fmt, ...) _printf_(2, 3);
static Json *json_fail(JsonParser *jp, const char *fmt, ...) {
        if (jp->error)
                return NULL;
        va_list ap;
        va_start(ap, fmt);
        _cleanup_free_ char *m = xvasprintf(fmt, ap);
        va_end(ap);
        jp->error = xasprintf("%u:%u: error: %s", jp->line, (unsigned) (jp->p - jp->line_start) + 1, m);
        return NULL;
}

static void json_skip_space(JsonParser *jp) {
        for (; jp->p < jp->end; jp->p++) {
                if (*jp->p == '\n') {
                        jp->line++;
                        jp->line_start = jp->p + 1;
                } else if (*jp->p != ' ' && *jp->p != '\t' && *jp->p != '\r')
                        break;
        }
}

static int json_hex4(const char *s, const char *end) {
        if (end - s < 4)
                return -1;
        int v = 0;
        for (int i = 0; i < 4; i++) {
                char c = s[i];
                int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
                if (d < 0)
                        return -1;
                v = v * 16 + d;
        }
        return v;
}

static void buf_put_utf8(Buf *b, uint32_t cp) {
        if (cp < 0x80)
                buf_putc(b, (uint8_t) cp);
        else if (cp < 0x800) {
                buf_putc(b, (uint8_t) (0xc0 | cp >> 6));
                buf_putc(b, (uint8_t) (0x80 | (cp & 0x3f)));
        } else if (cp < 0x10000) {
                buf_putc(b, (uint8_t) (0xe0 | cp >> 12));
                buf_putc(b, (uint8_t) (0x80 | ((cp >> 6) & 0x3f)));
                buf_putc(b, (uint8_t) (0x80 | (cp & 0x3f)));
        } else {
                buf_putc(b, (uint8_t) (0xf0 | cp >> 18));
                buf_putc(b, (uint8_t) (0x80 | ((cp >> 12) & 0x3f)));
                buf_putc(b, (uint8_t) (0x80 | ((cp >> 6) & 0x3f)));
                buf_putc(b, (uint8_t) (0x80 | (cp & 0x3f)));
        }
}

/* At the opening quote; returns the unescaped string. */
static char *json_parse_string(JsonParser *jp) {
        assert(*jp->p == '"');
        jp->p++;
        Buf b = {};
        for (;;) {
                if (jp->p >= jp->end) {
                        buf_free(&b);
                        json_fail(jp, "unterminated string");
                        return NULL;
                }
                unsigned char c = (unsigned char) *jp->p;
                if (c == '"') {
                        jp->p++;
                        return buf_steal_str(&b);
                }
                if (c < 0x20) {
                        buf_free(&b);
                        json_fail(jp, "control character in a string");
                        return NULL;
                }
                if (c != '\\') {
                        buf_putc(&b, c);
                        jp->p++;
                        continue;
                }
                if (jp->end - jp->p < 2) {
                        buf_free(&b);
                        json_fail(jp, "unterminated string");
                        return NULL;
                }
                char e = jp->p[1];
                const char *simple = strchr("\"\\/bfnrt", e);
                if (e && simple) {
                        static const char unescaped[] = "\"\\/\b\f\n\r\t";
                        buf_putc(&b, (uint8_t) unescaped[simple - "\"\\/bfnrt"]);
                        jp->p += 2;
                        continue;
                }
                if (e != 'u') {
                        buf_free(&b);
                        json_fail(jp, "invalid escape \\%c", e);
                        return NULL;
                }
                int hi = json_hex4(jp->p + 2, jp->end);
                uint32_t cp = (uint32_t) hi;
                const char *next = jp->p + 6;
                if (hi >= 0xd800 && hi <= 0xdbff && jp->end - next >= 6 && next[0] == '\\' && next[1] == 'u') {
                        int lo = json_hex4(next + 2, jp->end);
                        if (lo >= 0xdc00 && lo <= 0xdfff) {
                                cp = 0x10000 + (((uint32_t) hi - 0xd800) << 10) + ((uint32_t) lo - 0xdc00);
                                next += 6;
                        }
                }
                if (hi <= 0 || (cp >= 0xd800 && cp <= 0xdfff)) {
                        buf_free(&b);
                        json_fail(jp, hi == 0 ? "\\u0000 in a string" : "invalid \\u escape");
                        return NULL;
                }
                buf_put_utf8(&b, cp);
                jp->p = next;
        }
}

static Json *json_parse_value(JsonParser *jp, unsigned depth);

static Json *json_parse_container(JsonParser *jp, unsigned depth) {
        bool object = *jp->p == '{';
        char close = object ? '}' : ']';
        if (depth >= JSON_MAX_DEPTH)
                return json_fail(jp, "nested more than %u deep", JSON_MAX_DEPTH);
        jp->p++;
        _cleanup_(json_freep) Json *j = xcalloc(1, sizeof(Json));
        j->kind = object ? JSON_OBJECT : JSON_ARRAY;
        size_t cap = 0;
        json_skip_space(jp);
        if (jp->p < jp->end && *jp->p == close) {
                jp->p++;
                return TAKE_PTR(j);
        }
        for (;;) {
                _cleanup_free_ char *key = NULL;
                if (object) {
                        json_skip_space(jp);
                        if (jp->p >= jp->end || *jp->p != '"')
                                return json_fail(jp, "expected a key in quotes");
                        key = json_parse_string(jp);
                        if (!key)
                                return NULL;
                        json_skip_space(jp);
                        if (jp->p >= jp->end || *jp->p != ':')
                                return json_fail(jp, "expected ':' after the key \"%s\"", key);
                        jp->p++;
                }
                Json *v = json_parse_value(jp, depth + 1);
                if (!v)
                        return NULL;
                if (j->n == cap) {
                        cap = MAX(cap * 2, 8u);
                        j->items = xrealloc(j->items, cap * sizeof(Json *));
                        if (object)
                                j->keys = xrealloc(j->keys, cap * sizeof(char *));
                }
                if (object)
                        j->keys[j->n] = TAKE_PTR(key);
                j->items[j->n++] = v;
                json_skip_space(jp);
                if (jp->p < jp->end && *jp->p == ',') {
                        jp->p++;
                        continue;
                }
                if (jp->p < jp->end && *jp->p == close) {
                        jp->p++;
                        return TAKE_PTR(j);
                }
                return json_fail(jp, "expected ',' or '%c'", close);
        }
}

static bool json_is_digit(const char *p, const char *end) {
        return p < end && *p >= '0' && *p <= '9';
}

static Json *json_parse_number(JsonParser *jp) {
        const char *s = jp->p, *p = s;
        if (p < jp->end && *p == '-')
                p++;
        if (!json_is_digit(p, jp->end))
                return json_fail(jp, "expected a value");
        if (*p == '0')
                p++;
        else
                while (json_is_digit(p, jp->end))
                        p++;
        if (p < jp->end && *p == '.') {
                p++;
                if (!json_is_digit(p, jp->end))
                        return json_fail(jp, "expected digits after '.'");
                while (json_is_digit(p, jp->end))
                        p++;
        }
        if (p < jp->end && (*p == 'e' || *p == 'E')) {
                p++;
                if (p < jp->end && (*p == '+' || *p == '-'))
                        p++;
                if (!json_is_digit(p, jp->end))
                        return json_fail(jp, "expected digits in the exponent");
                while (json_is_digit(p, jp->end))
                        p++;
        }
        Json *j = xcalloc(1, sizeof(Json));
        j->kind = JSON_NUMBER;
        j->str = xstrndup(s, (size_t) (p - s));
        jp->p = p;
        return j;
}

static Json *json_parse_value(JsonParser *jp, unsigned depth) {
        json_skip_space(jp);
        if (jp->p >= jp->end)
                return json_fail(jp, "unexpected end of the file");
        static const struct {
                const char *word;
                JsonKind kind;
                bool value;
        } words[] = {
                { "null", JSON_NULL, false },
                { "true", JSON_BOOL, true },
                { "false", JSON_BOOL, false },
        };
        switch (*jp->p) {
        case '{':
        case '[':
                return json_parse_container(jp, depth);
        case '"': {
                char *s = json_parse_string(jp);
                if (!s)
                        return NULL;
                Json *j = xcalloc(1, sizeof(Json));
                j->kind = JSON_STRING;
                j->str = s;
                return j;
        }
        default:
                for (size_t i = 0; i < ELEMENTSOF(words); i++) {
                        size_t l = strlen(words[i].word);
                        if ((size_t) (jp->end - jp->p) >= l && memcmp(jp->p, words[i].word, l) == 0) {
                                jp->p += l;
                                Json *j = xcalloc(1, sizeof(Json));
                                j->kind = words[i].kind;
                                j->boolean = words[i].value;
                                return j;
                        }
                }
                return json_parse_number(jp);
        }
}

int json_parse(const char *data, size_t len, char **ret_error, Json **ret) {
        JsonParser jp = { .p = data, .end = data + len, .line_start = data, .line = 1 };
        _cleanup_(json_freep) Json *j = json_parse_value(&jp, 0);
        if (j) {
                json_skip_space(&jp);
                if (jp.p < jp.end) {
                        j = json_free(j);
                        json_fail(&jp, "unexpected text after the document");
                }
        }
        if (!j) {
                *ret_error = TAKE_PTR(jp.error);
                return -EBADMSG;
        }
        *ret = TAKE_PTR(j);
        return 0;
}

const Json *json_get(const Json *j, const char *key) {
        if (!j || j->kind != JSON_OBJECT)
                return NULL;
        for (size_t i = j->n; i > 0; i--)
                if (streq(j->keys[i - 1], key))
                        return j->items[i - 1];
        return NULL;
}

bool json_get_int(const Json *j, const char *key, int64_t *ret) {
        const Json *v = json_get(j, key);
        if (!v || v->kind != JSON_NUMBER || strpbrk(v->str, ".eE"))
                return false;
        errno = 0;
        char *end;
        long long x = strtoll(v->str, &end, 10);
        if (errno != 0 || *end)
                return false;
        *ret = x;
        return true;
}

const char *json_get_str(const Json *j, const char *key) {
        const Json *v = json_get(j, key);
        return v && v->kind == JSON_STRING ? v->str : NULL;
}

char *json_get_strdup(const Json *j, const char *key) {
        const char *s = json_get_str(j, key);
        return s ? xstrdup(s) : NULL;
}

int64_t json_get_int_or(const Json *j, const char *key, int64_t dflt) {
        int64_t v;
        return json_get_int(j, key, &v) ? v : dflt;
}

bool json_get_true(const Json *j, const char *key) {
        const Json *v = json_get(j, key);
        return v && v->kind == JSON_BOOL && v->boolean;
}
