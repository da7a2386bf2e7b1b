/* SPDX-License-Identifier: MIT */
/* The schema-driven encoder: walks a YamlNode tree against a message type
 * and writes protobuf wire format directly, with the semantics of Envoy's
 * loader (proto3 JSON mapping in protobuf's legacy mode). Problems become
 * diagnostics at the user's line with the field path; encoding goes on
 * after an error so one run reports everything it can. */
#pragma once

#include "reporter.h"
#include "schema.h"
#include "yamltree.h"

typedef struct Encoder {
        const Schema *schema;
        Reporter report;      /* field path and diagnostics (validate reports there too) */
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

