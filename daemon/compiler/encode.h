/* SPDX-License-Identifier: MIT */
/* The schema-driven encoder: walks a YamlNode tree against a message type
 * and writes protobuf wire format directly, with the semantics of Envoy's
 * loader (proto3 JSON mapping in protobuf's legacy mode). Problems become
 * diagnostics at the user's line with the field path; encoding goes on
 * after an error so one run reports everything it can. */
#pragma once

#include "diag.h"
#include "schema.h"
#include "yamltree.h"

typedef struct Encoder {
        const Schema *schema;
        const char *file; /* for diagnostics */
        DiagList *diags;
        Buf path;         /* current field path */
        size_t n_errors;  /* errors since creation */
        unsigned depth;
        unsigned no_validate; /* inside a field whose rules say skip */
} Encoder;

void encoder_init(Encoder *e, const Schema *schema, const char *file, DiagList *diags);
void encoder_done(Encoder *e);
/* Sets the field path prefix for what follows, e.g. "resources[3]". */
void encoder_set_path(Encoder *e, const char *path);

/* Encodes node as the body of message m, appended to out. Returns the
 * number of errors added (0 = out holds a valid encoding). */
size_t encode_message(Encoder *e, const SchemaMessage *m, const YamlNode *node, Buf *out);
/* Encodes a mapping with "@type" as the body of a google.protobuf.Any.
 * ret_type (optional) gets the resolved message type. */
size_t encode_any(Encoder *e, const YamlNode *node, Buf *out, const SchemaMessage **ret_type);

/* Error/warning at a node with the current path (+ optional suffix). */
void encoder_diag(Encoder *e, DiagLevel level, const YamlNode *at, const char *fmt, ...) _printf_(4, 5);
/* An error that names the rule it breaks. */
void encoder_rule_error(Encoder *e, const YamlNode *at, const char *rule, const char *fmt, ...) _printf_(4, 5);
/* The field path: push returns what pop restores. */
size_t encoder_path_push_field(Encoder *e, const char *name);
size_t encoder_path_push_index(Encoder *e, size_t i);
size_t encoder_path_push_key(Encoder *e, const char *key);
void encoder_path_pop(Encoder *e, size_t saved);
