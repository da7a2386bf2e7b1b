/* SPDX-License-Identifier: MIT */
/* The removal guard's rule, over counts only (see guard.h). */
#include <assert.h>

#include "guard.h"

static const char *const guard_kind_table[_GUARD_KIND_MAX] = {
        [GUARD_LISTENERS] = "listeners",
        [GUARD_CLUSTERS] = "clusters",
};

DEFINE_STRING_TABLE_LOOKUP(guard_kind, GuardKind);

bool guard_exceeds(size_t removed, size_t live, double max_removal) {
        return live > 0 && (double) removed / (double) live > max_removal;
}

int guard_check(const GuardDelta *d, double max_removal, GuardKind *ret_kind) {
        assert(d);
        for (GuardKind k = 0; k < _GUARD_KIND_MAX; k++)
                if (guard_exceeds(d->removed[k], d->live[k], max_removal)) {
                        if (ret_kind)
                                *ret_kind = k;
                        return 1;
                }
        return 0;
}
