/* SPDX-License-Identifier: MIT */
/* The removal guard: a generation that would remove more than max_removal
 * of a node's live listeners or clusters is refused unless an allowance
 * (fsxds allow-removal NODE) lets it through once. Pure functions over the
 * bytes the caller gives (the live file, the next one) and the counts: they
 * read nothing and consume nothing, the caller does, so the guard stays
 * usable incrementally and testable alone. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

typedef enum GuardKind {
        GUARD_LISTENERS,
        GUARD_CLUSTERS,
        _GUARD_KIND_MAX,
        _GUARD_KIND_INVALID = -EINVAL,
} GuardKind;

const char *guard_kind_to_string(GuardKind k);
GuardKind guard_kind_from_string(const char *s);

/* How many removed names a message shows; the rest are counted. */
#define GUARD_NAMES_SHOWN 10

/* Per kind: how many resources are live, and how many of them the next
 * generation no longer has, with their names (sorted; owned, set by
 * guard_count(), NULL for counts set by hand). */
typedef struct GuardDelta {
        size_t live[_GUARD_KIND_MAX];
        size_t removed[_GUARD_KIND_MAX];
        char **names[_GUARD_KIND_MAX];
} GuardDelta;

/* Counts kind k from two DiscoveryResponses: the live file (NULL, 0: none)
 * and the next one (NULL, 0: gone): live its resources, removed those of
 * its names the next one does not have. */
void guard_count(GuardDelta *d, GuardKind k, const uint8_t *live, size_t live_len, const uint8_t *next,
                 size_t next_len);
void guard_delta_done(GuardDelta *d);

/* Whether removing removed of live exceeds max_removal (a fraction, 0..1):
 * nothing live never does; exactly max_removal does not. */
bool guard_exceeds(size_t removed, size_t live, double max_removal);

/* Returns 0 when the delta may pass, or 1 when a kind removes too much,
 * with *ret_kind (optional) the first such kind in GuardKind order:
 * then only an allowance lets the generation through. */
int guard_check(const GuardDelta *d, double max_removal, GuardKind *ret_kind);

/* What the delta removes of the kinds that exceed max_removal (all kinds
 * that remove anything when none does), for the diagnostic and the log:
 * "3 of 4 clusters (\"a\", \"b\", \"c\")", the names after the first
 * GUARD_NAMES_SHOWN as "and N more", kinds joined by " and ". */
char *guard_describe(const GuardDelta *d, double max_removal);
