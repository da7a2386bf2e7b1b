/* SPDX-License-Identifier: MIT */
/* Parses fsxds.yaml: exactly the documented keys, each with its type, every
 * problem a diagnostic at the user's line. */
#include <arpa/inet.h>
#include <limits.h>
#include <sys/un.h>

#include "config.h"
#include "history.h"
#include "schema.h"
#include "value.h"
#include "yamltree.h"

#define CONFIG_FILE_MAX (1u << 20)

Config *config_new_default(void) {
        Config *c = xcalloc(1, sizeof(Config));
        c->source_dir = xstrdup(CONFIG_DEFAULT_SOURCE_DIR);
        c->output_dir = xstrdup("/run/fsxds");
        c->state_dir = xstrdup("/var/lib/fsxds");
        c->nodes = xcalloc(1, sizeof(char *));
        c->settle_usec = 100 * 1000;
        c->settle_max_usec = 2 * 1000 * 1000;
        c->watch = WATCH_BACKEND_AUTO;
        c->publish_mode = PUBLISH_MODE_RENAME;
        c->phase_pause_usec = 200 * 1000;
        c->verify_interval_usec = 60 * 1000 * 1000;
        c->rescan_interval_usec = 5 * 1000 * 1000;
        c->max_removal = 0.5;
        c->history = HISTORY_DEFAULT;
        return c;
}

static void signing_free(SigningConfig *s) {
        if (!s)
                return;
        free(s->key);
        free(s->cert);
        free(s->chain);
        free(s);
}

void ads_config_free(AdsConfig *a) {
        if (!a)
                return;
        free(a->listen);
        free(a->tls_cert);
        free(a->tls_key);
        free(a->tls_client_ca);
        free(a);
}

AdsConfig *ads_config_copy(const AdsConfig *c) {
        AdsConfig *n = xmemdup(c, sizeof(AdsConfig));
        n->listen = xstrdup(c->listen);
        n->tls_cert = c->tls_cert ? xstrdup(c->tls_cert) : NULL;
        n->tls_key = c->tls_key ? xstrdup(c->tls_key) : NULL;
        n->tls_client_ca = c->tls_client_ca ? xstrdup(c->tls_client_ca) : NULL;
        return n;
}

static bool same_or_null(const char *a, const char *b) {
        return a == b || (a && b && streq(a, b));
}

bool ads_config_same_listener(const AdsConfig *a, const AdsConfig *b) {
        return a && b && streq(a->listen, b->listen) && same_or_null(a->tls_cert, b->tls_cert) &&
               same_or_null(a->tls_key, b->tls_key) && same_or_null(a->tls_client_ca, b->tls_client_ca);
}

Config *config_free(Config *c) {
        if (!c)
                return NULL;
        free(c->path);
        free(c->source_dir);
        free(c->output_dir);
        free(c->state_dir);
        for (size_t i = 0; i < c->n_nodes; i++)
                free(c->nodes[i]);
        free(c->nodes);
        free(c->output_group);
        free(c->schema);
        signing_free(c->signing);
        free(c->require_signed_sources_ca);
        free(c->metrics_file);
        ads_config_free(c->ads);
        free(c);
        return NULL;
}

typedef struct Parse {
        const char *file;
        DiagList *diags;
        Config *config;
        size_t errors;
        bool seen;
} Parse;

static void perr(Parse *p, const YamlNode *at, const char *key, const char *fmt, ...) _printf_(4, 5);
static void perr(Parse *p, const YamlNode *at, const char *key, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        diag_addv(p->diags, DIAG_ERROR, p->file, at ? at->line : 0, at ? at->column : 0, key, fmt, ap);
        va_end(ap);
        p->errors++;
}

static bool get_string(Parse *p, const YamlNode *v, const char *key, char **ret) {
        if (v->kind != YAML_KIND_STRING || v->n == 0) {
                _cleanup_free_ char *what = yaml_describe(v);
                perr(p, v, key, "expected a non-empty string, got %s", what);
                return false;
        }
        free(*ret);
        *ret = xstrdup(v->str);
        return true;
}

