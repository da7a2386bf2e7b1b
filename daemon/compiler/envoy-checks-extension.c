/* SPDX-License-Identifier: MIT */
/* Envoy's load-time checks: extensions (see envoy-checks.h and
 * docs/envoy-checks/extension.md). Every {name, typed_config} slot Envoy
 * resolves through Config::Utility::getAndCheckFactory
 * (source/common/config/utility.h) finds its factory by the type URL of
 * typed_config; since 1.22.0 (runtime guard
 * envoy.reloadable_features.no_extension_lookup_by_name, default true;
 * the guard and the by-name fallback went in 1.39.0) a slot without
 * typed_config is refused, before 1.22 the name was looked up. */
#include "envoy-checks.h"

#define RULE_TYPED_CONFIG "envoy.extension.typed-config"
#define RULE_OPTIONAL_SKIPPED "envoy.extension.optional-filter-skipped"


/* Whether typed_config leaves the type URL empty: absent, null, or {}.
 * (A mapping with fields but no "@type" is the encoder's to refuse.) */
static bool type_url_empty(const YamlNode *node) {
        const YamlNode *tc = yaml_map_get_field(node, "typed_config");
        return !tc || tc->kind == YAML_KIND_NULL || (tc->kind == YAML_KIND_MAP && tc->n == 0);
}

/* The slot's check: is_optional and config_discovery are the exceptions
 * Envoy makes (an optional filter without a factory is skipped with a
 * warning; a discovered config is not looked up at load). */
static void slot(CheckContext *c, const YamlNode *node, bool is_optional) {
        if (!type_url_empty(node) || yaml_map_get_field(node, "config_discovery"))
                return;
        const YamlNode *name = yaml_map_get_field(node, "name");
        const char *n = name && yaml_is_scalar(name) ? name->str : "";
        const YamlNode *at = name ? name : node;
        if (c->envoy_version < ENVOY_VERSION(22, 0)) {
                check_warning(c, at, NULL, RULE_TYPED_CONFIG,
                              "no typed_config: this Envoy looks '%s' up by name, Envoy 1.22 and later refuse it: "
                              "Didn't find a registered implementation for '%s' with type URL: ''", n, n);
                return;
        }
        if (is_optional) {
                check_warning(c, at, NULL, RULE_OPTIONAL_SKIPPED,
                              "Didn't find a registered factory for the optional http filter %s", n);
                return;
        }
        check_error(c, at, NULL, RULE_TYPED_CONFIG,
                    "Didn't find a registered implementation for '%s' with type URL: ''", n);
}

static void required(CheckContext *c, const YamlNode *node) {
        slot(c, node, false);
}

static void http_filter(CheckContext *c, const YamlNode *node) {
        slot(c, node, check_true(node, "is_optional"));
}

const Check envoy_checks_extension[] = {
        { "envoy.config.listener.v3.ListenerFilter", required },
        { "envoy.config.listener.v3.Filter", required },
        { "envoy.config.cluster.v3.Filter", required },
        { "envoy.extensions.filters.network.http_connection_manager.v3.HttpFilter", http_filter },
        { "envoy.config.accesslog.v3.AccessLog", required },
        { "envoy.config.core.v3.TransportSocket", required },
        { NULL },
};
