/* SPDX-License-Identifier: MIT */
/* value: the scalar forms the encoder and the configuration read, with
 * exact results, and the near misses each parser refuses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "value.h"

typedef struct Int {
        int r;
        bool negative;
        uint64_t magnitude;
} Int;

static Int int_of(const char *s) {
        Int v = { .negative = true, .magnitude = 12345 }; /* must change on success */
        v.r = value_parse_int(s, &v.negative, &v.magnitude);
        return v;
}

static Int decimal_of(const char *s) {
        Int v = { .negative = true, .magnitude = 12345 };
        v.r = value_parse_decimal(s, &v.negative, &v.magnitude);
        return v;
}

typedef struct Time {
        int r;
        int64_t seconds;
        int32_t nanos;
} Time;

static Time duration_of(const char *s) {
        Time t = { .seconds = 777, .nanos = 777 }; /* untouched on failure */
        t.r = value_parse_duration(s, &t.seconds, &t.nanos);
        return t;
}

static Time timestamp_of(const char *s) {
        Time t = { .seconds = 777, .nanos = 777 };
        t.r = value_parse_timestamp(s, &t.seconds, &t.nanos);
        return t;
}

/* ---- integers (YAML integer scalars) ---- */

static void test_int_decimal(void **state) {
        Int v = int_of("42");
        assert_int_equal(v.r, 0);
        assert_false(v.negative);
        assert_int_equal(v.magnitude, 42);
}

static void test_int_signs(void **state) {
        Int v = int_of("-42");
        assert_int_equal(v.r, 0);
        assert_true(v.negative);
        assert_int_equal(v.magnitude, 42);
        v = int_of("+42");
        assert_int_equal(v.r, 0);
        assert_false(v.negative);
        assert_int_equal(v.magnitude, 42);
}

static void test_int_negative_zero_is_not_negative(void **state) {
        Int v = int_of("-0");
        assert_int_equal(v.r, 0);
        assert_false(v.negative);
        assert_int_equal(v.magnitude, 0);
}

static void test_int_hex(void **state) {
        assert_int_equal(int_of("0x1F").magnitude, 31);
        assert_int_equal(int_of("0XfF").magnitude, 255);
        Int v = int_of("-0x10");
        assert_int_equal(v.r, 0);
        assert_true(v.negative);
        assert_int_equal(v.magnitude, 16);
}

static void test_int_leading_zero_is_octal(void **state) {
        assert_int_equal(int_of("017").r, 0);
        assert_int_equal(int_of("017").magnitude, 15);
        assert_int_equal(int_of("0").magnitude, 0);
        assert_int_equal(int_of("08").r, -EINVAL);
}

static void test_int_64_bit_limits(void **state) {
        assert_int_equal(int_of("18446744073709551615").r, 0);
        assert_int_equal(int_of("18446744073709551615").magnitude, UINT64_MAX);
        assert_int_equal(int_of("0xffffffffffffffff").magnitude, UINT64_MAX);
        assert_int_equal(int_of("18446744073709551616").r, -ERANGE);
        assert_int_equal(int_of("0x10000000000000000").r, -ERANGE);
        assert_int_equal(int_of("-18446744073709551616").r, -ERANGE);
}

static void test_int_refuses_non_integers(void **state) {
        const char *bad[] = { "", "-", "+", "0x", "1.5", "1_000", " 1", "1 ", "1e3", "0b1", "12a" };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                Int v = int_of(bad[i]);
                assert_int_equal(v.r, -EINVAL);
                assert_int_equal(v.magnitude, 12345); /* outputs untouched */
        }
}

/* ---- integers as proto3 JSON decimal strings ---- */

static void test_decimal_64_bit_forms(void **state) {
        Int v = decimal_of("9223372036854775807");
        assert_int_equal(v.r, 0);
        assert_false(v.negative);
        assert_int_equal(v.magnitude, INT64_MAX);
        v = decimal_of("-9223372036854775808");
        assert_int_equal(v.r, 0);
        assert_true(v.negative);
        assert_int_equal(v.magnitude, (uint64_t) INT64_MAX + 1);
        v = decimal_of("18446744073709551615");
        assert_int_equal(v.r, 0);
        assert_int_equal(v.magnitude, UINT64_MAX);
}

static void test_decimal_zero(void **state) {
        assert_int_equal(decimal_of("0").r, 0);
        assert_int_equal(decimal_of("0").magnitude, 0);
        Int v = decimal_of("-0");
        assert_int_equal(v.r, 0);
        assert_false(v.negative);
}

static void test_decimal_refuses_hex_octal_and_plus(void **state) {
        const char *bad[] = { "0x10", "010", "+1", "", "-", "1.0", " 1", "1e3" };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                assert_int_equal(decimal_of(bad[i]).r, -EINVAL);
}

static void test_decimal_overflow(void **state) {
        assert_int_equal(decimal_of("18446744073709551616").r, -ERANGE);
}