static bool get_path(Parse *p, const YamlNode *v, const char *key, char **ret) {
        if (!get_string(p, v, key, ret))
                return false;
        if ((*ret)[0] != '/') {
                perr(p, v, key, "expected an absolute path, got \"%s\"", v->str);
                return false;
        }
        return true;
}

static bool get_duration(Parse *p, const YamlNode *v, const char *key, uint64_t *ret) {
        int64_t s;
        int32_t ns;
        if (v->kind != YAML_KIND_STRING || value_parse_duration(v->str, &s, &ns) < 0 || s < 0 || ns < 0) {
                _cleanup_free_ char *what = yaml_describe(v);
                perr(p, v, key, "expected a duration like \"0.1s\", got %s", what);
                return false;
        }
        *ret = (uint64_t) s * 1000000 + (uint64_t) ns / 1000;
        return true;
}

/* The keys parse_key() and parse_signing() accept, for "did you mean". */
static const char *const config_keys[] = {
        "source_dir", "output_dir", "state_dir", "nodes", "settle", "settle_max", "phase_pause", "verify_interval",
        "rescan_interval", "watch", "publish_mode", "max_removal", "output_group", "schema", "envoy_version",
        "signing", "require_signed_sources", "metrics_file", "history", "ads",
};
static const char *const signing_keys[] = { "key", "cert", "chain" };
static const char *const ads_keys[] = { "listen", "tls", "ack_timeout", "max_streams" };
static const char *const ads_tls_keys[] = { "cert", "key", "client_ca" };

/* An unknown key: with the known one it is likely a typo of, else with
 * what otherwise helps. */
static void unknown_key(Parse *p, const YamlNode *k, const char *path, const char *key, const char *const *known,
                        size_t n_known, const char *otherwise) {
        const char *hint = closest_match(key, known, n_known);
        if (hint)
                perr(p, k, path, "unknown key \"%s\" (did you mean \"%s\"?)", key, hint);
        else
                perr(p, k, path, "unknown key \"%s\" (%s)", key, otherwise);
}

static void parse_signing(Parse *p, const YamlNode *v) {
        if (v->kind == YAML_KIND_NULL)
                return;
        if (v->kind != YAML_KIND_MAP) {
                perr(p, v, "signing", "expected a mapping with key, cert and optionally chain");
                return;
        }
        SigningConfig *s = xcalloc(1, sizeof(SigningConfig));
        for (uint32_t i = 0; i < v->n; i++) {
                const YamlNode *k = v->items[2 * i], *val = v->items[2 * i + 1];
                _cleanup_free_ char *key = xasprintf("signing.%s", k->str);
                if (streq(k->str, "key"))
                        get_path(p, val, key, &s->key);
                else if (streq(k->str, "cert"))
                        get_path(p, val, key, &s->cert);
                else if (streq(k->str, "chain"))
                        get_path(p, val, key, &s->chain);
                else
                        unknown_key(p, k, key, k->str, signing_keys, ELEMENTSOF(signing_keys), "signing takes key, cert, chain");
        }
        if (!s->key || !s->cert)
                perr(p, v, "signing", "signing needs both key and cert");
        signing_free(p->config->signing);
        p->config->signing = s;
}

/* "HOST:PORT": an IPv4 address or a bracketed IPv6 one, and a port
 * 1-65535 (names are not resolved: the daemon listens before any network
 * is up) */
static bool tcp_address_is_valid(const char *a) {
        const char *colon = strrchr(a, ':');
        if (!colon || colon == a || !colon[1])
                return false;
        char *end = NULL;
        unsigned long port = strtoul(colon + 1, &end, 10);
        if (*end || port == 0 || port > 65535 || colon[1] == '+' || colon[1] == '-')
                return false;
        _cleanup_free_ char *host = xstrndup(a, (size_t) (colon - a));
        uint8_t buf[16];
        if (host[0] == '[') {
                size_t n = strlen(host);
                if (n < 3 || host[n - 1] != ']')
                        return false;
                host[n - 1] = 0;
                return inet_pton(AF_INET6, host + 1, buf) == 1;
        }
        return inet_pton(AF_INET, host, buf) == 1;
}

