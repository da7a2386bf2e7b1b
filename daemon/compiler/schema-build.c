/* SPDX-License-Identifier: MIT */
/* Builds a schema from Envoy's API protos with protoc (see schema-build.h):
 * lists the API's files, leaves out those whose imports cannot be found
 * (the v2 remnants a checkout or a bundle carries without their v2 deps),
 * runs protoc, and appends the provenance record. */
#include "schema-build.h"

#include <dirent.h>
#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hashmap.h"
#include "util.h"
#include "wire.h"

extern char **environ;

/* What the API is: the rest (annotations, data, admin) comes in as imports. */
static const char *const api_roots[] = { "envoy/config", "envoy/extensions", "envoy/service", "envoy/type" };
/* And what Envoy takes in any typed_config besides the extensions' own
 * types (Config::Utility::translateOpaqueConfig): the TypedStructs that
 * wrap a type by URL. Compiled when an include directory has them. */
static const char *const api_extras[] = { "udpa/type/v1/typed_struct.proto", "xds/type/v3/typed_struct.proto" };

#define MAX_PROTO_SIZE (4u << 20)

typedef struct Builder {
        const SchemaBuildOptions *o;
        char **files; /* relative names, sorted */
        size_t n_files;
        Hashmap seen;   /* relative name → itself, while listing */
        Hashmap closure; /* relative name → Closure */
        char *failed_dir; /* where listing failed */
} Builder;

