/* SPDX-License-Identifier: MIT */
/* The node floor's tests' source tree: a mkdtemp() directory the group's
 * setup makes (with the built-in schema) and its teardown removes, and
 * put() to write a file in it. Include after cmocka.h. */
#pragma once

#include <ftw.h>
#include <sys/stat.h>

#include "schema.h"
#include "util.h"

static Schema *schema;
static char tree[] = "/tmp/fsxds-test-node-XXXXXX";

static void put(const char *rel, const char *text) {
        _cleanup_free_ char *p = xasprintf("%s/%s", tree, rel);
        _cleanup_free_ char *d = xstrdup(p);
        *strrchr(d, '/') = 0;
        assert_int_equal(mkdir_p(d, 0755), 0);
        assert_int_equal(write_file_atomic(p, text, strlen(text), 0644), 0);
}

static int rm_cb(const char *p, const struct stat *st, int flag, struct FTW *ftw) {
        return remove(p);
}

static int setup(void **state) {
        assert_non_null(mkdtemp(tree));
        return schema_load_builtin(&schema);
}

static int teardown(void **state) {
        nftw(tree, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
        schema = schema_free(schema);
        return 0;
}
