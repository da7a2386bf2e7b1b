#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The graph checks, each on a minimal offending tree: `fsxds compile
--node` exits 1 (0 for a warning) and prints the exact diagnostic (file,
line, column, path, message, rule); the same tree with the fix applied
compiles clean of that rule; a name a typo away from one the node has gets
"did you mean". A common base (a listener, its routes, an EDS
cluster and its endpoints) is valid on its own.

Usage: run-graph.py FSXDS"""
import os
import shutil
import subprocess
import sys
import tempfile

FSXDS = sys.argv[1]

ROUTER = ('{name: envoy.filters.http.router, typed_config: '
          '{"@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router}}')
HCM = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"


def listener(name="l0", port=8080, rds="r0", filters=None, extra=""):
    filters = filters if filters is not None else "[" + ROUTER + "]"
    return (f'- "@type": type.googleapis.com/envoy.config.listener.v3.Listener\n'
            f'  name: {name}\n'
            f'  address: {{socket_address: {{address: 0.0.0.0, port_value: {port}}}}}\n'
            f'  filter_chains:\n'
            f'  - filters:\n'
            f'    - name: hcm\n'
            f'      typed_config:\n'
            f'        "@type": {HCM}\n'
            f'        stat_prefix: ingress\n'
            f'        rds: {{route_config_name: {rds}}}\n'
            f'        http_filters: {filters}\n' + extra)


def routes(name="r0", cluster="web", action=None):
    action = action or f"{{cluster: {cluster}}}"
    return (f'- "@type": type.googleapis.com/envoy.config.route.v3.RouteConfiguration\n'
            f'  name: {name}\n'
            f'  virtual_hosts:\n'
            f'  - name: all\n'
            f'    domains: ["*"]\n'
            f'    routes:\n'
            f'    - match: {{prefix: /}}\n'
            f'      route: {action}\n')


def cluster(name="web", eds=True, extra=""):
    kind = "EDS" if eds else "STATIC"
    return (f'- "@type": type.googleapis.com/envoy.config.cluster.v3.Cluster\n'
            f'  name: {name}\n'
            f'  type: {kind}\n' + extra)


def cla(name="web"):
    return (f'- "@type": type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment\n'
            f'  cluster_name: {name}\n'
            f'  endpoints: [{{lb_endpoints: [{{endpoint: {{address: {{socket_address: {{address: 10.0.0.1, port_value: 80}}}}}}}}]}}]\n')


def doc(*items):
    return "resources:\n" + "".join(items)


BASE = {
    "common/lds.yaml": doc(listener()),
    "common/rds.yaml": doc(routes()),
    "common/cds.yaml": doc(cluster()),
    "common/eds.yaml": doc(cla()),
}

TLS = ('  transport_socket:\n'
       '    name: tls\n'
       '    typed_config:\n'
       '      "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext\n'
       '      common_tls_context:\n'
       '        tls_certificate_sds_secret_configs: [{name: client-cert}]\n')

SECRET = doc('- "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret\n'
             '  name: client-cert\n'
             '  tls_certificate: {certificate_chain: {inline_string: x}, private_key: {inline_string: key}}\n')

TCP = "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy"

SRDS = ('- "@type": type.googleapis.com/envoy.config.route.v3.ScopedRouteConfiguration\n'
        '  name: {name}\n'
        '  route_configuration_name: {rc}\n'
        '  key: {{fragments: [{{string_key: {key}}}]}}\n')

# (name, files over BASE, expected diagnostic (file relative to the tree),
#  exit code, fix: files over the offending tree)
CASES = [
    ("route-cluster", {"common/rds.yaml": doc(routes(cluster="api"))},
     "common/rds.yaml:9:24: error: resources[0].virtual_hosts[0].routes[0].route.cluster: no cluster \"api\" for node n "
     "(RouteConfiguration \"r0\" names it) [graph.cluster]", 1,
     {"common/cds.yaml": doc(cluster(), cluster("api", eds=False))}),
    ("weighted-cluster", {"common/rds.yaml": doc(routes(action="{weighted_clusters: {clusters: [{name: web, weight: 1}, {name: gone, weight: 1}]}}"))},
     "common/rds.yaml:9:77: error: resources[0].virtual_hosts[0].routes[0].route.weighted_clusters.clusters[1].name: "
     "no cluster \"gone\" for node n (RouteConfiguration \"r0\" names it) [graph.cluster]", 1,
     {"common/rds.yaml": doc(routes(action="{weighted_clusters: {clusters: [{name: web, weight: 1}]}}"))}),
    ("cluster-header-excluded", {"common/rds.yaml": doc(routes(action="{cluster_header: x-target}"))}, None, 0, {}),
    ("weights-zero", {"common/rds.yaml": doc(routes(action="{weighted_clusters: {clusters: [{name: web, weight: 0}]}}"))},
     "common/rds.yaml:9:34: error: resources[0].virtual_hosts[0].routes[0].route.weighted_clusters: Sum of weights in the "
     "weighted_cluster must be greater than 0. [envoy.route.weighted-sum-zero]", 1,
     {"common/rds.yaml": doc(routes(action="{weighted_clusters: {clusters: [{name: web, weight: 3}]}}"))}),
    ("rds-route-config", {"common/lds.yaml": doc(listener(rds="r9"))},
     "common/lds.yaml:11:34: error: resources[0].filter_chains[0].filters[0].typed_config.rds.route_config_name: "
     "no route configuration \"r9\" for node n (Listener \"l0\" names it) [graph.route-config]", 1,
     {"common/lds.yaml": doc(listener())}),
    ("rds-over-ads-excluded", {"common/lds.yaml": doc(listener(rds="r9, config_source: {ads: {}}"))}, None, 0, {}),
    ("eds-endpoints", {"common/eds.yaml": doc(cla("other")), "common/cds.yaml": doc(cluster(), cluster("x", eds=False))},
     "common/cds.yaml:3:9: error: resources[0].name: no ClusterLoadAssignment (the EDS cluster's endpoints) \"web\" for node n "
     "(Cluster \"web\" names it) [graph.endpoints]", 1,
     {"common/eds.yaml": doc(cla("other"), cla("web"))}),
    ("eds-service-name", {"common/cds.yaml": doc(cluster(extra="  eds_cluster_config: {service_name: web-svc}\n"))},
     "common/cds.yaml:5:38: error: resources[0].eds_cluster_config.service_name: no ClusterLoadAssignment (the EDS cluster's "
     "endpoints) \"web-svc\" for node n (Cluster \"web\" names it) [graph.endpoints]", 1,
     {"common/eds.yaml": doc(cla("web-svc"))}),
    ("unused-endpoints", {"common/eds.yaml": doc(cla(), cla("spare"))},
     "common/eds.yaml:5:3: warning: ClusterLoadAssignment \"spare\" is used by no EDS cluster of node n [graph.unused-endpoints]", 0,
     {"common/eds.yaml": doc(cla())}),
    ("sds-secret", {"common/cds.yaml": doc(cluster(extra=TLS))},
     "common/cds.yaml:10:53: error: resources[0].transport_socket.typed_config.common_tls_context."
     "tls_certificate_sds_secret_configs[0].name: no secret \"client-cert\" for node n (Cluster \"web\" names it) [graph.secret]", 1,
     {"common/sds.yaml": SECRET}),
    ("router-missing", {"common/lds.yaml": doc(listener(filters="[]"))},
     "common/lds.yaml:12:23: error: resources[0].filter_chains[0].filters[0].typed_config.http_filters: no HTTP router filter "
     "(envoy.filters.http.router, typed_config type.googleapis.com/envoy.extensions.filters.http.router.v3.Router): "
     "requests would be answered by no upstream [graph.router-filter]", 1,
     {"common/lds.yaml": doc(listener())}),
    ("router-not-last", {"common/lds.yaml": doc(listener(filters="[" + ROUTER + ", {name: envoy.filters.http.cors, typed_config: {\"@type\": type.googleapis.com/envoy.extensions.filters.http.cors.v3.Cors}}]"))},
     "common/lds.yaml:12:24: error: resources[0].filter_chains[0].filters[0].typed_config.http_filters[0]: the router filter is "
     "filter 1 of 2: it must be the last one (Envoy rejects filters after a terminal filter) [graph.router-last]", 1,
     {"common/lds.yaml": doc(listener(filters="[{name: envoy.filters.http.cors, typed_config: {\"@type\": type.googleapis.com/envoy.extensions.filters.http.cors.v3.Cors}}, " + ROUTER + "]"))}),
    ("listener-address", {"common/lds.yaml": doc(listener(), listener(name="l1"))},
     "common/lds.yaml:15:29: error: listener \"l1\" binds tcp 0.0.0.0:8080, which listener \"l0\" binds too "
     "(common/lds.yaml:4:29) [graph.listener-address]", 1,
     {"common/lds.yaml": doc(listener(), listener(name="l1", port=8081))}),
    ("filter-chain-match", {"common/lds.yaml": doc(listener(extra="  - filters: [{name: tcp, typed_config: {\"@type\": " + TCP +
                                                           ", stat_prefix: t, cluster: web}}]\n"))},
     "common/lds.yaml:13:5: error: resources[0].filter_chains[1]: filter chains 0 and 1 (line 6) have the same "
     "filter_chain_match: a connection could match either [graph.filter-chain-match]", 1,
     {"common/lds.yaml": doc(listener(extra="  - filter_chain_match: {destination_port: 9000}\n"
                                            "    filters: [{name: tcp, typed_config: {\"@type\": " + TCP + ", stat_prefix: t, cluster: web}}]\n"))}),
    ("tcp-proxy-cluster", {"common/lds.yaml": doc(listener(extra="  - filter_chain_match: {destination_port: 9000}\n"
                                                                 "    filters: [{name: tcp, typed_config: {\"@type\": " + TCP +
                                                                 ", stat_prefix: t, cluster: db}}]\n"))},
     "common/lds.yaml:14:152: error: resources[0].filter_chains[1].filters[0].typed_config.cluster: no cluster \"db\" for node n "
     "(Listener \"l0\" names it) [graph.cluster]", 1,
     {"common/cds.yaml": doc(cluster(), cluster("db", eds=False))}),
    ("srds-route-config", {"common/srds.yaml": doc(SRDS.format(name="s0", rc="r7", key="a"))},
     "common/srds.yaml:4:29: error: resources[0].route_configuration_name: no route configuration \"r7\" for node n "
     "(ScopedRouteConfiguration \"s0\" names it) [graph.route-config]", 1,
     {"common/srds.yaml": doc(SRDS.format(name="s0", rc="r0", key="a"))}),
    ("srds-scope-key", {"common/srds.yaml": doc(SRDS.format(name="s0", rc="r0", key="a"), SRDS.format(name="s1", rc="r0", key="a"))},
     "common/srds.yaml:9:8: error: scope key \"a\" of \"s1\" is the key of \"s0\" too (common/srds.yaml:5:8) [graph.scope-key]", 1,
     {"common/srds.yaml": doc(SRDS.format(name="s0", rc="r0", key="a"), SRDS.format(name="s1", rc="r0", key="b"))}),
    # a name near one of the node's own of the same type: "did you mean", for each kind of reference
    ("route-cluster-did-you-mean", {"common/rds.yaml": doc(routes(cluster="webb"))},
     "common/rds.yaml:9:24: error: resources[0].virtual_hosts[0].routes[0].route.cluster: no cluster \"webb\" for node n "
     "(RouteConfiguration \"r0\" names it); did you mean \"web\"? [graph.cluster]", 1,
     {"common/rds.yaml": doc(routes())}),
    ("rds-did-you-mean", {"common/lds.yaml": doc(listener(rds="local_rotue")), "common/rds.yaml": doc(routes(name="local_route"))},
     "common/lds.yaml:11:34: error: resources[0].filter_chains[0].filters[0].typed_config.rds.route_config_name: "
     "no route configuration \"local_rotue\" for node n (Listener \"l0\" names it); did you mean \"local_route\"? "
     "[graph.route-config]", 1,
     {"common/lds.yaml": doc(listener(rds="local_route"))}),
    ("eds-did-you-mean", {"common/cds.yaml": doc(cluster(name="backend")), "common/eds.yaml": doc(cla("bakend"))},
     "common/cds.yaml:3:9: error: resources[0].name: no ClusterLoadAssignment (the EDS cluster's endpoints) \"backend\" "
     "for node n (Cluster \"backend\" names it); did you mean \"bakend\"? [graph.endpoints]", 1,
     {"common/eds.yaml": doc(cla("backend")), "common/rds.yaml": doc(routes(cluster="backend"))}),
    ("sds-did-you-mean", {"common/cds.yaml": doc(cluster(extra=TLS)), "common/sds.yaml": SECRET.replace("client-cert", "client_cert")},
     "common/cds.yaml:10:53: error: resources[0].transport_socket.typed_config.common_tls_context."
     "tls_certificate_sds_secret_configs[0].name: no secret \"client-cert\" for node n (Cluster \"web\" names it); "
     "did you mean \"client_cert\"? [graph.secret]", 1,
     {"common/sds.yaml": SECRET}),
    ("srds-did-you-mean", {"common/srds.yaml": doc(SRDS.format(name="s0", rc="local-route", key="a")),
                           "common/rds.yaml": doc(routes(), routes(name="local_route"))},
     "common/srds.yaml:4:29: error: resources[0].route_configuration_name: no route configuration \"local-route\" for node n "
     "(ScopedRouteConfiguration \"s0\" names it); did you mean \"local_route\"? [graph.route-config]", 1,
     {"common/srds.yaml": doc(SRDS.format(name="s0", rc="local_route", key="a"))}),
    ("duplicate-name", {"common/cds2.yaml": doc(cluster(eds=False))},
     "common/cds2.yaml:2:3: error: duplicate Cluster \"web\" (also defined at common/cds.yaml:2:3)", 1,
     {"common/cds2.yaml": doc(cluster("web2", eds=False))}),
]


def write_tree(root, files):
    for rel, text in files.items():
        p = os.path.join(root, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "w") as f:
            f.write(text)


def compile_node(root, out):
    shutil.rmtree(out, ignore_errors=True)
    r = subprocess.run([FSXDS, "compile", "--node", "n", root, "-o", out], capture_output=True, text=True)
    return r.returncode, r.stderr.replace(root + "/", "")


def main():
    failed = 0
    tmp = tempfile.mkdtemp(prefix="fsxds-graph-")
    try:
        # the base alone is clean
        root = os.path.join(tmp, "base")
        write_tree(root, BASE)
        rc, err = compile_node(root, os.path.join(tmp, "out"))
        if rc != 0 or "error" in err or "warning" in err:
            print(f"FAIL base: exit {rc}\n{err}")
            failed += 1
        for name, files, expect, code, fix in CASES:
            root = os.path.join(tmp, name)
            tree = dict(BASE)
            tree.update(files)
            write_tree(root, tree)
            rc, err = compile_node(root, os.path.join(tmp, "out"))
            lines = err.splitlines()
            ok = rc == code and (expect is None or expect in lines)
            if expect is None:
                ok = ok and not any("[graph." in line for line in lines)
            if ok and fix:
                write_tree(root, fix)
                rc2, err2 = compile_node(root, os.path.join(tmp, "out"))
                rule = expect[expect.rindex("["):] if expect.endswith("]") else "duplicate"
                ok = rc2 == 0 and rule not in err2
                if not ok:
                    print(f"FAIL {name}: the fixed tree gives exit {rc2}\n{err2}")
            elif not ok:
                print(f"FAIL {name}: exit {rc} (want {code}); want the line\n  {expect}\ngot:\n{err}")
            if ok:
                print(f"ok   {name}")
            else:
                failed += 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"{len(CASES) + 1 - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
