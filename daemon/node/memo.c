/* SPDX-License-Identifier: MIT */
/* Node memos and the table of file descriptions they share (see memo.h). */
#include <assert.h>

#include "memo.h"

static MemoFile *memo_file_ref(MemoTable *t, const NodeFile *f) {
        assert(strlen(f->sha256) == 64);
        size_t pl = strlen(f->path);
        char key[pl + 1 + 65];
        memcpy(key, f->path, pl + 1);
        memcpy(key + pl + 1, f->sha256, 65);
        MemoFile *m = hashmap_get(&t->files, key, pl + 1 + 64);
        if (!m) {
                m = xcalloc(1, sizeof(MemoFile));
                m->key = xmalloc(pl + 1 + 65);
                memcpy(m->key, key, pl + 1 + 65);
                m->path = m->key;
                memcpy(m->sha256, f->sha256, sizeof m->sha256);
                memcpy(m->version, f->version, sizeof m->version);
                m->len = f->len;
                m->n_resources = f->n_resources;
                m->type = f->type;
                hashmap_put(&t->files, m->key, pl + 1 + 64, m);
        }
        m->refs++;
        return m;
}

static void memo_file_unref(MemoTable *t, MemoFile *m) {
        assert(m->refs > 0);
        if (--m->refs > 0)
                return;
        hashmap_remove(&t->files, m->key, strlen(m->path) + 1 + 64);
        free(m->key);
        free(m);
}

void memo_table_done(MemoTable *t) {
        for (size_t i = 0; i < t->files.cap; i++)
                if (t->files.entries[i].key) {
                        MemoFile *m = t->files.entries[i].value;
                        free(m->key);
                        free(m);
                }
        hashmap_free(&t->files);
}

void node_memo_done(MemoTable *t, NodeMemo *m) {
        for (size_t i = 0; i < m->n; i++)
                memo_file_unref(t, m->files[i]);
        free(m->files);
        *m = (NodeMemo) {};
}

void node_memo_set(MemoTable *t, NodeMemo *m, const NodeOutput *o) {
        NodeMemo next = { .files = xcalloc(o->n + 1, sizeof(MemoFile *)), .n = o->n };
        for (size_t i = 0; i < o->n; i++)
                next.files[i] = memo_file_ref(t, &o->files[i]);
        node_memo_done(t, m);
        *m = next;
}

void node_memo_copy(MemoTable *t, NodeMemo *dst, const NodeMemo *src) {
        NodeMemo next = { .files = xcalloc(src->n + 1, sizeof(MemoFile *)), .n = src->n };
        for (size_t i = 0; i < src->n; i++) {
                next.files[i] = src->files[i];
                next.files[i]->refs++;
        }
        node_memo_done(t, dst);
        *dst = next;
}

void node_memo_follow(MemoTable *t, NodeMemo *dst, const NodeMemo *src) {
        MemoFile **files = xcalloc(src->n + 1, sizeof(MemoFile *));
        size_t i = 0;
        for (size_t k = 0; k < src->n; k++) {
                MemoFile *f = src->files[k];
                files[k] = f;
                /* the same description in both: its reference moves over (nothing read) */
                if (i < dst->n && dst->files[i] == f) {
                        i++;
                        continue;
                }
                f->refs++;
                while (i < dst->n && dst->files[i] != f && strcmp(dst->files[i]->path, f->path) <= 0)
                        memo_file_unref(t, dst->files[i++]);
                if (i < dst->n && dst->files[i] == f) {
                        /* (met further on: its reference moves over too) */
                        f->refs--;
                        i++;
                }
        }
        while (i < dst->n)
                memo_file_unref(t, dst->files[i++]);
        free(dst->files);
        *dst = (NodeMemo) { .files = files, .n = src->n };
}

static int cmp_memo_path(const void *key, const void *f) {
        return strcmp(key, (*(MemoFile *const *) f)->path);
}

