/* SPDX-License-Identifier: MIT */
/* A string-keyed open-addressing hash table; keys are borrowed (with their
 * length), never copied, so they must outlive the table. */
#pragma once

#include "util.h"

typedef struct HashmapEntry {
        const char *key;
        size_t key_len;
        uint64_t hash;
        void *value;
} HashmapEntry;

typedef struct Hashmap {
        HashmapEntry *entries;
        size_t cap; /* power of two */
        size_t n;
} Hashmap;

uint64_t hash_bytes(const void *p, size_t n);
/* Returns the previous value for key, or NULL (and inserts). */
void *hashmap_put(Hashmap *h, const char *key, size_t key_len, void *value);
void *hashmap_get(const Hashmap *h, const char *key, size_t key_len);
/* Removes key; returns its value, or NULL when it was absent. */
void *hashmap_remove(Hashmap *h, const char *key, size_t key_len);
void hashmap_free(Hashmap *h);
