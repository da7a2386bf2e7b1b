/* SPDX-License-Identifier: MIT */
/* The xDS resource types fsxds publishes, and compiled resources: the
 * encoded google.protobuf.Any plus what the node build needs to know about
 * it (type, name, where it came from). */
#pragma once

#include "util.h"

typedef enum ResourceType {
        RESOURCE_LISTENER,
        RESOURCE_ROUTE_CONFIGURATION,
        RESOURCE_SCOPED_ROUTE_CONFIGURATION,
        RESOURCE_VIRTUAL_HOST,
        RESOURCE_CLUSTER,
        RESOURCE_CLUSTER_LOAD_ASSIGNMENT,
        RESOURCE_SECRET,
        RESOURCE_RUNTIME,
        _RESOURCE_TYPE_MAX,
        _RESOURCE_TYPE_INVALID = -EINVAL,
} ResourceType;

/* Full message name, e.g. "envoy.config.cluster.v3.Cluster". */
const char *resource_type_to_message(ResourceType t);
/* "type.googleapis.com/<message>" */
const char *resource_type_to_url(ResourceType t);
/* Short name for messages: "Cluster", "ClusterLoadAssignment", ... */
const char *resource_type_to_string(ResourceType t);
ResourceType resource_type_from_message(const char *full_name);
/* The field that names a resource of this type ("name" or "cluster_name"). */
const char *resource_type_name_field(ResourceType t);

/* A name a resource uses: a route's cluster, a listener's route
 * configuration, an EDS cluster's endpoints, a TLS context's secret. */
typedef struct ResourceRef {
        ResourceType type; /* of the resource named */
        char *name;
        char *path;        /* field path of the name */
        unsigned line, column;
} ResourceRef;

/* What the graph checks need to know of a resource (graph.h). */
typedef struct ResourceFacts {
        ResourceRef *refs;
        size_t n_refs;
        char *address;     /* a listener's "tcp 0.0.0.0:80"; NULL for none */
        char *scope_key;   /* a ScopedRouteConfiguration's key fragments */
        unsigned line, column; /* of the address or the key */
} ResourceFacts;

void resource_facts_done(ResourceFacts *f);

typedef struct Resource {
        ResourceType type;
        char *name;
        char *file;
        unsigned line, column;
        uint8_t *any; /* serialized google.protobuf.Any (type_url, value) */
        size_t any_len;
        bool wired;   /* holds config sources to be pointed at a node's directory */
        /* the resource's own file (an EDS/RDS/SDS/RTDS DiscoveryResponse),
         * made once and shared by every node when nothing in it is per node */
        struct ResourceFile *own_file;
        bool any_in_own_file; /* any points into own_file->data */
        ResourceFacts facts;
} Resource;

typedef struct ResourceFile {
        uint8_t *data;
        size_t len;
        char version[17];
        char sha256[65];
} ResourceFile;

typedef struct ResourceList {
        Resource *items;
        size_t n, cap;
} ResourceList;

void resource_list_add(ResourceList *l, Resource r);
void resource_list_free(ResourceList *l);
/* Makes r's own file (a one-resource DiscoveryResponse) and lets r's Any
 * point into it, so the bytes are held once. */
void resource_make_own_file(Resource *r);
void resource_done(Resource *r);

/* version_info of fsxds's outputs: first 16 hex digits of sha256 over the
 * encoded resources, in order. */
void resources_version(Resource *const *items, size_t n, char ret[17]);
/* Serialized DiscoveryResponse {version_info, resources, type_url}. */
void resources_response(Resource *const *items, size_t n, const char *version_info, const char *type_url, Buf *out);

/* What a serialized DiscoveryResponse says: its version_info and type_url
 * (pointing into the data; NULL when absent), and each resource's name
 * (field 1 of every xDS resource message, inside its Any), in order,
 * passed to on_name (may be NULL). Returns how many resources had one. */
typedef struct ResponseInfo {
        const char *version_info, *type_url;
        size_t version_info_len, type_url_len;
} ResponseInfo;
size_t response_walk(const uint8_t *data, size_t len, ResponseInfo *ret_info,
                     void (*on_name)(void *userdata, const char *name, size_t len), void *userdata);
/* Calls f for each resource of a serialized DiscoveryResponse, in order:
 * its name (as response_walk() finds it; "" when it has none) and its
 * Any's bytes (pointing into data). Returns how many. */
typedef void (*ResponseResourceFunc)(void *userdata, const char *name, size_t name_len, const uint8_t *any,
                                     size_t any_len);
size_t response_resources(const uint8_t *data, size_t len, ResponseResourceFunc f, void *userdata);
