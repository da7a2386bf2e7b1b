/* SPDX-License-Identifier: MIT */
/* check-cases: the one harness of the test-envoy-checks-*.c unit tests (see
 * check-cases.h): compile a case's YAML at its Envoy release, keep the
 * diagnostics of its rule, compare them with the one expected or none. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "check-cases.h"

Schema *check_schema;

int check_cases_setup(void **state) {
        return schema_load_builtin(&check_schema);
}

int check_cases_teardown(void **state) {
        check_schema = schema_free(check_schema);
        return 0;
}

void check_compile(const char *yaml, uint32_t envoy_version, DiagList *ret) {
        CompileResult rc = {};
        uint32_t saved = schema_envoy_version(check_schema);
        if (envoy_version)
                schema_set_envoy_version(check_schema, envoy_version);
        (void) compile_data(check_schema, "t.yaml", yaml, strlen(yaml), NULL, ret, &rc);
        schema_set_envoy_version(check_schema, saved);
        compile_result_done(&rc);
}

/* d formatted without "t.yaml:" in front and " [rule]" behind */
static char *format_short(const Diag *d) {
        _cleanup_free_ char *s = diag_format(d);
        const char *p = startswith(s, "t.yaml:") ? s + strlen("t.yaml:") : s;
        size_t n = strlen(p);
        if (d->rule && n >= strlen(d->rule) + 3)
                n -= strlen(d->rule) + 3;
        return xstrndup(p, n);
}

static void run_case(size_t i, const CheckCase *c, CheckOthers others) {
        DiagList diags = {};
        check_compile(c->yaml, c->envoy_version, &diags);
        const Diag *found = NULL;
        size_t n = 0, n_other_errors = 0;
        for (size_t j = 0; j < diags.n; j++) {
                const Diag *d = &diags.items[j];
                if (d->rule && streq(d->rule, c->rule)) {
                        if (n++ == 0)
                                found = d;
                } else if (d->level == DIAG_ERROR)
                        n_other_errors++;
        }
        _cleanup_free_ char *got = found ? format_short(found) : NULL;
        const char *why = NULL;
        if (c->expect && n != 1)
                why = "want exactly one diagnostic of the rule";
        else if (c->expect && !streq(got, c->expect) && !streq(found->message, c->expect))
                why = "the diagnostic differs";
        else if (!c->expect && n != 0)
                why = "the passing input gives the rule's diagnostic";
        else if (others == CHECK_OTHERS_NO_ERRORS && n_other_errors > 0)
                why = "errors of other rules";
        else if (others == CHECK_OTHERS_NONE_WHEN_CLEAN && !c->expect && diags.n > 0)
                why = "the passing input gives diagnostics";
        if (why)
                diag_list_print(&diags, stderr);
        diag_list_clear(&diags);
        if (why)
                fail_msg("case %zu (%s): %s: want \"%s\", got %zu: \"%s\"", i, c->rule, why, c->expect ?: "(none)", n,
                         got ?: "");
}

void check_cases_run(const CheckCase *cases, size_t n, CheckOthers others) {
        for (size_t i = 0; i < n; i++)
                run_case(i, &cases[i], others);
}

typedef struct CheckTable {
        const CheckCase *cases;
        size_t n;
        CheckOthers others;
} CheckTable;

static void test_table(void **state) {
        const CheckTable *t = *state;
        check_cases_run(t->cases, t->n, t->others);
}

int check_cases_main(const char *name, const CheckCase *cases, size_t n, CheckOthers others) {
        CheckTable table = { cases, n, others };
        const struct CMUnitTest tests[] = {
                { name, test_table, NULL, NULL, &table },
        };
        return cmocka_run_group_tests(tests, check_cases_setup, check_cases_teardown);
}
