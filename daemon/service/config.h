/* SPDX-License-Identifier: MIT */
/* fsxdsd's configuration file (SYSCONFDIR/fsxds/fsxds.yaml): parsed with the
 * same YAML loader and diagnostics as sources; unknown keys are errors. */
#pragma once

#include "build.h"
#include "diag.h"
#include "version.h" /* FSXDS_SYSCONFDIR: the build's sysconfdir */
#include "watch.h"   /* WatchBackend */

typedef struct SigningConfig {
        char *key;
        char *cert;
        char *chain; /* may be NULL */
} SigningConfig;

/* ads: the xDS server (daemon/ads): NULL in Config when not configured,
 * and then nothing listens. */
typedef struct AdsConfig {
        char *listen;         /* "unix:/run/fsxds/ads.sock" or "HOST:PORT" */
        char *tls_cert, *tls_key, *tls_client_ca; /* all three for TCP, none for unix */
        uint64_t ack_timeout_usec; /* how long a push step waits for the client's ACK */
        unsigned max_streams;      /* concurrent streams per connection */
} AdsConfig;

#define ADS_DEFAULT_SOCKET "/run/fsxds/ads.sock"
#define ADS_DEFAULT_LISTEN "unix:" ADS_DEFAULT_SOCKET
#define ADS_DEFAULT_ACK_TIMEOUT_USEC (10ull * 1000 * 1000)
#define ADS_DEFAULT_MAX_STREAMS 100u

typedef struct Config {
        char *path; /* where it was read from, NULL for defaults */
        char *source_dir;
        char *output_dir;
        char *state_dir;
        char **nodes; /* NULL-terminated */
        size_t n_nodes;
        uint64_t settle_usec;
        uint64_t settle_max_usec;
        WatchBackend watch;
        PublishMode publish_mode;
        uint64_t phase_pause_usec;
        uint64_t verify_interval_usec; /* 0: the outputs are checked at start and reload only */
        double max_removal;
        unsigned history;   /* generations kept per node in state_dir/history (0: none) */
        char *output_group; /* NULL: the daemon's own group */
        char *schema;       /* NULL: built in */
        uint32_t envoy_version; /* 0: the schema's own release */
        SigningConfig *signing;
        char *require_signed_sources_ca; /* NULL: not required */
        uint64_t rescan_interval_usec; /* directories the watch could not watch are listed again this often */
        char *metrics_file; /* Prometheus text file (metrics.h); NULL: none written */
        AdsConfig *ads;     /* NULL: no xDS server */
} Config;

/* The daemon's unit, the CLI and conf/'s installation agree on these:
 * /etc/fsxds/... when built with --prefix=/usr (the packages),
 * /usr/local/etc/fsxds/... with meson's default prefix. */
#define CONFIG_DEFAULT_PATH FSXDS_SYSCONFDIR "/fsxds/fsxds.yaml"
#define CONFIG_DEFAULT_SOURCE_DIR FSXDS_SYSCONFDIR "/fsxds/conf.d"

/* The defaults of every key. */
Config *config_new_default(void);
Config *config_free(Config *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(Config *, config_free);

/* Returns 0, -EBADMSG with diagnostics, or -errno when unreadable. */
int config_parse(const char *file, const char *data, size_t len, DiagList *diags, Config **ret);
int config_load(const char *path, DiagList *diags, Config **ret);
AdsConfig *ads_config_copy(const AdsConfig *c);
void ads_config_free(AdsConfig *a);
/* Whether two ads: settings listen the same way (a reload keeps the listener). */
bool ads_config_same_listener(const AdsConfig *a, const AdsConfig *b);
