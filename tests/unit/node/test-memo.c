/* SPDX-License-Identifier: MIT */
/* node_memo_follow(): a memo made to follow another, touching only what
 * differs, ends as node_memo_copy() would make it: the same descriptions,
 * and every description's references right (the table empty once every
 * memo is done). Random file sets, random changes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <cmocka.h>

#include "memo.h"

#define N_PATHS 40

/* a file set: path i present with content version v[i] (0: absent) */
static void output_of(const unsigned *v, NodeOutput *o, char paths[N_PATHS][32]) {
        o->files = calloc(N_PATHS + 1, sizeof(NodeFile));
        o->n = 0;
        for (unsigned i = 0; i < N_PATHS; i++) {
                if (!v[i])
                        continue;
                NodeFile *f = &o->files[o->n++];
                snprintf(paths[i], 32, "eds/p%02u.pb", i);
                f->path = paths[i];
                snprintf(f->sha256, sizeof f->sha256, "%064u", v[i]);
                f->type = _RESOURCE_TYPE_INVALID;
        }
}

static void random_set(unsigned *v) {
        for (unsigned i = 0; i < N_PATHS; i++)
                v[i] = (unsigned) (random() % 4); /* 0: absent, else one of 3 contents */
}

static void test_follow_random(void **state) {
        srandom(15);
        for (int round = 0; round < 500; round++) {
                MemoTable t = {};
                unsigned va[N_PATHS], vb[N_PATHS];
                char pa[N_PATHS][32], pb[N_PATHS][32];
                random_set(va);
                memcpy(vb, va, sizeof vb);
                int changes = (int) (random() % 6);
                for (int c = 0; c < changes; c++)
                        vb[random() % N_PATHS] = (unsigned) (random() % 4);
                if (round % 50 == 0)
                        random_set(vb); /* now and then another set altogether */
                NodeOutput oa, ob;
                output_of(va, &oa, pa);
                output_of(vb, &ob, pb);
                NodeMemo a = {}, b = {}, r = {};
                node_memo_set(&t, &a, &oa);
                node_memo_set(&t, &b, &ob);
                node_memo_copy(&t, &r, &a);
                node_memo_follow(&t, &r, &b);
                assert_int_equal(r.n, b.n);
                for (size_t i = 0; i < b.n; i++)
                        assert_ptr_equal(r.files[i], b.files[i]);
                /* references: each description as many as the memos holding it */
                for (size_t i = 0; i < b.n; i++) {
                        unsigned held = 2;
                        for (size_t k = 0; k < a.n; k++)
                                held += a.files[k] == b.files[i];
                        assert_int_equal(b.files[i]->refs, held);
                }
                for (size_t k = 0; k < a.n; k++) {
                        unsigned held = 1;
                        for (size_t i = 0; i < b.n; i++)
                                held += 2 * (a.files[k] == b.files[i]);
                        assert_int_equal(a.files[k]->refs, held);
                }
                node_memo_done(&t, &a);
                node_memo_done(&t, &b);
                node_memo_done(&t, &r);
                assert_int_equal(t.files.n, 0);
                hashmap_free(&t.files);
                free(oa.files);
                free(ob.files);
        }
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_follow_random),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