static void parse_ads_tls(Parse *p, AdsConfig *a, const YamlNode *v) {
        if (v->kind != YAML_KIND_MAP) {
                perr(p, v, "ads.tls", "expected a mapping with cert, key and client_ca");
                return;
        }
        for (uint32_t i = 0; i < v->n; i++) {
                const YamlNode *k = v->items[2 * i], *val = v->items[2 * i + 1];
                _cleanup_free_ char *key = xasprintf("ads.tls.%s", k->str);
                if (streq(k->str, "cert"))
                        get_path(p, val, key, &a->tls_cert);
                else if (streq(k->str, "key"))
                        get_path(p, val, key, &a->tls_key);
                else if (streq(k->str, "client_ca"))
                        get_path(p, val, key, &a->tls_client_ca);
                else
                        unknown_key(p, k, key, k->str, ads_tls_keys, ELEMENTSOF(ads_tls_keys), "tls takes cert, key, client_ca");
        }
        if (!a->tls_cert || !a->tls_key || !a->tls_client_ca)
                perr(p, v, "ads.tls", "tls needs cert, key and client_ca (clients must present a certificate naming their node)");
}

static void parse_ads(Parse *p, const YamlNode *v) {
        if (v->kind != YAML_KIND_NULL && v->kind != YAML_KIND_MAP) {
                perr(p, v, "ads", "expected a mapping (ads: {} listens on %s)", ADS_DEFAULT_SOCKET);
                return;
        }
        AdsConfig *a = xcalloc(1, sizeof(AdsConfig));
        a->ack_timeout_usec = ADS_DEFAULT_ACK_TIMEOUT_USEC;
        a->max_streams = ADS_DEFAULT_MAX_STREAMS;
        const YamlNode *listen_at = v, *tls_at = NULL;
        for (uint32_t i = 0; v->kind == YAML_KIND_MAP && i < v->n; i++) {
                const YamlNode *k = v->items[2 * i], *val = v->items[2 * i + 1];
                _cleanup_free_ char *key = xasprintf("ads.%s", k->str);
                if (streq(k->str, "listen")) {
                        listen_at = val;
                        get_string(p, val, key, &a->listen);
                } else if (streq(k->str, "tls")) {
                        tls_at = val;
                        parse_ads_tls(p, a, val);
                } else if (streq(k->str, "ack_timeout")) {
                        if (get_duration(p, val, key, &a->ack_timeout_usec) && a->ack_timeout_usec < 1000)
                                perr(p, val, key, "expected at least 1ms");
                } else if (streq(k->str, "max_streams")) {
                        char *end = NULL;
                        unsigned long n = val->kind == YAML_KIND_INT ? strtoul(val->str, &end, 10) : 0;
                        if (!end || *end || val->str[0] == '-' || n < 1 || n > 10000)
                                perr(p, val, key, "expected the number of concurrent streams per connection, 1 to 10000");
                        else
                                a->max_streams = (unsigned) n;
                } else
                        unknown_key(p, k, key, k->str, ads_keys, ELEMENTSOF(ads_keys),
                                    "ads takes listen, tls, ack_timeout, max_streams");
        }
        if (!a->listen)
                a->listen = xstrdup(ADS_DEFAULT_LISTEN);
        if (startswith(a->listen, "unix:")) {
                if (a->listen[5] != '/' || strlen(a->listen + 5) >= sizeof(((struct sockaddr_un *) NULL)->sun_path))
                        perr(p, listen_at, "ads.listen", "expected unix:/ABSOLUTE/PATH (at most %zu bytes) or HOST:PORT, got \"%s\"",
                             sizeof(((struct sockaddr_un *) NULL)->sun_path) - 1, a->listen);
                else if (tls_at)
                        perr(p, tls_at, "ads.tls", "a unix socket takes no tls: its file's mode and group say who may connect");
        } else if (!tcp_address_is_valid(a->listen))
                perr(p, listen_at, "ads.listen", "expected unix:/ABSOLUTE/PATH, IPV4:PORT or [IPV6]:PORT, got \"%s\"", a->listen);
        else if (!tls_at)
                perr(p, listen_at, "ads.listen", "listening on TCP (%s) needs tls: {cert, key, client_ca}: "
                     "every client must present a certificate that names its node", a->listen);
        ads_config_free(p->config->ads);
        p->config->ads = a;
}

