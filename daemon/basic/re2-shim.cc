/* SPDX-License-Identifier: MIT */
/* RE2 behind a C interface (re2-shim.h): the only C++ of the daemon. RE2
 * is what Envoy uses; any other engine would accept or refuse other
 * patterns (backreferences, lookaround, possessive repetition) and word its
 * errors differently. The RE2 linked here is the distribution's, which may
 * be older than the one Envoy pins: where the syntax grew since (named
 * groups written `(?<name>re)`), the pattern is brought to the older
 * spelling first. Nothing here throws into C: allocation failures become
 * -ENOMEM. */
#include "re2-shim.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <vector>

#include <re2/re2.h>

/* RE2::Quiet: Envoy's options (RE2's defaults without logging). */
static const RE2::Options &options(void) {
        static const RE2::Options o(RE2::Quiet);
        return o;
}

/* A pattern in the spelling the linked RE2 reads. */
typedef struct Rewritten {
        std::string pattern;
        std::vector<size_t> named; /* where a `(?P<` stands for `(?<` */
        char lookbehind;           /* = or ! of the first lookbehind, or 0 */
} Rewritten;

/* RE2 2023-06-01 and later read `(?<name>re)` as `(?P<name>re)`; Debian
 * bookworm's (2022-06-01) does not. Each `(?<` that opens a group (not
 * escaped, not quoted by \Q...\E, not inside a character class) and is
 * not a lookbehind `(?<=` `(?<!` (which no RE2 supports) becomes `(?P<`. */
static void rewrite(const char *p, size_t n, Rewritten &r) {
        std::string &out = r.pattern;
        out.reserve(n + 8);
        r.lookbehind = 0;
        bool in_class = false;
        for (size_t i = 0; i < n; i++) {
                char ch = p[i];
                if (ch == '\\') {
                        out += ch;
                        if (i + 1 >= n)
                                continue;
                        if (p[i + 1] == 'Q' && !in_class) {
                                const char *e = (const char *) memmem(p + i + 2, n - i - 2, "\\E", 2);
                                size_t end = e ? (size_t) (e - p) + 2 : n;
                                out.append(p + i + 1, end - i - 1);
                                i = end - 1;
                        } else
                                out += p[++i];
                        continue;
                }
                if (in_class) {
                        if (ch == '[' && i + 1 < n && p[i + 1] == ':') {
                                /* [:alpha:] inside a class ends with :] */
                                const char *e = (const char *) memmem(p + i + 2, n - i - 2, ":]", 2);
                                if (e) {
                                        size_t end = (size_t) (e - p) + 2;
                                        out.append(p + i, end - i);
                                        i = end - 1;
                                        continue;
                                }
                        }
                        if (ch == ']')
                                in_class = false;
                        out += ch;
                        continue;
                }
                if (ch == '[') {
                        in_class = true;
                        out += ch;
                        /* a ] right after [ or [^ is a literal */
                        if (i + 1 < n && p[i + 1] == '^')
                                out += p[++i];
                        if (i + 1 < n && p[i + 1] == ']')
                                out += p[++i];
                        continue;
                }
                if (ch == '(' && i + 3 < n && p[i + 1] == '?' && p[i + 2] == '<') {
                        if (p[i + 3] == '=' || p[i + 3] == '!') {
                                if (!r.lookbehind)
                                        r.lookbehind = p[i + 3];
                        } else {
                                r.named.push_back(out.size());
                                out += "(?P<";
                                i += 2;
                                continue;
                        }
                }
                out += ch;
        }
}

/* The error RE2 gives for the rewritten pattern, as the newer RE2 words it
 * for the original: without the P added to a named group, and with the
 * lookbehind's = or ! (the older RE2 stops at the <). */
static std::string error_text(const RE2 &re, const Rewritten &r) {
        std::string e = re.error(), arg = re.error_arg();
        if (arg.compare(0, 4, "(?P<") == 0) {
                size_t pos = r.pattern.find(arg);
                for (size_t a : r.named)
                        if (a == pos) {
                                size_t k = e.rfind(arg);
                                if (k != std::string::npos)
                                        e.erase(k + 2, 1);
                                break;
                        }
        } else if (arg == "(?<" && re.error_code() == RE2::ErrorBadPerlOp && r.lookbehind)
                e += r.lookbehind;
        return e;
}

extern "C" int re2_check(const char *pattern, size_t len, int *ret_program_size, char **ret_error) {
        try {
                Rewritten r;
                rewrite(pattern, len, r);
                RE2 re(r.pattern, options());
                if (re.ok()) {
                        if (ret_program_size)
                                *ret_program_size = re.ProgramSize();
                        return 0;
                }
                if (ret_error) {
                        char *e = strdup(error_text(re, r).c_str());
                        if (!e)
                                return -ENOMEM;
                        *ret_error = e;
                }
                return -EINVAL;
        } catch (const std::bad_alloc &) {
                return -ENOMEM;
        }
}

extern "C" int re2_full_match(const char *pattern, size_t pattern_len, const char *text, size_t text_len) {
        try {
                Rewritten r;
                rewrite(pattern, pattern_len, r);
                RE2 re(r.pattern, options());
                if (!re.ok())
                        return -EINVAL;
                return RE2::FullMatch(re2::StringPiece(text, text_len), re) ? 1 : 0;
        } catch (const std::bad_alloc &) {
                return -ENOMEM;
        }
}
