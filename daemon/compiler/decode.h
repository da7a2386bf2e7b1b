/* SPDX-License-Identifier: MIT */
/* The schema-driven decoder, the inverse of encode: protobuf wire bytes of
 * a message type → YAML or JSON in the proto3 JSON mapping (declared field
 * names, as protobuf's JsonPrinter with preserve_proto_field_names), in a
 * form the encoder reads back to the same message. Strict: unknown fields,
 * malformed or truncated input and over-deep nesting are errors. */
#pragma once

#include "schema.h"

typedef enum DecodeFormat {
        DECODE_FORMAT_YAML,
        DECODE_FORMAT_JSON,
        _DECODE_FORMAT_MAX,
        _DECODE_FORMAT_INVALID = -EINVAL,
} DecodeFormat;

/* Appends the text of message m decoded from data to out. On malformed
 * input or a field the schema does not know, returns -EBADMSG, leaves out
 * as it was and sets *ret_error (a description with the byte offset and
 * field path). */
int decode_message(const Schema *schema, const SchemaMessage *m, const uint8_t *data, size_t len,
                   DecodeFormat fmt, Buf *out, char **ret_error);
