/* SPDX-License-Identifier: MIT */
/* status.json written and read back: the one home of its schema (see
 * status.h), shared by fsxdsd and fsxds status. */
#include <inttypes.h>
#include <limits.h>
#include <unistd.h>

#include "json.h"
#include "status.h"

static void diag_done(Diag *d) {
        free(d->file);
        free(d->path);
        free(d->message);
        free(d->rule);
        *d = (Diag) {};
}

void status_done(Status *s) {
        if (!s)
                return;
        free(s->backend);
        free(s->publish_mode);
        free(s->source_dir);
        free(s->output_dir);
        free(s->signing_subject);
        free(s->signed_sources_ca);
        free(s->signed_sources_error);
        for (size_t i = 0; i < s->n_nodes; i++) {
                free(s->nodes[i].id);
                diag_done(&s->nodes[i].error);
                free(s->nodes[i].state_error);
        }
        free(s->nodes);
        *s = (Status) {};
}

StatusNode *status_add_node(Status *s, const char *id) {
        s->nodes = xrealloc(s->nodes, (s->n_nodes + 1) * sizeof(StatusNode));
        StatusNode *n = &s->nodes[s->n_nodes++];
        *n = (StatusNode) {
                .id = xstrdup(id),
                .generation = STATUS_UNSET,
                .published_usec = STATUS_UNSET,
                .n_files = STATUS_UNSET,
                .n_listeners = STATUS_UNSET,
                .n_clusters = STATUS_UNSET,
                .n_errors = STATUS_UNSET,
        };
        return n;
}

static void put_string_or_null(Buf *b, const char *s) {
        if (s)
                buf_put_json_string(b, s);
        else
                buf_printf(b, "null");
}

static const char *bool_str(bool b) {
        return b ? "true" : "false";
}

void status_format(const Status *s, Buf *b) {
        buf_printf(b, "{\"version\":%d,\"generation\":%" PRIi64 ",\"time_usec\":%" PRIi64 ",\"backend\":", STATUS_VERSION,
                   s->generation, s->time_usec);
        buf_put_json_string(b, s->backend ? s->backend : "none");
        buf_printf(b, ",\"publish_mode\":");
        buf_put_json_string(b, s->publish_mode ? s->publish_mode : "");
        buf_printf(b, ",\"source_dir\":");
        buf_put_json_string(b, s->source_dir ? s->source_dir : "");
        buf_printf(b, ",\"output_dir\":");
        buf_put_json_string(b, s->output_dir ? s->output_dir : "");
        buf_printf(b, ",\"signing\":");
        if (s->signing_subject) {
                buf_printf(b, "{\"subject\":");
                buf_put_json_string(b, s->signing_subject);
                buf_printf(b, ",\"not_after\":%" PRIi64 "}", s->signing_not_after);
        } else
                buf_printf(b, "null");
        buf_printf(b, ",\"signed_sources\":");
        if (s->signed_sources_ca) {
                buf_printf(b, "{\"ca\":");
                buf_put_json_string(b, s->signed_sources_ca);
                buf_printf(b, ",\"error\":");
                put_string_or_null(b, s->signed_sources_error);
                buf_printf(b, "}");
        } else
                buf_printf(b, "null");
        buf_printf(b, ",\"nodes\":{");
        for (size_t i = 0; i < s->n_nodes; i++) {
                const StatusNode *n = &s->nodes[i];
                buf_printf(b, "%s", i ? "," : "");
                buf_put_json_string(b, n->id);
                buf_printf(b, ":{\"generation\":%" PRIi64 ",\"published_usec\":%" PRIi64 ",\"files\":%" PRIi64 ","
                           "\"listeners\":%" PRIi64 ",\"clusters\":%" PRIi64 ",\"present\":%s,\"removal_blocked\":%s,"
                           "\"manifest_current\":%s,\"error\":",
                           n->generation, n->published_usec, n->n_files, n->n_listeners, n->n_clusters,
                           bool_str(n->present), bool_str(n->removal_blocked), bool_str(n->manifest_current));
                if (!n->error.message) {
                        buf_printf(b, "null");
                        goto state_error;
                }
                buf_printf(b, "{\"file\":");
                buf_put_json_string(b, n->error.file ? n->error.file : "");
                buf_printf(b, ",\"line\":%u,\"column\":%u,\"path\":", n->error.line, n->error.column);
                buf_put_json_string(b, n->error.path ? n->error.path : "");
                buf_printf(b, ",\"message\":");
                buf_put_json_string(b, n->error.message);
                buf_printf(b, ",\"rule\":");
                put_string_or_null(b, n->error.rule);
                buf_printf(b, ",\"count\":%" PRIi64 "}", n->n_errors);
        state_error:
                if (n->state_error) {
                        buf_printf(b, ",\"state_error\":");
                        buf_put_json_string(b, n->state_error);
                }
                buf_putc(b, '}');
        }
        buf_printf(b, "}}\n");
}

char *status_path(const char *output_dir) {
        return xasprintf("%s%s" STATUS_FILE_NAME, output_dir, endswith(output_dir, "/") ? "" : "/");
}

