/* SPDX-License-Identifier: MIT */
/* check-cases: the harness of the test-envoy-checks-*.c unit tests. A case
 * is one YAML text compiled with the built-in schema at an Envoy release,
 * and what it must give of one rule: exactly the expected diagnostic, or
 * none. */
#pragma once

#include "compile.h"

typedef struct CheckCase {
        const char *rule;
        const char *yaml;
        /* NULL: no diagnostic names rule. Else exactly one does, and it reads
         * expect: "LINE:COLUMN: LEVEL: PATH: MESSAGE", or its MESSAGE alone */
        const char *expect;
        uint32_t envoy_version; /* ENVOY_VERSION(); 0: the schema's default */
} CheckCase;

/* What a case says of the diagnostics of other rules */
typedef enum CheckOthers {
        CHECK_OTHERS_IGNORED,
        CHECK_OTHERS_NO_ERRORS,       /* no error of another rule */
        CHECK_OTHERS_NONE_WHEN_CLEAN, /* a passing input gives no diagnostic at all */
} CheckOthers;

/* The built-in schema, loaded by check_cases_setup() (cmocka's group setup)
 * and freed by check_cases_teardown(). */
extern Schema *check_schema;
int check_cases_setup(void **state);
int check_cases_teardown(void **state);

/* Compiles yaml as "t.yaml" at envoy_version (0: the default) into *ret;
 * the schema's envoy_version is restored afterwards. */
void check_compile(const char *yaml, uint32_t envoy_version, DiagList *ret);

/* Fails the test, naming the case, unless every case gives what it expects. */
void check_cases_run(const CheckCase *cases, size_t n, CheckOthers others);

/* The main() of a test that is one table of cases: runs them as the cmocka
 * test name, between check_cases_setup() and check_cases_teardown(). */
int check_cases_main(const char *name, const CheckCase *cases, size_t n, CheckOthers others);