/* ---- durations ---- */

static void test_duration_fraction(void **state) {
        Time t = duration_of("1.5s");
        assert_int_equal(t.r, 0);
        assert_int_equal(t.seconds, 1);
        assert_int_equal(t.nanos, 500000000);
        t = duration_of("0.25s");
        assert_int_equal(t.r, 0);
        assert_int_equal(t.seconds, 0);
        assert_int_equal(t.nanos, 250000000);
}

static void test_duration_nanosecond(void **state) {
        Time t = duration_of("0.000000001s");
        assert_int_equal(t.r, 0);
        assert_int_equal(t.seconds, 0);
        assert_int_equal(t.nanos, 1);
}

static void test_duration_negative_signs_both_parts(void **state) {
        Time t = duration_of("-1s");
        assert_int_equal(t.r, 0);
        assert_int_equal(t.seconds, -1);
        assert_int_equal(t.nanos, 0);
        t = duration_of("-0.5s");
        assert_int_equal(t.r, 0);
        assert_int_equal(t.seconds, 0);
        assert_int_equal(t.nanos, -500000000);
        t = duration_of("-1.000000001s");
        assert_int_equal(t.seconds, -1);
        assert_int_equal(t.nanos, -1);
}

static void test_duration_leading_zeros(void **state) {
        Time t = duration_of("007s");
        assert_int_equal(t.r, 0);
        assert_int_equal(t.seconds, 7);
}

static void test_duration_range(void **state) {
        Time t = duration_of("315576000000s");
        assert_int_equal(t.r, 0);
        assert_int_equal(t.seconds, 315576000000);
        t = duration_of("-315576000000s");
        assert_int_equal(t.r, 0);
        assert_int_equal(t.seconds, -315576000000);
        assert_int_equal(duration_of("315576000001s").r, -ERANGE);
        assert_int_equal(duration_of("-315576000001s").r, -ERANGE);
        assert_int_equal(duration_of("99999999999999999999999s").r, -ERANGE);
}

static void test_duration_refuses_other_forms(void **state) {
        const char *bad[] = { "1s5", "1", "1m", "1S", "+1s", "1.s", ".5s", "1.0000000001s", "", "s", "-s",
                              " 1s", "1s ", "1 s", "1e3s", "0x10s", "1.5.5s" };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                Time t = duration_of(bad[i]);
                assert_int_equal(t.r, -EINVAL);
                assert_int_equal(t.seconds, 777); /* outputs untouched */
                assert_int_equal(t.nanos, 777);
        }
}

/* ---- timestamps ---- */

static void test_timestamp_epoch(void **state) {
        Time t = timestamp_of("1970-01-01T00:00:00Z");
        assert_int_equal(t.r, 0);
        assert_int_equal(t.seconds, 0);
        assert_int_equal(t.nanos, 0);
}

static void test_timestamp_fraction(void **state) {
        Time t = timestamp_of("1970-01-02T00:00:01.5Z");
        assert_int_equal(t.r, 0);
        assert_int_equal(t.seconds, 86401);
        assert_int_equal(t.nanos, 500000000);
        t = timestamp_of("1970-01-01T00:00:00.000000001Z");
        assert_int_equal(t.nanos, 1);
}

static void test_timestamp_lower_case_t_and_z(void **state) {
        Time t = timestamp_of("1970-01-01t00:00:10z");
        assert_int_equal(t.r, 0);
        assert_int_equal(t.seconds, 10);
}

static void test_timestamp_offsets(void **state) {
        Time t = timestamp_of("2024-02-29T01:00:00+01:00");
        assert_int_equal(t.r, 0);
        assert_int_equal(t.seconds, 1709164800);
        t = timestamp_of("1970-01-01T00:00:00-01:30");
        assert_int_equal(t.r, 0);
        assert_int_equal(t.seconds, 5400);
}

static void test_timestamp_year_range(void **state) {
        Time t = timestamp_of("0001-01-01T00:00:00Z");
        assert_int_equal(t.r, 0);
        assert_int_equal(t.seconds, -62135596800);
        t = timestamp_of("9999-12-31T23:59:59.999999999Z");
        assert_int_equal(t.r, 0);
        assert_int_equal(t.seconds, 253402300799);
        assert_int_equal(t.nanos, 999999999);
        assert_int_equal(timestamp_of("0000-01-01T00:00:00Z").r, -EINVAL);
}

static void test_timestamp_leap_days(void **state) {
        Time t = timestamp_of("2000-02-29T00:00:00Z");
        assert_int_equal(t.r, 0);
        assert_int_equal(t.seconds, 951782400);
        assert_int_equal(timestamp_of("2023-02-29T00:00:00Z").r, -EINVAL);
        assert_int_equal(timestamp_of("1900-02-29T00:00:00Z").r, -EINVAL);
}

