/* SPDX-License-Identifier: MIT */
/* The removal guard's rule, over counts and names (see guard.h). */
#include <assert.h>
#include <stdlib.h>

#include "diag.h"
#include "guard.h"
#include "hashmap.h"
#include "resource.h"

static const char *const guard_kind_table[_GUARD_KIND_MAX] = {
        [GUARD_LISTENERS] = "listeners",
        [GUARD_CLUSTERS] = "clusters",
};

DEFINE_STRING_TABLE_LOOKUP(guard_kind, GuardKind);

static void put_name(void *userdata, const char *name, size_t len) {
        hashmap_put(userdata, name, len, (void *) 1);
}

static int compare_strp(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

void guard_count(GuardDelta *d, GuardKind k, const uint8_t *live, size_t live_len, const uint8_t *next,
                 size_t next_len) {
        assert(d && k >= 0 && k < _GUARD_KIND_MAX);
        Hashmap new_names = {}, old_names = {};
        if (next)
                response_walk(next, next_len, NULL, put_name, &new_names);
        d->live[k] = live ? response_walk(live, live_len, NULL, put_name, &old_names) : 0;
        for (size_t i = 0; d->names[k] && i < d->removed[k]; i++)
                free(d->names[k][i]);
        free(d->names[k]);
        d->removed[k] = 0;
        d->names[k] = xcalloc(old_names.n + 1, sizeof(char *));
        for (size_t i = 0; i < old_names.cap; i++) {
                const HashmapEntry *e = &old_names.entries[i];
                if (e->key && !hashmap_get(&new_names, e->key, e->key_len))
                        d->names[k][d->removed[k]++] = xstrndup(e->key, e->key_len);
        }
        qsort(d->names[k], d->removed[k], sizeof(char *), compare_strp);
        hashmap_free(&old_names);
        hashmap_free(&new_names);
}

void guard_delta_done(GuardDelta *d) {
        for (GuardKind k = 0; k < _GUARD_KIND_MAX; k++) {
                for (size_t i = 0; d->names[k] && i < d->removed[k]; i++)
                        free(d->names[k][i]);
                free(d->names[k]);
        }
        *d = (GuardDelta) {};
}

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

char *guard_describe(const GuardDelta *d, double max_removal) {
        assert(d);
        bool any = guard_check(d, max_removal, NULL) > 0;
        Buf b = {};
        for (GuardKind k = 0; k < _GUARD_KIND_MAX; k++) {
                if (any ? !guard_exceeds(d->removed[k], d->live[k], max_removal) : d->removed[k] == 0)
                        continue;
                buf_printf(&b, "%s%zu of %zu %s", b.len ? " and " : "", d->removed[k], d->live[k], guard_kind_to_string(k));
                if (!d->names[k] || d->removed[k] == 0)
                        continue;
                size_t shown = MIN(d->removed[k], (size_t) GUARD_NAMES_SHOWN);
                buf_printf(&b, " (");
                for (size_t i = 0; i < shown; i++) {
                        /* as a diagnostic shows it: one line of valid UTF-8
                         * (status.json, the journal), whatever bytes the
                         * live file held */
                        _cleanup_free_ char *name = diag_shown(d->names[k][i], 0);
                        buf_printf(&b, "%s\"%s\"", i ? ", " : "", name);
                }
                if (d->removed[k] > shown)
                        buf_printf(&b, " and %zu more", d->removed[k] - shown);
                buf_putc(&b, ')');
        }
        if (b.len == 0)
                buf_printf(&b, "nothing");
        return buf_steal_str(&b);
}
