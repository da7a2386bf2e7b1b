/* SPDX-License-Identifier: MIT */
/* Envoy's load-time checks: what Envoy refuses in C++ when it loads a
 * resource (cluster factories, the listener and its filter chains, route
 * configuration, the HTTP connection manager, TLS contexts, address
 * parsing), beyond the protoc-gen-validate rules of its protos. Each check
 * is a named rule (envoy.FAMILY.WHAT) that mirrors one Envoy source file
 * and says what Envoy says; docs/envoy-checks.md is the catalogue.
 *
 * The checks run on the YAML of each message, during graph.c's walk of a
 * resource (so Any payloads are checked as the types they hold), keyed by
 * the message's full name; one family per file (envoy-checks-*.c), each a
 * table of Check. They decide on the configuration alone: no DNS, no file,
 * no other resource. */
#pragma once

#include "reporter.h"
#include "schema.h"
#include "yamltree.h"

typedef struct CheckContext {
        const Schema *schema;
        Reporter *report;       /* its path is the checked message's field path */
        uint32_t envoy_version; /* ENVOY_VERSION(minor, patch) the fleet runs */
} CheckContext;

typedef void (*CheckFunction)(CheckContext *c, const YamlNode *node);

typedef struct Check {
        const char *message; /* full name, e.g. "envoy.config.cluster.v3.Cluster" */
        CheckFunction run;
} Check;

/* The families' tables, each ended by { NULL }. */
extern const Check envoy_checks_address[];
extern const Check envoy_checks_cluster[];
extern const Check envoy_checks_extension[];
extern const Check envoy_checks_listener[];
extern const Check envoy_checks_route[];
extern const Check envoy_checks_tls[];
extern const Check envoy_checks_hcm[];

/* Runs every check registered for m on node (a mapping). */
void envoy_checks_run(CheckContext *c, const SchemaMessage *m, const YamlNode *node);

/* ---- for the checks ---- */

/* Whether s is an IP literal as Envoy parses one (IPv4 dotted quad, IPv6
 * in any numeric form, with a scope id). */
bool envoy_is_ip_literal(const char *s);

/* An error (or warning) at `at`, with `field` (a relative field path such as
 * "load_assignment.endpoints[0]", or NULL) appended to the message's path. */
void check_error(CheckContext *c, const YamlNode *at, const char *field, const char *rule, const char *fmt, ...)
        _printf_(5, 6);
void check_warning(CheckContext *c, const YamlNode *at, const char *field, const char *rule, const char *fmt, ...)
        _printf_(5, 6);

/* The value of a scalar field, or NULL when it is absent or not a scalar. */
const char *check_scalar(const YamlNode *map, const char *field);
/* A mapping field, or NULL. */
const YamlNode *check_map(const YamlNode *map, const char *field);
/* A sequence field, or NULL. */
const YamlNode *check_seq(const YamlNode *map, const char *field);
/* Whether an enum field is `name` (by name or number): absent counts as
 * the enum's zero value when zero_name is name. */
bool check_enum_is(const YamlNode *map, const char *field, const char *name, int number, bool is_default);

/* A repeated field's value: a sequence, or one value standing for a list
 * of one (the legacy form the encoder takes). list_len is 0 for null. */
uint32_t check_list_len(const YamlNode *v);
const YamlNode *check_list_at(const YamlNode *v, uint32_t i);
/* "field[i]" (a mapping given alone is item 0, as the encoder says). */
char *check_list_path(const YamlNode *v, const char *field, uint32_t i);
/* A field of a mapping, or NULL. */
const YamlNode *check_field(const YamlNode *map, const char *field);
/* Whether a field is set (present and not null). */
bool check_has(const YamlNode *map, const char *field);
/* Whether a bool field (or a BoolValue, plain or {value: ...}) is true, as
 * the encoder reads YAML's booleans; absent is false. */
bool check_true(const YamlNode *map, const char *field);
/* A Cluster's DiscoveryType number (STATIC 0, STRICT_DNS 1, LOGICAL_DNS 2,
 * EDS 3, ORIGINAL_DST 4; absent `type` is STATIC), or -1 for a custom
 * cluster_type or a value the checks do not know. */
int check_cluster_type(const YamlNode *cluster);
/* A Listener's addresses as Envoy prints them in "error adding listener
 * '{}'" (AddressStrFormatter, joined by ","), or NULL when one of them is
 * not an IP literal socket address. */
char *check_listener_addresses(const YamlNode *listener);
