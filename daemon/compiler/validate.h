/* SPDX-License-Identifier: MIT */
/* Envoy's field constraints: the protoc-gen-validate (PGV) annotations a
 * descriptor set carries (FieldOptions/OneofOptions/MessageOptions
 * extension 1071), read by the schema loader (schema-rules.c) and checked
 * here on the bytes the encoder has just written, so a value is checked
 * exactly as Envoy will see it. A violation is an error at the user's line
 * with the field path and the rule ("validate.uint32.lte"), reported
 * through the Reporter the caller passes, at its current field path.
 * Callers skip fields inside one whose rules say skip (message.skip). */
#pragma once

#include "reporter.h"
#include "schema.h"
#include "yamltree.h"

/* Checks a field the encoder just wrote (enc: its bytes, tags included,
 * possibly none for a default scalar) against its rules. v is the YAML
 * value (for locations). */
void validate_field(Reporter *rep, const SchemaField *f, const YamlNode *v, const uint8_t *enc, size_t len);
/* After a message's fields: the rules of fields that were not given
 * (required messages, scalars whose zero value breaks a rule, empty
 * repeated fields with min_items) and required oneofs. present[i] tells
 * whether m->fields[i] was given. */
void validate_absent(Reporter *rep, const SchemaMessage *m, const YamlNode *node, const bool *present);