static void parse_key(Parse *p, const YamlNode *k, const YamlNode *v) {
        Config *c = p->config;
        const char *key = k->str;
        if (streq(key, "source_dir"))
                get_path(p, v, key, &c->source_dir);
        else if (streq(key, "output_dir"))
                get_path(p, v, key, &c->output_dir);
        else if (streq(key, "state_dir"))
                get_path(p, v, key, &c->state_dir);
        else if (streq(key, "nodes")) {
                if (v->kind == YAML_KIND_NULL)
                        return;
                if (v->kind != YAML_KIND_SEQ) {
                        perr(p, v, key, "expected a list of node ids");
                        return;
                }
                for (uint32_t i = 0; i < v->n; i++) {
                        const YamlNode *id = v->items[i];
                        _cleanup_free_ char *path = xasprintf("nodes[%u]", i);
                        if (id->kind != YAML_KIND_STRING || !node_id_is_valid(id->str)) {
                                perr(p, id, path, "invalid node id (1 to 128 of A-Z a-z 0-9 . _ -, not starting with '.')");
                                continue;
                        }
                        c->nodes = xrealloc(c->nodes, (c->n_nodes + 2) * sizeof(char *));
                        c->nodes[c->n_nodes++] = xstrdup(id->str);
                        c->nodes[c->n_nodes] = NULL;
                }
        } else if (streq(key, "settle"))
                get_duration(p, v, key, &c->settle_usec);
        else if (streq(key, "settle_max"))
                get_duration(p, v, key, &c->settle_max_usec);
        else if (streq(key, "phase_pause"))
                get_duration(p, v, key, &c->phase_pause_usec);
        else if (streq(key, "verify_interval"))
                get_duration(p, v, key, &c->verify_interval_usec);
        else if (streq(key, "rescan_interval")) {
                uint64_t usec;
                if (get_duration(p, v, key, &usec)) {
                        if (usec < 1000)
                                perr(p, v, key, "expected at least 1ms");
                        else
                                c->rescan_interval_usec = usec;
                }
        }
        else if (streq(key, "watch")) {
                WatchBackend b = v->kind == YAML_KIND_STRING ? watch_backend_from_string(v->str) : _WATCH_BACKEND_INVALID;
                if (b < 0)
                        perr(p, v, key, "expected auto, inotify or fanotify");
                else
                        c->watch = b;
        } else if (streq(key, "publish_mode")) {
                PublishMode m = v->kind == YAML_KIND_STRING ? publish_mode_from_string(v->str) : _PUBLISH_MODE_INVALID;
                if (m < 0)
                        perr(p, v, key, "expected rename or watched_directory");
                else
                        c->publish_mode = m;
        } else if (streq(key, "max_removal")) {
                char *end = NULL;
                double d = (v->kind == YAML_KIND_INT || v->kind == YAML_KIND_FLOAT) ? strtod(v->str, &end) : -1;
                if (!end || *end || !(d >= 0 && d <= 1))
                        perr(p, v, key, "expected a fraction from 0 to 1");
                else
                        c->max_removal = d;
        } else if (streq(key, "history")) {
                char *end = NULL;
                unsigned long keep = v->kind == YAML_KIND_INT ? strtoul(v->str, &end, 10) : ULONG_MAX;
                if (!end || *end || v->str[0] == '-' || keep > HISTORY_MAX)
                        perr(p, v, key, "expected the number of generations kept per node, 0 (off) to 1000");
                else
                        c->history = (unsigned) keep;
        } else if (streq(key, "output_group"))
                get_string(p, v, key, &c->output_group);
        else if (streq(key, "schema"))
                get_path(p, v, key, &c->schema);
        else if (streq(key, "envoy_version")) {
                uint32_t ev;
                if (!yaml_is_scalar(v) || envoy_version_parse(v->str, &ev) < 0)
                        perr(p, v, key, "expected an Envoy release such as 1.36 or 1.36.2");
                else
                        c->envoy_version = ev;
        }
        else if (streq(key, "signing"))
                parse_signing(p, v);
        else if (streq(key, "require_signed_sources")) {
                if (v->kind == YAML_KIND_NULL)
                        return;
                const YamlNode *ca = yaml_map_get(v, "ca");
                if (v->kind != YAML_KIND_MAP || !ca || v->n != 1)
                        perr(p, v, key, "expected a mapping with ca: the path of the trusted CA certificate(s)");
                else
                        get_path(p, ca, "require_signed_sources.ca", &c->require_signed_sources_ca);
        } else if (streq(key, "metrics_file")) {
                /* node_exporter's textfile collector reads *.prom only (and skips our temporary names) */
                if (get_path(p, v, key, &c->metrics_file) && !endswith(c->metrics_file, ".prom"))
                        perr(p, v, key, "expected a file name ending in .prom (node_exporter's textfile collector "
                             "reads only those), got \"%s\"", v->str);
        } else if (streq(key, "ads"))
                parse_ads(p, v);
        else
                unknown_key(p, k, NULL, key, config_keys, ELEMENTSOF(config_keys), "see fsxds.yaml(5)");
}