static int compare_strings(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

static int list_dir(Builder *b, const char *base, const char *rel) {
        _cleanup_free_ char *path = xasprintf("%s/%s", base, rel);
        _cleanup_closedir_ DIR *d = opendir(path);
        if (!d) {
                if (errno == ENOENT)
                        return 0;
                int r = -errno;
                free(b->failed_dir);
                b->failed_dir = TAKE_PTR(path);
                return r;
        }
        struct dirent *de;
        while ((errno = 0, de = readdir(d))) {
                if (de->d_name[0] == '.')
                        continue;
                _cleanup_free_ char *child = xasprintf("%s/%s", rel, de->d_name);
                _cleanup_free_ char *full = xasprintf("%s/%s", base, child);
                struct stat st;
                if (stat(full, &st) < 0) {
                        int r = -errno;
                        free(b->failed_dir);
                        b->failed_dir = TAKE_PTR(full);
                        return r;
                }
                if (S_ISDIR(st.st_mode)) {
                        int r = list_dir(b, base, child);
                        if (r < 0)
                                return r;
                } else if (S_ISREG(st.st_mode) && endswith(child, ".proto") &&
                           !hashmap_get(&b->seen, child, strlen(child))) {
                        char *name = TAKE_PTR(child);
                        hashmap_put(&b->seen, name, strlen(name), name);
                        b->files = xrealloc(b->files, (b->n_files + 1) * sizeof(char *));
                        b->files[b->n_files++] = name;
                }
        }
        return errno ? -errno : 0;
}

/* The include directory's copy of name, or NULL. */
static char *locate(const Builder *b, const char *name) {
        for (char **d = b->o->include_dirs; *d; d++) {
                char *p = xasprintf("%s/%s", *d, name);
                if (access(p, R_OK) == 0)
                        return p;
                free(p);
        }
        char *p = xasprintf("%s/%s", b->o->wkt_dir, name);
        if (access(p, R_OK) == 0)
                return p;
        free(p);
        return NULL;
}

/* The imports of a .proto file: the quoted names of its import lines. */
static char **imports_of(const char *text, size_t *ret_n) {
        char **out = NULL;
        size_t n = 0;
        for (const char *line = text; line && *line; line = strchr(line, '\n'), line = line ? line + 1 : NULL) {
                const char *p = line + strspn(line, " \t");
                if (!startswith(p, "import"))
                        continue;
                p += 6;
                p += strspn(p, " \t");
                if (startswith(p, "public") || startswith(p, "weak"))
                        p += strcspn(p, " \t\"");
                p += strspn(p, " \t");
                if (*p != '"')
                        continue;
                const char *end = strchr(p + 1, '"');
                if (!end)
                        continue;
                out = xrealloc(out, (n + 1) * sizeof(char *));
                out[n++] = xstrndup(p + 1, end - p - 1);
        }
        *ret_n = n;
        return out;
}

typedef struct Closure {
        char *name;
        char *missing; /* the first import that cannot be found, or NULL */
} Closure;

/* "" when name and everything it imports can be found, else the first
 * name that cannot. */
static const char *unresolved(Builder *b, const char *name, unsigned depth) {
        Closure *c = hashmap_get(&b->closure, name, strlen(name));
        if (c)
                return c->missing ? c->missing : ""; /* known, or a circle: protoc reports a real one */
        c = xcalloc(1, sizeof(Closure));
        c->name = xstrdup(name);
        hashmap_put(&b->closure, c->name, strlen(c->name), c);
        _cleanup_free_ char *path = depth < 64 ? locate(b, name) : NULL;
        _cleanup_free_ char *text = NULL;
        size_t len, n = 0;
        if (!path || read_file_bounded(path, MAX_PROTO_SIZE, &text, &len) < 0) {
                c->missing = xstrdup(name);
                return c->missing;
        }
        char **imports = imports_of(text, &n);
        for (size_t i = 0; i < n; i++) {
                if (!c->missing) {
                        const char *m = unresolved(b, imports[i], depth + 1);
                        if (*m)
                                c->missing = xstrdup(m);
                }
                free(imports[i]);
        }
        free(imports);
        return c->missing ? c->missing : "";
}

/* Runs argv with its stderr in *ret_stderr; returns the exit status or -errno. */
static int run_capture(char **argv, char **ret_stderr) {
        int pipefd[2];
        if (pipe2(pipefd, O_CLOEXEC) < 0)
                return -errno;
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_adddup2(&fa, pipefd[1], STDERR_FILENO);
        posix_spawn_file_actions_adddup2(&fa, pipefd[1], STDOUT_FILENO);
        pid_t pid;
        int r = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
        posix_spawn_file_actions_destroy(&fa);
        close(pipefd[1]);
        if (r != 0) {
                close(pipefd[0]);
                return -r;
        }
        Buf out = {};
        char chunk[4096];
        ssize_t k;
        while ((k = read(pipefd[0], chunk, sizeof chunk)) > 0 || (k < 0 && errno == EINTR))
                if (k > 0 && out.len < (1u << 20))
                        buf_append(&out, chunk, k);
        close(pipefd[0]);
        int status;
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR) {
                        buf_free(&out);
                        return -errno;
                }
        *ret_stderr = buf_steal_str(&out);
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static void put_provenance(Buf *set, const SchemaBuildOptions *o, size_t n_files) {
        Buf p = {};
        buf_printf(&p, "source: %s\n", o->source ? o->source : "");
        if (o->envoy_release)
                buf_printf(&p, "envoy_release: %s\n", o->envoy_release);
        if (o->api_commit)
                buf_printf(&p, "data_plane_api_commit: %s\n", o->api_commit);
        buf_printf(&p, "api_files: %zu\n", n_files);
        wire_put_bytes(set, SCHEMA_PROVENANCE_FIELD, p.data, p.len);
        buf_free(&p);
}

void schema_build_result_done(SchemaBuildResult *r) {
        for (size_t i = 0; i < r->n_excluded; i++)
                free(r->excluded[i]);
        free(r->excluded);
        *r = (SchemaBuildResult) {};
}

static void closure_free(Hashmap *h) {
        for (size_t i = 0; i < h->cap; i++)
                if (h->entries[i].key) {
                        Closure *c = h->entries[i].value;
                        free(c->missing);
                        free(c->name);
                        free(c);
                }
        hashmap_free(h);
}

/* Lists the API's files and sorts out those whose imports cannot be
 * found: b->files keeps the rest (*ret_n of them). */
static int select_files(Builder *b, char **ret_error, SchemaBuildResult *res, size_t *ret_n) {
        int r = 0;
        for (char **d = b->o->include_dirs; *d && r >= 0; d++)
                for (size_t i = 0; i < ELEMENTSOF(api_roots) && r >= 0; i++)
                        r = list_dir(b, *d, api_roots[i]);
        if (r < 0) {
                *ret_error = xasprintf("cannot list the API protos under %s: %s", b->failed_dir ? b->failed_dir : "?",
                                       strerror(-r));
                return r;
        }
        for (size_t i = 0; i < ELEMENTSOF(api_extras); i++) {
                _cleanup_free_ char *path = locate(b, api_extras[i]);
                if (path && !hashmap_get(&b->seen, api_extras[i], strlen(api_extras[i]))) {
                        char *name = xstrdup(api_extras[i]);
                        hashmap_put(&b->seen, name, strlen(name), name);
                        b->files = xrealloc(b->files, (b->n_files + 1) * sizeof(char *));
                        b->files[b->n_files++] = name;
                }
        }
        if (b->n_files > 0)
                qsort(b->files, b->n_files, sizeof(char *), compare_strings);
        size_t n_good = 0;
        for (size_t i = 0; i < b->n_files; i++) {
                const char *missing = unresolved(b, b->files[i], 0);
                if (*missing) {
                        res->excluded = xrealloc(res->excluded, (res->n_excluded + 1) * sizeof(char *));
                        res->excluded[res->n_excluded++] = xasprintf("%s (needs %s, not found)", b->files[i], missing);
                } else
                        b->files[n_good++] = b->files[i];
        }
        if (n_good == 0) {
                *ret_error = xstrdup("no Envoy API file (envoy/{config,extensions,service,type}/**/*.proto) "
                                     "whose imports resolve under the given directories");
                return -EBADMSG;
        }
        *ret_n = n_good;
        return 0;
}

/* protoc over the n selected files into fd (the file tmp). */
static int run_protoc(const Builder *b, size_t n, const char *tmp, char **ret_error) {
        const SchemaBuildOptions *o = b->o;
        size_t n_dirs = 0;
        while (o->include_dirs[n_dirs])
                n_dirs++;
        char **argv = xcalloc(n_dirs + n + 6, sizeof(char *));
        size_t a = 0;
        argv[a++] = xstrdup(o->protoc);
        for (size_t i = 0; i < n_dirs; i++)
                argv[a++] = xasprintf("-I%s", o->include_dirs[i]);
        argv[a++] = xasprintf("-I%s", o->wkt_dir);
        argv[a++] = xstrdup("--include_imports");
        argv[a++] = xasprintf("--descriptor_set_out=%s", tmp);
        size_t first_file = a;
        for (size_t i = 0; i < n; i++)
                argv[a++] = b->files[i];
        _cleanup_free_ char *errors = NULL;
        int r = run_capture(argv, &errors);
        for (size_t i = 0; i < first_file; i++)
                free(argv[i]);
        free(argv);
        if (r < 0) {
                *ret_error = xasprintf("cannot run %s: %s", o->protoc, strerror(-r));
                return r;
        }
        if (r > 0) {
                *ret_error = xasprintf("%s failed (exit %d):\n%s", o->protoc, r, errors ? errors : "");
                return -EBADMSG;
        }
        return 0;
}

static void unlink_freep(char **p) {
        if (*p) {
                (void) unlink(*p);
                free(*p);
        }
}

static void result_donep(SchemaBuildResult *r) {
        schema_build_result_done(r);
}

/* Whether path is dir or below it (both made absolute, symlinks resolved
 * as far as they exist). */
static bool path_below(const char *path, const char *dir) {
        _cleanup_free_ char *d = realpath(dir, NULL);
        _cleanup_free_ char *copy = xstrdup(path);
        char *slash = strrchr(copy, '/');
        const char *parent = slash ? (slash == copy ? "/" : (*slash = 0, copy)) : ".";
        _cleanup_free_ char *p = realpath(parent, NULL);
        if (!d || !p)
                return false;
        size_t n = strlen(d);
        return strncmp(p, d, n) == 0 && (p[n] == 0 || p[n] == '/' || streq(d, "/"));
}

static int build(Builder *b, char **ret_error, SchemaBuildResult *ret) {
        const SchemaBuildOptions *o = b->o;
        for (char **d = o->include_dirs; *d; d++)
                if (path_below(o->output, *d)) {
                        *ret_error = xasprintf("%s is inside %s, one of the directories read: write it elsewhere",
                                               o->output, *d);
                        return -EEXIST;
                }
        _cleanup_(result_donep) SchemaBuildResult res = {};
        size_t n;
        int r = select_files(b, ret_error, &res, &n);
        if (r < 0)
                return r;

        _cleanup_(unlink_freep) char *tmp = xasprintf("%s.protoc.XXXXXX", o->output);
        _cleanup_close_ int fd = mkstemp(tmp);
        if (fd < 0) {
                r = -errno;
                *ret_error = xasprintf("%s: cannot write next to it: %s", o->output, strerror(-r));
                free(TAKE_PTR(tmp));
                return r;
        }
        r = run_protoc(b, n, tmp, ret_error);
        if (r < 0)
                return r;

        _cleanup_free_ uint8_t *data = NULL;
        size_t len;
        r = read_regular_fd(fd, 256u << 20, &data, &len);
        if (r < 0) {
                *ret_error = xasprintf("%s: %s", tmp, strerror(-r));
                return r;
        }
        Buf set = {};
        buf_append(&set, data, len);
        put_provenance(&set, o, n);
        r = write_file_atomic(o->output, set.data, set.len, 0644);
        buf_free(&set);
        if (r < 0) {
                *ret_error = xasprintf("%s: %s", o->output, strerror(-r));
                return r;
        }
        res.n_compiled = n;
        *ret = res;
        res = (SchemaBuildResult) {};
        return 0;
}

int schema_build(const SchemaBuildOptions *o, char **ret_error, SchemaBuildResult *ret) {
        Builder b = { .o = o };
        int r = build(&b, ret_error, ret);
        free(b.files); /* the names are b.seen's */
        free(b.failed_dir);
        for (size_t i = 0; i < b.seen.cap; i++)
                if (b.seen.entries[i].key)
                        free(b.seen.entries[i].value);
        hashmap_free(&b.seen);
        closure_free(&b.closure);
        return r;
}
