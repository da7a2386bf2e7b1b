/* SPDX-License-Identifier: MIT */
/* RE2, the regular expression engine Envoy compiles every safe_regex with
 * (RegexMatcher's google_re2 engine, source/common/common/regex.cc) and the
 * one protoc-gen-validate's C++ code matches `pattern` rules with: a C
 * interface to the few calls fsxds needs, so that a pattern is accepted or
 * refused, and a string matched, exactly as Envoy would. */
#pragma once

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Patterns are read as the RE2 Envoy pins (2024-07-02) reads them, where
 * it differs from the distribution's: `(?<name>re)` is a named group. */

/* 0 when RE2 compiles pattern (len bytes, UTF-8, RE2's default syntax, as
 * Envoy's CompiledGoogleReMatcher does), with *ret_program_size (when not
 * NULL) set to RE2's ProgramSize(), what Envoy compares with its
 * max_program_size limits; -EINVAL when it does not, with *ret_error (when
 * not NULL) set to RE2's own error text, to be freed; -ENOMEM. */
int re2_check(const char *pattern, size_t len, int *ret_program_size, char **ret_error);

/* 1 when the whole of text matches pattern (RE2::FullMatch, what
 * protoc-gen-validate's C++ templates call for StringRules.pattern), 0 when
 * it does not, -EINVAL when pattern does not compile, -ENOMEM. */
int re2_full_match(const char *pattern, size_t pattern_len, const char *text, size_t text_len);

#ifdef __cplusplus
}
#endif