int status_write(const char *output_dir, const Status *s, gid_t gid, int *ret_chown_error) {
        Buf b = {};
        status_format(s, &b);
        _cleanup_free_ char *path = status_path(output_dir);
        int r = write_file_atomic(path, b.data, b.len, 0640);
        buf_free(&b);
        if (r < 0)
                return r;
        int chown_error = 0;
        if (gid != (gid_t) -1 && chown(path, (uid_t) -1, gid) < 0)
                chown_error = -errno;
        if (ret_chown_error)
                *ret_chown_error = chown_error;
        return 0;
}

static int64_t get_int(const Json *j, const char *key) {
        int64_t v;
        return json_get_int(j, key, &v) ? v : STATUS_UNSET;
}

static char *get_str(const Json *j, const char *key) {
        const char *s = json_get_str(j, key);
        return s ? xstrdup(s) : NULL;
}

static bool get_bool(const Json *j, const char *key) {
        const Json *v = json_get(j, key);
        return v && v->kind == JSON_BOOL && v->boolean;
}

static void parse_node(const Json *j, StatusNode *n) {
        if (j->kind != JSON_OBJECT) {
                n->malformed = true;
                return;
        }
        n->generation = get_int(j, "generation");
        n->published_usec = get_int(j, "published_usec");
        n->n_files = get_int(j, "files");
        n->n_listeners = get_int(j, "listeners");
        n->n_clusters = get_int(j, "clusters");
        n->present = get_bool(j, "present");
        n->removal_blocked = get_bool(j, "removal_blocked");
        n->state_error = get_str(j, "state_error");
        /* absent: not known to be stale */
        const Json *current = json_get(j, "manifest_current");
        n->manifest_current = !current || current->kind != JSON_BOOL || current->boolean;
        /* anything but null is an error; what is not an object says no more */
        const Json *e = json_get(j, "error");
        if (!e || e->kind == JSON_NULL)
                return;
        int64_t line = get_int(e, "line"), column = get_int(e, "column");
        n->error = (Diag) {
                .level = DIAG_ERROR,
                .file = get_str(e, "file"),
                .line = line > 0 && line <= UINT_MAX ? (unsigned) line : 0,
                .column = column > 0 && column <= UINT_MAX ? (unsigned) column : 0,
                .path = get_str(e, "path"),
                .message = get_str(e, "message"),
                .rule = get_str(e, "rule"),
        };
        /* an error object without a message is still an error */
        if (!n->error.message)
                n->error.message = xstrdup("error");
        n->n_errors = get_int(e, "count");
}

int status_parse(const char *data, size_t len, Status *ret, char **ret_error) {
        _cleanup_(json_freep) Json *root = NULL;
        _cleanup_free_ char *error = NULL;
        int r = json_parse(data, len, &error, &root);
        if (r < 0) {
                if (ret_error)
                        *ret_error = TAKE_PTR(error);
                return -EBADMSG;
        }
        int64_t version;
        if (root->kind != JSON_OBJECT || !json_get_int(root, "version", &version)) {
                if (ret_error)
                        *ret_error = xstrdup("not a status file of fsxdsd (no \"version\")");
                return -EINVAL;
        }
        if (version != STATUS_VERSION) {
                if (ret_error)
                        *ret_error = xasprintf("status file version %" PRIi64 ", this fsxds reads version %d", version,
                                               STATUS_VERSION);
                return -EPROTONOSUPPORT;
        }
        const Json *nodes = json_get(root, "nodes");
        if (nodes && nodes->kind != JSON_OBJECT && nodes->kind != JSON_NULL) {
                if (ret_error)
                        *ret_error = xstrdup("\"nodes\" is not an object");
                return -EINVAL;
        }
        Status s = {
                .generation = get_int(root, "generation"),
                .time_usec = get_int(root, "time_usec"),
                .backend = get_str(root, "backend"),
                .publish_mode = get_str(root, "publish_mode"),
                .source_dir = get_str(root, "source_dir"),
                .output_dir = get_str(root, "output_dir"),
                .signing_not_after = STATUS_UNSET,
        };
        const Json *signing = json_get(root, "signing");
        if (signing && signing->kind == JSON_OBJECT) {
                s.signing_subject = get_str(signing, "subject");
                s.signing_not_after = get_int(signing, "not_after");
        }
        const Json *sources = json_get(root, "signed_sources");
        if (sources && sources->kind == JSON_OBJECT) {
                s.signed_sources_ca = get_str(sources, "ca");
                s.signed_sources_error = get_str(sources, "error");
        }
        for (size_t i = 0; nodes && nodes->kind == JSON_OBJECT && i < nodes->n; i++)
                parse_node(nodes->items[i], status_add_node(&s, nodes->keys[i]));
        *ret = s;
        return 0;
}

int status_read(const char *output_dir, Status *ret, char **ret_error) {
        _cleanup_free_ char *path = status_path(output_dir);
        _cleanup_free_ char *data = NULL;
        size_t len;
        int r = read_file_bounded(path, STATUS_MAX_SIZE, &data, &len);
        if (r < 0)
                return r;
        return status_parse(data, len, ret, ret_error);
}