static void test_timestamp_refuses_other_forms(void **state) {
        const char *bad[] = {
                "1970-01-01T00:00:00",       /* no zone */
                "1970-01-01 00:00:00Z",      /* space for T */
                "1970-01-01T00:00:60Z",      /* leap second */
                "1970-04-31T00:00:00Z",      /* no such day */
                "1970-13-01T00:00:00Z",
                "1970-01-01T24:00:00Z",
                "1970-01-01T00:00:00.Z",     /* empty fraction */
                "1970-01-01T00:00:00.0000000001Z",
                "1970-01-01T00:00:00+0100",  /* offset without colon */
                "1970-01-01T00:00:00+24:00",
                "1970-01-01T00:00:00Zx",
                "70-01-01T00:00:00Z",
                "1970-1-1T00:00:00Z",
                "",
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                Time t = timestamp_of(bad[i]);
                assert_int_equal(t.r, -EINVAL);
                assert_int_equal(t.seconds, 777);
        }
}

/* ---- base64 ---- */

static void assert_base64(const char *s, const char *want, size_t want_len) {
        Buf b = {};
        assert_int_equal(value_base64_decode(s, strlen(s), &b), 0);
        assert_int_equal(b.len, want_len);
        if (want_len > 0)
                assert_memory_equal(b.data, want, want_len);
        buf_free(&b);
}

static void test_base64_standard(void **state) {
        assert_base64("QUJD", "ABC", 3);
        assert_base64("+/8=", "\xfb\xff", 2);
}

static void test_base64_url_safe(void **state) {
        assert_base64("-_8=", "\xfb\xff", 2);
        assert_base64("_-8", "\xff\xef", 2);
}

static void test_base64_padding_optional(void **state) {
        assert_base64("QUI=", "AB", 2);
        assert_base64("QUI", "AB", 2);
        assert_base64("QQ==", "A", 1);
        assert_base64("QQ", "A", 1);
        assert_base64("", "", 0);
}

static void test_base64_refuses_bad_text(void **state) {
        const char *bad[] = { "Q", "QQ===", "QQ=A", "QU JD", "QUJD\n", "a$", "QUJDR" };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                Buf b = {};
                assert_int_equal(value_base64_decode(bad[i], strlen(bad[i]), &b), -EINVAL);
                buf_free(&b);
        }
}

static void test_base64_appends_and_leaves_out_alone_on_error(void **state) {
        Buf b = {};
        buf_append(&b, "x", 1);
        assert_int_equal(value_base64_decode("QUJD", 4, &b), 0);
        assert_int_equal(b.len, 4);
        assert_memory_equal(b.data, "xABC", 4);
        assert_int_equal(value_base64_decode("QUJD$", 5, &b), -EINVAL);
        assert_int_equal(b.len, 4);
        assert_memory_equal(b.data, "xABC", 4);
        buf_free(&b);
}

static void test_base64_length_bounds_input(void **state) {
        /* len, not the NUL, ends the text: "QUJD" of "QUJDQUJD" */
        Buf b = {};
        assert_int_equal(value_base64_decode("QUJDQUJD", 4, &b), 0);
        assert_int_equal(b.len, 3);
        buf_free(&b);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_int_decimal),
                cmocka_unit_test(test_int_signs),
                cmocka_unit_test(test_int_negative_zero_is_not_negative),
                cmocka_unit_test(test_int_hex),
                cmocka_unit_test(test_int_leading_zero_is_octal),
                cmocka_unit_test(test_int_64_bit_limits),
                cmocka_unit_test(test_int_refuses_non_integers),
                cmocka_unit_test(test_decimal_64_bit_forms),
                cmocka_unit_test(test_decimal_zero),
                cmocka_unit_test(test_decimal_refuses_hex_octal_and_plus),
                cmocka_unit_test(test_decimal_overflow),
                cmocka_unit_test(test_duration_fraction),
                cmocka_unit_test(test_duration_nanosecond),
                cmocka_unit_test(test_duration_negative_signs_both_parts),
                cmocka_unit_test(test_duration_leading_zeros),
                cmocka_unit_test(test_duration_range),
                cmocka_unit_test(test_duration_refuses_other_forms),
                cmocka_unit_test(test_timestamp_epoch),
                cmocka_unit_test(test_timestamp_fraction),
                cmocka_unit_test(test_timestamp_lower_case_t_and_z),
                cmocka_unit_test(test_timestamp_offsets),
                cmocka_unit_test(test_timestamp_year_range),
                cmocka_unit_test(test_timestamp_leap_days),
                cmocka_unit_test(test_timestamp_refuses_other_forms),
                cmocka_unit_test(test_base64_standard),
                cmocka_unit_test(test_base64_url_safe),
                cmocka_unit_test(test_base64_padding_optional),
                cmocka_unit_test(test_base64_refuses_bad_text),
                cmocka_unit_test(test_base64_appends_and_leaves_out_alone_on_error),
                cmocka_unit_test(test_base64_length_bounds_input),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
