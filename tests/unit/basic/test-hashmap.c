/* SPDX-License-Identifier: MIT */
/* hashmap: the string-keyed table — put, get, overwrite, remove (with the
 * probe runs it leaves behind intact), growth, and keys compared by their
 * bytes and length, never copied. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "hashmap.h"

static void test_hash_bytes_is_fnv1a(void **state) {
        /* FNV-1a 64-bit test vectors */
        assert_true(hash_bytes("", 0) == 0xcbf29ce484222325ULL);
        assert_true(hash_bytes("a", 1) == 0xaf63dc4c8601ec8cULL);
        assert_true(hash_bytes("foobar", 6) == 0x85944171f73967e8ULL);
}

static void test_put_get(void **state) {
        Hashmap h = {};
        int one = 1, two = 2;
        assert_null(hashmap_get(&h, "one", 3)); /* empty table */
        assert_null(hashmap_put(&h, "one", 3, &one));
        assert_null(hashmap_put(&h, "two", 3, &two));
        assert_int_equal(h.n, 2);
        assert_ptr_equal(hashmap_get(&h, "one", 3), &one);
        assert_ptr_equal(hashmap_get(&h, "two", 3), &two);
        assert_null(hashmap_get(&h, "three", 5));
        hashmap_free(&h);
        assert_null(h.entries);
        assert_int_equal(h.n, 0);
        assert_int_equal(h.cap, 0);
}

static void test_overwrite_returns_previous(void **state) {
        Hashmap h = {};
        int a = 1, b = 2;
        assert_null(hashmap_put(&h, "k", 1, &a));
        assert_ptr_equal(hashmap_put(&h, "k", 1, &b), &a);
        assert_int_equal(h.n, 1);
        assert_ptr_equal(hashmap_get(&h, "k", 1), &b);
        hashmap_free(&h);
}

static void test_key_is_bytes_and_length(void **state) {
        Hashmap h = {};
        int whole = 1, prefix = 2;
        const char *text = "cluster_a";
        hashmap_put(&h, text, strlen(text), &whole);
        hashmap_put(&h, text, 7, &prefix); /* "cluster" */
        assert_int_equal(h.n, 2);
        assert_ptr_equal(hashmap_get(&h, "cluster_a", 9), &whole);
        assert_ptr_equal(hashmap_get(&h, "cluster", 7), &prefix);
        assert_null(hashmap_get(&h, "cluster_", 8));
        /* a key with a NUL inside is its bytes */
        int nul = 3;
        hashmap_put(&h, "x\0y", 3, &nul);
        assert_ptr_equal(hashmap_get(&h, "x\0y", 3), &nul);
        assert_null(hashmap_get(&h, "x", 1));
        hashmap_free(&h);
}

static void test_remove(void **state) {
        Hashmap h = {};
        int a = 1, b = 2;
        assert_null(hashmap_remove(&h, "a", 1)); /* empty table */
        hashmap_put(&h, "a", 1, &a);
        hashmap_put(&h, "b", 1, &b);
        assert_null(hashmap_remove(&h, "c", 1));
        assert_ptr_equal(hashmap_remove(&h, "a", 1), &a);
        assert_int_equal(h.n, 1);
        assert_null(hashmap_get(&h, "a", 1));
        assert_ptr_equal(hashmap_get(&h, "b", 1), &b);
        assert_null(hashmap_remove(&h, "a", 1));
        hashmap_free(&h);
}

#define N_KEYS 1000

static void test_grow_and_iterate(void **state) {
        Hashmap h = {};
        static char keys[N_KEYS][16];
        static int values[N_KEYS];
        for (size_t i = 0; i < N_KEYS; i++) {
                snprintf(keys[i], sizeof keys[i], "key-%zu", i);
                values[i] = (int) i;
                assert_null(hashmap_put(&h, keys[i], strlen(keys[i]), &values[i]));
                /* load factor at most 3/4, capacity a power of two */
                assert_true(h.n * 4 <= h.cap * 3);
                assert_int_equal(h.cap & (h.cap - 1), 0);
        }
        assert_int_equal(h.n, N_KEYS);
        assert_int_equal(h.cap, 2048);
        for (size_t i = 0; i < N_KEYS; i++)
                assert_ptr_equal(hashmap_get(&h, keys[i], strlen(keys[i])), &values[i]);

        /* the entries are every pair exactly once, keys borrowed not copied */
        bool seen[N_KEYS] = {};
        size_t n = 0;
        for (size_t i = 0; i < h.cap; i++) {
                const HashmapEntry *e = &h.entries[i];
                if (!e->key)
                        continue;
                int v = *(const int *) e->value;
                assert_false(seen[v]);
                seen[v] = true;
                assert_ptr_equal(e->key, keys[v]);
                assert_int_equal(e->key_len, strlen(keys[v]));
                assert_true(e->hash == hash_bytes(keys[v], e->key_len));
                n++;
        }
        assert_int_equal(n, N_KEYS);
        hashmap_free(&h);
}

static void test_remove_keeps_probe_runs(void **state) {
        Hashmap h = {};
        static char keys[N_KEYS][16];
        static int values[N_KEYS];
        for (size_t i = 0; i < N_KEYS; i++) {
                snprintf(keys[i], sizeof keys[i], "k%zu", i);
                values[i] = (int) i;
                hashmap_put(&h, keys[i], strlen(keys[i]), &values[i]);
        }
        /* remove every other key: every remaining one is still found */
        for (size_t i = 0; i < N_KEYS; i += 2)
                assert_ptr_equal(hashmap_remove(&h, keys[i], strlen(keys[i])), &values[i]);
        assert_int_equal(h.n, N_KEYS / 2);
        for (size_t i = 0; i < N_KEYS; i++) {
                void *v = hashmap_get(&h, keys[i], strlen(keys[i]));
                if (i % 2 == 0)
                        assert_null(v);
                else
                        assert_ptr_equal(v, &values[i]);
        }
        /* and put back, each is new again */
        for (size_t i = 0; i < N_KEYS; i += 2)
                assert_null(hashmap_put(&h, keys[i], strlen(keys[i]), &values[i]));
        assert_int_equal(h.n, N_KEYS);
        hashmap_free(&h);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_hash_bytes_is_fnv1a),
                cmocka_unit_test(test_put_get),
                cmocka_unit_test(test_overwrite_returns_previous),
                cmocka_unit_test(test_key_is_bytes_and_length),
                cmocka_unit_test(test_remove),
                cmocka_unit_test(test_grow_and_iterate),
                cmocka_unit_test(test_remove_keeps_probe_runs),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
