/* SPDX-License-Identifier: MIT */
/* The publish module's private header (plan.c and publish.c implement
 * publish.h). A NodePlan's insides: what planning (plan.c) decided for each type
 * directory, which the phases (publish.c) carry out. Internal to the
 * publish floor. */
#pragma once

#include "publish.h"

typedef enum TypeDir {
        TYPE_DIR_SDS,
        TYPE_DIR_EDS,
        TYPE_DIR_CDS,
        TYPE_DIR_RDS,
        TYPE_DIR_SRDS,
        TYPE_DIR_LDS,
        TYPE_DIR_RTDS,
        _TYPE_DIR_MAX,
} TypeDir;

/* A type directory's name and whether it holds one state-of-the-world
 * file, "<name>.pb", are its resource type's (node/layout.h); when its
 * files are published and removed is publishing's. */
typedef struct TypeDirInfo {
        ResourceType type;
        bool keep; /* its "<name>.pb" is never removed: an Envoy's bootstrap names it */
        PublishPhase phase;
        PublishPhase remove_phase; /* of its files that next does not have (for lds and cds: stray ones) */
} TypeDirInfo;

extern const TypeDirInfo type_dirs[_TYPE_DIR_MAX];

/* "sds", "eds", ... */
static inline const char *type_dir_name(TypeDir t) {
        return resource_type_dir(type_dirs[t].type);
}

static inline bool type_dir_is_sotw(TypeDir t) {
        return resource_type_is_sotw(type_dirs[t].type);
}

typedef enum FileState {
        FILE_UNCHANGED,
        FILE_NEW,
        FILE_CHANGED,
        FILE_REMOVED,
} FileState;

typedef struct PlanFile {
        char *name;        /* "web.pb" */
        char object[65];   /* store object of the next bytes; empty when removed */
        FileState state;
        /* watched_directory mode */
        bool has_entry;    /* "<name>" exists in the type directory */
        bool relink;       /* ...but is not the symlink "..data/<name>": replace it after the swap */
        bool live_in_gen;  /* the live bytes are in the live generation (else a regular file at the top) */
        ino_t live_ino;    /* of the live bytes; 0: none */
} PlanFile;

typedef struct PlanDir {
        PlanFile *files; /* next's files sorted by name, then the removed ones */
        size_t n;
        bool publish;    /* its phase has work */
        bool remove;     /* its removal phase has work */
        bool prune;      /* REMOVE_FILES prunes old generations or a watched layout left behind */
        bool touched;    /* entries changed: sync at publish_finish */
        char *gen_live;  /* watched_directory mode: what "..data" points to */
        uint64_t gen_max;
} PlanDir;

struct NodePlan {
        Store *store;
        char *node;
        PublishMode mode;
        PlanDir dirs[_TYPE_DIR_MAX];
        char cds_intermediate[65]; /* empty: none */
        bool phases[_PUBLISH_PHASE_MAX];
        size_t n_changes;
        bool touched_output; /* the node directory was created */
        bool touched_node;   /* a type directory was created */
        int error;           /* of the phase that failed: the later ones do not run */
        PublishPhase failed_phase; /* which one, when error < 0 */
        bool delta;          /* publish_plan_delta(): only what changed is in dirs */
};