const MemoFile *node_memo_find(const NodeMemo *m, const char *path) {
        MemoFile *const *f = m->n ? bsearch(path, m->files, m->n, sizeof(MemoFile *), cmp_memo_path) : NULL;
        return f ? *f : NULL;
}

/* The index of the first file whose path is not before path. */
static size_t lower_bound(const NodeMemo *m, const char *path) {
        size_t lo = 0, hi = m->n;
        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                if (strcmp(m->files[mid]->path, path) < 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return lo;
}

static int cmp_node_file_path(const void *key, const void *f) {
        return strcmp(key, ((const NodeFile *) f)->path);
}

void node_memo_update(MemoTable *t, NodeMemo *m, char *const *touched, size_t n_touched, const NodeOutput *changed) {
        /* by path, not by walking the memo: the work is the change's */
        for (size_t k = 0; k < n_touched; k++) {
                if (changed->n && bsearch(touched[k], changed->files, changed->n, sizeof(NodeFile), cmp_node_file_path))
                        continue;
                size_t i = lower_bound(m, touched[k]);
                if (i < m->n && streq(m->files[i]->path, touched[k])) {
                        memo_file_unref(t, m->files[i]);
                        memmove(m->files + i, m->files + i + 1, (m->n - i - 1) * sizeof(MemoFile *));
                        m->n--;
                }
        }
        for (size_t j = 0; j < changed->n; j++) {
                const NodeFile *f = &changed->files[j];
                size_t i = lower_bound(m, f->path);
                MemoFile *next = memo_file_ref(t, f);
                if (i < m->n && streq(m->files[i]->path, f->path)) {
                        memo_file_unref(t, m->files[i]);
                        m->files[i] = next;
                        continue;
                }
                m->files = xrealloc(m->files, (m->n + 2) * sizeof(MemoFile *));
                memmove(m->files + i + 1, m->files + i, (m->n - i) * sizeof(MemoFile *));
                m->files[i] = next;
                m->n++;
        }
}

void node_memo_select(const NodeMemo *m, char *const *touched, size_t n_touched, NodeOutput *ret) {
        NodeOutput o = { .files = xcalloc(n_touched + 1, sizeof(NodeFile)) };
        for (size_t k = 0; k < n_touched; k++) {
                const MemoFile *f = node_memo_find(m, touched[k]);
                if (!f)
                        continue;
                NodeFile *nf = &o.files[o.n++];
                *nf = (NodeFile) { .path = xstrdup(f->path), .len = f->len, .type = f->type,
                                   .n_resources = f->n_resources };
                memcpy(nf->version, f->version, sizeof nf->version);
                memcpy(nf->sha256, f->sha256, sizeof nf->sha256);
        }
        *ret = o;
}

void node_memo_diff(const NodeMemo *m, const NodeOutput *o, NodeOutput *ret_changed, char ***ret_touched,
                    size_t *ret_n_touched) {
        NodeOutput changed = { .files = xcalloc(o->n + 1, sizeof(NodeFile)) };
        char **touched = xcalloc(o->n + m->n + 1, sizeof(char *));
        size_t n_touched = 0, i = 0, j = 0;
        while (i < m->n || j < o->n) {
                const MemoFile *old = i < m->n ? m->files[i] : NULL;
                const NodeFile *f = j < o->n ? &o->files[j] : NULL;
                int c = !old ? 1 : !f ? -1 : strcmp(old->path, f->path);
                if (c < 0) {
                        touched[n_touched++] = xstrdup(old->path);
                        i++;
                } else if (c > 0 || !f->sha256[0] || !streq(old->sha256, f->sha256)) {
                        changed.files[changed.n++] = *f;
                        touched[n_touched++] = xstrdup(f->path);
                        i += c == 0;
                        j++;
                } else {
                        i++;
                        j++;
                }
        }
        *ret_changed = changed;
        *ret_touched = touched;
        *ret_n_touched = n_touched;
}