static int on_document(void *userdata, YamlArena *arena, YamlNode *root, size_t doc_index) {
        Parse *p = userdata;
        if (root->kind == YAML_KIND_NULL)
                return 0;
        if (p->seen) {
                perr(p, root, NULL, "the configuration is one YAML document");
                return 0;
        }
        p->seen = true;
        if (root->kind != YAML_KIND_MAP) {
                perr(p, root, NULL, "the configuration must be a mapping of keys");
                return 0;
        }
        for (uint32_t i = 0; i < root->n; i++)
                parse_key(p, root->items[2 * i], root->items[2 * i + 1]);
        if (p->config->settle_max_usec < p->config->settle_usec) {
                const YamlNode *at = yaml_map_get(root, "settle_max");
                perr(p, at ? at : root, "settle_max", "settle_max must not be shorter than settle");
        }
        return 0;
}

int config_parse(const char *file, const char *data, size_t len, DiagList *diags, Config **ret) {
        _cleanup_(config_freep) Config *c = config_new_default();
        Parse p = { .file = file, .diags = diags, .config = c };
        static const YamlCallbacks cb = { .document = on_document };
        int r = yaml_parse(file, data, len, NULL, diags, &cb, &p);
        if (r < 0 || p.errors > 0)
                return -EBADMSG;
        c->path = file ? xstrdup(file) : NULL;
        *ret = TAKE_PTR(c);
        return 0;
}

int config_load(const char *path, DiagList *diags, Config **ret) {
        _cleanup_free_ char *data = NULL;
        size_t len;
        int r = read_file_bounded(path, CONFIG_FILE_MAX, &data, &len);
        if (r == -EFBIG) {
                char limit[FORMAT_BYTES_MAX];
                diag_add(diags, DIAG_ERROR, path, 0, 0, NULL, "file is larger than %s", format_bytes(CONFIG_FILE_MAX, limit));
                return -EBADMSG;
        }
        if (r < 0)
                return r;
        return config_parse(path, data, len, diags, ret);
}
