/* SPDX-License-Identifier: MIT */
/* The node directory layout: one table from resource type to directory,
 * the file naming of resources, node ids and publish modes. */
#include "layout.h"

static const char *const publish_mode_table[_PUBLISH_MODE_MAX] = {
        [PUBLISH_MODE_RENAME] = "rename",
        [PUBLISH_MODE_WATCHED_DIRECTORY] = "watched_directory",
};

DEFINE_STRING_TABLE_LOOKUP(publish_mode, PublishMode);

static const struct {
        const char *dir;
        bool sotw;
} type_layout[_RESOURCE_TYPE_MAX] = {
        [RESOURCE_LISTENER] = { "lds", true },
        [RESOURCE_ROUTE_CONFIGURATION] = { "rds", false },
        [RESOURCE_SCOPED_ROUTE_CONFIGURATION] = { "srds", true },
        [RESOURCE_VIRTUAL_HOST] = { NULL, false },
        [RESOURCE_CLUSTER] = { "cds", true },
        [RESOURCE_CLUSTER_LOAD_ASSIGNMENT] = { "eds", false },
        [RESOURCE_SECRET] = { "sds", false },
        [RESOURCE_RUNTIME] = { "rtds", false },
};

const char *resource_type_dir(ResourceType t) {
        return t >= 0 && t < _RESOURCE_TYPE_MAX ? type_layout[t].dir : NULL;
}

ResourceType resource_type_from_dir(const char *dir) {
        for (int t = 0; t < _RESOURCE_TYPE_MAX; t++)
                if (type_layout[t].dir && streq(type_layout[t].dir, dir))
                        return (ResourceType) t;
        return _RESOURCE_TYPE_INVALID;
}

bool resource_type_is_sotw(ResourceType t) {
        return t >= 0 && t < _RESOURCE_TYPE_MAX && type_layout[t].sotw;
}

bool node_id_is_valid(const char *id) {
        size_t n = strlen(id);
        if (n == 0 || n > 128 || id[0] == '.')
                return false;
        for (const char *p = id; *p; p++)
                if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
                      *p == '.' || *p == '_' || *p == '-'))
                        return false;
        return true;
}

char *layout_file_name(const char *name) {
        Buf b = {};
        for (const unsigned char *p = (const unsigned char *) name; *p; p++) {
                bool safe = (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
                        *p == '_' || *p == '-' || (*p == '.' && p != (const unsigned char *) name);
                if (safe)
                        buf_putc(&b, *p);
                else
                        buf_printf(&b, "%%%02X", *p);
        }
        buf_append(&b, ".pb", 3);
        if (b.len > 255) {
                buf_free(&b);
                return NULL;
        }
        return buf_steal_str(&b);
}

char *layout_file_path(ResourceType t, const char *resource_name) {
        const char *dir = resource_type_dir(t);
        if (!dir)
                return NULL;
        if (type_layout[t].sotw)
                return xasprintf("%s/%s.pb", dir, dir);
        _cleanup_free_ char *fname = layout_file_name(resource_name);
        return fname ? xasprintf("%s/%s", dir, fname) : NULL;
}
