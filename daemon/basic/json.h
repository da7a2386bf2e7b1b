/* SPDX-License-Identifier: MIT */
/* A small JSON reader: the whole document as a tree. Any key order,
 * unknown keys, escapes (\u0000 refused: strings are C strings); nesting
 * bounded. Used for status.json (fsxds status) and MANIFEST. */
#pragma once

#include "util.h"

typedef enum JsonKind {
        JSON_NULL,
        JSON_BOOL,
        JSON_NUMBER,
        JSON_STRING,
        JSON_ARRAY,
        JSON_OBJECT,
} JsonKind;

typedef struct Json Json;
struct Json {
        JsonKind kind;
        bool boolean;
        char *str;   /* JSON_STRING: the value (no NUL inside); JSON_NUMBER: its text */
        char **keys; /* JSON_OBJECT */
        Json **items;
        size_t n;
};

Json *json_free(Json *j);
DEFINE_TRIVIAL_CLEANUP_FUNC(Json *, json_free);

/* Returns 0, or -EBADMSG with *ret_error set to "line:column: error: ...". */
int json_parse(const char *data, size_t len, char **ret_error, Json **ret);
/* The value of key in object j (the last one when repeated), or NULL. */
const Json *json_get(const Json *j, const char *key);
/* An integer (no fraction, no exponent) that fits int64_t. */
bool json_get_int(const Json *j, const char *key, int64_t *ret);
const char *json_get_str(const Json *j, const char *key);
/* The same as a copy (free()), NULL when absent or not a string. */
char *json_get_strdup(const Json *j, const char *key);
/* json_get_int()'s value, or dflt when absent or not such an integer. */
int64_t json_get_int_or(const Json *j, const char *key, int64_t dflt);
/* true only for the JSON value true */
bool json_get_true(const Json *j, const char *key);
