/* SPDX-License-Identifier: MIT */
/* What the files of fsxds share: the exit codes, the options every verb
 * may take, the verbs, and the helpers several verbs use (diagnostics, the
 * schema, the configuration, paths). */
#pragma once

#include "compile.h"
#include "config.h"
#include "status.h"
#include "schema.h"

enum {
        EXIT_OK = 0,
        EXIT_BAD_INPUT = 1,
        EXIT_USAGE = 2,
        EXIT_NOT_RUNNING = 3, /* fsxds status: the status was left by an fsxdsd that no longer runs */
        EXIT_CHANGED = 3,     /* fsxds diff: something would change */
};

/* The options a verb may accept (besides -h, --help, which all do), as
 * bits of Verb.options and Options.given. */
typedef enum VerbOption {
        OPTION_OUTPUT = 1u << 0,       /* -o, --output PATH */
        OPTION_VERBOSE = 1u << 1,      /* -v, --verbose */
        OPTION_CONFIG = 1u << 2,       /* --config FILE */
        OPTION_SCHEMA = 1u << 3,       /* --schema DESC */
        OPTION_NODE = 1u << 4,         /* --node ID */
        OPTION_ALLOW_EMPTY = 1u << 5,  /* --allow-empty */
        OPTION_PUBLISH_MODE = 1u << 6, /* --publish-mode MODE */
        OPTION_JSON = 1u << 7,         /* --json */
        OPTION_YAML = 1u << 8,         /* --yaml */
        OPTION_CA = 1u << 9,           /* --ca FILE */
        OPTION_KEY = 1u << 10,         /* --key FILE */
        OPTION_CERT = 1u << 11,        /* --cert FILE */
        OPTION_CHAIN = 1u << 12,       /* --chain FILE */
        OPTION_ENVOY_VERSION = 1u << 13, /* --envoy-version X.Y[.Z] */
        OPTION_FORCE = 1u << 14,       /* --force */
        OPTION_FROM = 1u << 15,        /* --from REF (diff) */
        OPTION_TO = 1u << 16,          /* --to REF (diff) */
        OPTION_ADS = 1u << 17,         /* --ads (bootstrap) */
        OPTION_GRPC = 1u << 18,        /* --grpc (bootstrap) */
        OPTION_DELTA = 1u << 19,       /* --delta (bootstrap) */
} VerbOption;

/* The options given to a verb; NULL, false or _PUBLISH_MODE_INVALID for
 * those that were not. */
typedef struct Options {
        unsigned given; /* VerbOption bits */
        const char *output;
        const char *config;
        const char *schema;
        const char *node;
        const char *ca;
        const char *key;
        const char *cert;
        const char *chain;
        const char *envoy_version;
        const char *from, *to; /* diff: "live", "tree" or a generation */
        PublishMode publish_mode;
        bool allow_empty;
        bool force;
        bool ads, grpc, delta; /* bootstrap: of the xDS server, as gRPC's bootstrap, delta xDS */
        bool json; /* --json; a later --yaml clears it */
} Options;

/* -v (any verb, or before it): notes are printed too, and which
 * configuration file was read */
extern bool verbose;
/* Why load_schema's envoy_version is what it is, when not the schema's
 * own: "--envoy-version" or "envoy_version: in the configuration". */
extern const char *envoy_version_origin;

void print_diags(const DiagList *d);
/* The schema of --schema (or the built-in one), targeting --envoy-version
 * (or the schema's own release). Prints what went wrong. */
int load_schema(const Options *o, Schema **ret);
int load_config(const char *path, Config **ret);
char *path_join(const char *dir, const char *name);
void json_put_string_or_null(Buf *b, const char *s);
/* {"level","file","line","column","path","message","rule"}, as check --json has it */
void json_put_diag(Buf *b, const Diag *d);

/* Each verb runs with its options parsed and its number of positional
 * arguments checked: argv holds those arguments only (argc of them). It
 * returns the exit code. */

/* compile-decode.c */
extern const char usage_compile[];
extern const char usage_decode[];
void check_one_response(const char *file, int r, const CompileResult *cr, bool allow_empty, DiagList *diags);
int verb_compile(int argc, char **argv, const Options *o);
int verb_decode(int argc, char **argv, const Options *o);

/* check.c */
extern const char usage_check[];
int verb_check(int argc, char **argv, const Options *o);

/* diff.c */
extern const char usage_diff[];
int verb_diff(int argc, char **argv, const Options *o);

/* admin.c */
extern const char usage_status[];
extern const char usage_forget[];
extern const char usage_allow_removal[];
extern const char usage_bootstrap[];
int verb_status(int argc, char **argv, const Options *o);
int verb_forget(int argc, char **argv, const Options *o);
int verb_allow_removal(int argc, char **argv, const Options *o);
int verb_bootstrap(int argc, char **argv, const Options *o);
/* A string from a status file as one line of output: control characters
 * become '?' (admin.c). */
char *printable(const char *s);
/* fsxds status's xDS part (adsview.c) */
/* running: false when fsxdsd is known not to run (what status.json says
 * is how it left things: nothing serves now) */
void status_print_ads_server(const Status *s, bool running);
char *status_ads_cell(const StatusNode *n);
void status_print_ads_nodes(const Status *s);
/* bootstrap --ads/--grpc (bootstrap-ads.c) */
int bootstrap_ads(const Config *config, const char *node, const Options *o);
/* (shared with generations.c) */
bool check_node_id(const char *node);
void format_time_usec(int64_t usec, char ret[32]); /* local time, "-" when unset */
char *format_age(int64_t usec);                    /* "5m", "2h" … */

/* generations.c */
extern const char usage_history[];
extern const char usage_rollback[];
extern const char usage_unpin[];
int verb_history(int argc, char **argv, const Options *o);
int verb_rollback(int argc, char **argv, const Options *o);
int verb_unpin(int argc, char **argv, const Options *o);

/* api-schema.c */
extern const char usage_schema[];
int verb_schema(int argc, char **argv, const Options *o);

/* signing.c */
extern const char usage_verify[];
extern const char usage_sign[];
int verb_verify(int argc, char **argv, const Options *o);
int verb_sign(int argc, char **argv, const Options *o);
