/* SPDX-License-Identifier: MIT */
/* A line diff of two texts as unified hunks ("@@ -l,s +l,s @@", then
 * lines marked ' ', '-' or '+'), as diff -u prints them below its two
 * header lines. Myers' O((N+M)D) algorithm in linear space (the middle
 * snake, divide and conquer), so two texts of many thousand lines cost
 * memory in proportion to their length, never to its square. A region
 * of more than some thousands of differing lines is shown replaced whole
 * (correct, not shortest), which bounds the time. */
#pragma once

#include "util.h"

/* Appends to out the hunks that turn a into b, each with up to context
 * lines of context around its changes (those of two changes closer than
 * 2 * context lines apart share a hunk). A line is its bytes up to and
 * including '\n'; a last line without one is followed by
 * "\ No newline at end of file", as diff prints it. Returns how many
 * hunks were appended (0: the texts are equal, out unchanged). */
size_t textdiff_unified(const char *a, size_t a_len, const char *b, size_t b_len, unsigned context, Buf *out);
