/* SPDX-License-Identifier: MIT */
/* The source watch's table of directories (interface in dirtable.h): one
 * node per directory, chained in two hash indexes, by key and by path. */
#include "dirscan.h"
#include "dirtable.h"
#include "hashmap.h"

DirNode *dirtable_node_new(const uint8_t *key, size_t key_len, const char *path, int wd) {
        DirNode *d = xcalloc(1, sizeof(DirNode) + key_len);
        memcpy(d->key, key, key_len);
        d->key_len = key_len;
        d->key_hash = hash_bytes(key, key_len);
        d->path = xstrdup(path);
        d->path_hash = hash_bytes(path, strlen(path));
        d->wd = wd;
        return d;
}

void dirtable_node_free(DirNode *d) {
        if (d->scan) {
                dirscan_done(d->scan);
                free(d->scan);
        }
        free(d->path);
        free(d);
}

static void dirtable_link(DirTable *t, DirNode *d) {
        size_t mask = t->n_buckets - 1;
        d->next_key = t->by_key[d->key_hash & mask];
        t->by_key[d->key_hash & mask] = d;
        d->next_path = t->by_path[d->path_hash & mask];
        t->by_path[d->path_hash & mask] = d;
}

void dirtable_add(DirTable *t, DirNode *d) {
        if (t->n >= t->n_buckets) {
                DirNode **old = t->by_key;
                size_t n_old = t->n_buckets;
                t->n_buckets = n_old ? n_old * 2 : 64;
                t->by_key = xcalloc(t->n_buckets, sizeof(DirNode *));
                free(t->by_path);
                t->by_path = xcalloc(t->n_buckets, sizeof(DirNode *));
                for (size_t i = 0; i < n_old; i++)
                        for (DirNode *e = old[i], *next; e; e = next) {
                                next = e->next_key;
                                dirtable_link(t, e);
                        }
                free(old);
        }
        dirtable_link(t, d);
        t->n++;
}

DirNode *dirtable_find_key(const DirTable *t, const void *key, size_t key_len) {
        if (t->n == 0)
                return NULL;
        uint64_t h = hash_bytes(key, key_len);
        for (DirNode *d = t->by_key[h & (t->n_buckets - 1)]; d; d = d->next_key)
                if (d->key_hash == h && d->key_len == key_len && memcmp(d->key, key, key_len) == 0)
                        return d;
        return NULL;
}

DirNode *dirtable_find_path(const DirTable *t, const char *path) {
        if (t->n == 0)
                return NULL;
        uint64_t h = hash_bytes(path, strlen(path));
        for (DirNode *d = t->by_path[h & (t->n_buckets - 1)]; d; d = d->next_path)
                if (d->path_hash == h && streq(d->path, path))
                        return d;
        return NULL;
}

void dirtable_unlink_path(DirTable *t, DirNode *d) {
        DirNode **pp = &t->by_path[d->path_hash & (t->n_buckets - 1)];
        while (*pp != d)
                pp = &(*pp)->next_path;
        *pp = d->next_path;
}

void dirtable_remove(DirTable *t, DirNode *d) {
        DirNode **pp = &t->by_key[d->key_hash & (t->n_buckets - 1)];
        while (*pp != d)
                pp = &(*pp)->next_key;
        *pp = d->next_key;
        dirtable_unlink_path(t, d);
        t->n--;
}

void dirtable_set_path(DirTable *t, DirNode *d, const char *path) {
        dirtable_unlink_path(t, d);
        free(d->path);
        d->path = xstrdup(path);
        d->path_hash = hash_bytes(path, strlen(path));
        size_t b = d->path_hash & (t->n_buckets - 1);
        d->next_path = t->by_path[b];
        t->by_path[b] = d;
}

void dirtable_done(DirTable *t) {
        for (size_t i = 0; i < t->n_buckets; i++)
                for (DirNode *d = t->by_key[i], *next; d; d = next) {
                        next = d->next_key;
                        dirtable_node_free(d);
                }
        free(t->by_key);
        free(t->by_path);
        for (size_t i = 0; i < t->n_links; i++)
                free(t->links[i]);
        free(t->links);
        *t = (DirTable) {};
}

bool dirtable_note_link(DirTable *t, const char *path, bool add) {
        for (size_t i = 0; i < t->n_links; i++)
                if (streq(t->links[i], path)) {
                        if (!add) {
                                free(t->links[i]);
                                t->links[i] = t->links[--t->n_links];
                        }
                        return true;
                }
        if (add) {
                t->links = xrealloc(t->links, (t->n_links + 1) * sizeof(char *));
                t->links[t->n_links++] = xstrdup(path);
        }
        return false;
}
