/* SPDX-License-Identifier: MIT */
/* String-keyed open-addressing hash table (FNV-1a, linear probing). */
#include "hashmap.h"

uint64_t hash_bytes(const void *p, size_t n) {
        const uint8_t *s = p;
        uint64_t h = 0xcbf29ce484222325ULL;
        for (size_t i = 0; i < n; i++) {
                h ^= s[i];
                h *= 0x100000001b3ULL;
        }
        return h;
}

static void hashmap_grow(Hashmap *h) {
        size_t ncap = h->cap ? h->cap * 2 : 16;
        HashmapEntry *e = xcalloc(ncap, sizeof(HashmapEntry));
        for (size_t i = 0; i < h->cap; i++) {
                if (!h->entries[i].key)
                        continue;
                size_t j = h->entries[i].hash & (ncap - 1);
                while (e[j].key)
                        j = (j + 1) & (ncap - 1);
                e[j] = h->entries[i];
        }
        free(h->entries);
        h->entries = e;
        h->cap = ncap;
}

void *hashmap_put(Hashmap *h, const char *key, size_t key_len, void *value) {
        if ((h->n + 1) * 4 > h->cap * 3)
                hashmap_grow(h);
        uint64_t hv = hash_bytes(key, key_len);
        size_t j = hv & (h->cap - 1);
        while (h->entries[j].key) {
                HashmapEntry *e = &h->entries[j];
                if (e->hash == hv && e->key_len == key_len && memcmp(e->key, key, key_len) == 0) {
                        void *old = e->value;
                        e->value = value;
                        return old;
                }
                j = (j + 1) & (h->cap - 1);
        }
        h->entries[j] = (HashmapEntry) { key, key_len, hv, value };
        h->n++;
        return NULL;
}

void *hashmap_get(const Hashmap *h, const char *key, size_t key_len) {
        if (h->n == 0)
                return NULL;
        uint64_t hv = hash_bytes(key, key_len);
        size_t j = hv & (h->cap - 1);
        while (h->entries[j].key) {
                const HashmapEntry *e = &h->entries[j];
                if (e->hash == hv && e->key_len == key_len && memcmp(e->key, key, key_len) == 0)
                        return e->value;
                j = (j + 1) & (h->cap - 1);
        }
        return NULL;
}

void *hashmap_remove(Hashmap *h, const char *key, size_t key_len) {
        if (h->n == 0)
                return NULL;
        uint64_t hv = hash_bytes(key, key_len);
        size_t mask = h->cap - 1;
        for (size_t j = hv & mask; h->entries[j].key; j = (j + 1) & mask) {
                HashmapEntry *e = &h->entries[j];
                if (e->hash != hv || e->key_len != key_len || memcmp(e->key, key, key_len) != 0)
                        continue;
                void *value = e->value;
                /* backward shift: later entries of the run move into the hole
                 * unless their home slot lies cyclically in (hole, k] */
                size_t hole = j;
                for (size_t k = (j + 1) & mask; h->entries[k].key; k = (k + 1) & mask) {
                        size_t home = h->entries[k].hash & mask;
                        bool stays = hole <= k ? home > hole && home <= k : home > hole || home <= k;
                        if (!stays) {
                                h->entries[hole] = h->entries[k];
                                hole = k;
                        }
                }
                h->entries[hole] = (HashmapEntry) {};
                h->n--;
                return value;
        }
        return NULL;
}

void hashmap_free(Hashmap *h) {
        free(h->entries);
        *h = (Hashmap) {};
}
