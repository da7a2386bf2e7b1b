/* SPDX-License-Identifier: MIT */
/* The removal guard: a generation that would remove more than max_removal
 * of a node's live listeners or clusters is refused unless an allowance
 * (fsxds allow-removal NODE) lets it through once. A pure function over
 * the live counts and the delta: it reads nothing and consumes nothing,
 * the caller does, so it stays usable incrementally and testable alone. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "util.h"

typedef enum GuardKind {
        GUARD_LISTENERS,
        GUARD_CLUSTERS,
        _GUARD_KIND_MAX,
        _GUARD_KIND_INVALID = -EINVAL,
} GuardKind;

const char *guard_kind_to_string(GuardKind k);
GuardKind guard_kind_from_string(const char *s);

/* Per kind: how many resources are live, and how many of them the next
 * generation no longer has. */
typedef struct GuardDelta {
        size_t live[_GUARD_KIND_MAX];
        size_t removed[_GUARD_KIND_MAX];
} GuardDelta;

/* Whether removing removed of live exceeds max_removal (a fraction, 0..1):
 * nothing live never does; exactly max_removal does not. */
bool guard_exceeds(size_t removed, size_t live, double max_removal);

/* Returns 0 when the delta may pass, or 1 when a kind removes too much,
 * with *ret_kind (optional) the first such kind in GuardKind order:
 * then only an allowance lets the generation through. */
int guard_check(const GuardDelta *d, double max_removal, GuardKind *ret_kind);
