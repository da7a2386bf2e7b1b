/* SPDX-License-Identifier: MIT */
/* What the files of fsxds share: the exit codes, the verbs, and the helpers
 * several verbs use (diagnostics, the schema, the configuration, paths). */
#pragma once

#include "compile.h"
#include "config.h"
#include "schema.h"

enum {
        EXIT_OK = 0,
        EXIT_BAD_INPUT = 1,
        EXIT_USAGE = 2,
};

/* -v: notes are printed too */
extern bool verbose;

void print_diags(const DiagList *d);
int load_schema(const char *path, Schema **ret);
int load_config(const char *path, Config **ret);
char *path_join(const char *dir, const char *name);

/* compile.c */
void check_one_response(const char *file, int r, const CompileResult *cr, bool allow_empty, DiagList *diags);
int cmd_compile(int argc, char **argv);
int cmd_decode(int argc, char **argv);

/* check.c */
int cmd_check(int argc, char **argv);

/* admin.c */
int cmd_status(int argc, char **argv);
int cmd_forget(int argc, char **argv);
int cmd_allow_removal(int argc, char **argv);
int cmd_bootstrap(int argc, char **argv);

/* signing.c */
int cmd_verify(int argc, char **argv);
int cmd_sign(int argc, char **argv);
