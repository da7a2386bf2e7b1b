/* SPDX-License-Identifier: MIT */
/* RE2 behind a C interface (re2-shim.h): the only C++ of the daemon. RE2
 * is what Envoy uses; any other engine would accept or refuse other
 * patterns (backreferences, lookaround, possessive repetition) and word its
 * errors differently. Nothing here throws into C: allocation failures
 * become -ENOMEM. */
#include "re2-shim.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <new>

#include <re2/re2.h>

/* RE2::Quiet: Envoy's options (RE2's defaults without logging). */
static const RE2::Options &options(void) {
        static const RE2::Options o(RE2::Quiet);
        return o;
}

extern "C" int re2_check(const char *pattern, size_t len, char **ret_error) {
        try {
                RE2 re(re2::StringPiece(pattern, len), options());
                if (re.ok())
                        return 0;
                if (ret_error) {
                        char *e = strdup(re.error().c_str());
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
                RE2 re(re2::StringPiece(pattern, pattern_len), options());
                if (!re.ok())
                        return -EINVAL;
                return RE2::FullMatch(re2::StringPiece(text, text_len), re) ? 1 : 0;
        } catch (const std::bad_alloc &) {
                return -ENOMEM;
        }
}
