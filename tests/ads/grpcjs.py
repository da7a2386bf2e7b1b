# SPDX-License-Identifier: MIT
"""The grpc-js-xds side of fsxds's ADS tests (python3 stdlib only): the
source tree a proxyless gRPC client resolves through, and the Node.js
processes (node/server.js, node/client.js).

grpc-js-xds (@grpc/grpc-js-xds 1.14.1, build/src/xds-resource-type/*.js)
accepts the four resources only in this shape:
- Listener: named as the xds:/// target, with an api_listener holding an
  HttpConnectionManager whose rds.config_source is `ads: {}` (or `self`;
  a path_config_source is refused), and http_filters ending with the
  router filter (and only that one last);
- RouteConfiguration: a virtual host whose domains match the target
  (`*` does), routes with a path_specifier (prefix) and route.cluster;
- Cluster: type EDS with eds_cluster_config.eds_config `ads: {}` (or
  `self`), lb_policy ROUND_ROBIN (or RING_HASH / load_balancing_policy);
- ClusterLoadAssignment: every locality entry needs `locality` set and a
  load_balancing_weight (a locality without a weight is dropped), the
  addresses IP literals, lb_endpoints health UNKNOWN or HEALTHY.

NODE_MODULES: where scripts/setup installs the packages of node/ with
`npm ci` (FSXDS_NODE_MODULES overrides it).
"""
import json
import os
import queue
import subprocess
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
NODE_DIR = os.path.join(HERE, "node")
NODE_MODULES = os.environ.get("FSXDS_NODE_MODULES", "/var/cache/fsxds-test/node/node_modules")
WAIT = float(os.environ.get("FSXDS_TEST_WAIT", "30"))

SERVICE = "svc"            # the xds:/// target and the Listener's name
ROUTES = "svc-routes"
CLUSTER = "svc-cluster"


def missing():
    """None when node and the packages are there, else what is missing."""
    node = subprocess.run(["sh", "-c", "command -v node"], capture_output=True, text=True).stdout.strip()
    if not node:
        return "node is not installed (scripts/setup installs it)"
    for pkg in ("@grpc/grpc-js-xds", "@grpc/grpc-js"):
        if not os.path.isfile(os.path.join(NODE_MODULES, pkg, "package.json")):
            return "%s is not in %s (scripts/setup runs npm ci of tests/ads/node there; " \
                   "FSXDS_NODE_MODULES points elsewhere)" % (pkg, NODE_MODULES)
    return None


def _config_source(ads_sources, indent):
    if not ads_sources:
        return ""
    return "\n%sconfig_source: {ads: {}, resource_api_version: V3}" % (" " * indent)


def y_listener(ads_sources=False):
    s = ('"@type": type.googleapis.com/envoy.config.listener.v3.Listener\n'
         "name: %s\n"
         "api_listener:\n"
         "  api_listener:\n"
         '    "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager\n'
         "    stat_prefix: %s\n"
         "    rds:\n"
         "      route_config_name: %s" % (SERVICE, SERVICE, ROUTES))
    s += _config_source(ads_sources, 6) + "\n"
    s += ("    http_filters:\n"
          "    - name: envoy.filters.http.router\n"
          "      typed_config:\n"
          '        "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router\n')
    return s


def y_routes():
    return ('"@type": type.googleapis.com/envoy.config.route.v3.RouteConfiguration\n'
            "name: %s\n"
            "virtual_hosts:\n"
            "- name: %s\n"
            '  domains: ["*"]\n'
            "  routes:\n"
            '  - match: {prefix: ""}\n'
            "    route: {cluster: %s}\n" % (ROUTES, SERVICE, CLUSTER))


def y_cluster(ads_sources=False):
    s = ('"@type": type.googleapis.com/envoy.config.cluster.v3.Cluster\n'
         "name: %s\n"
         "type: EDS\n"
         "lb_policy: ROUND_ROBIN\n"
         "connect_timeout: 1s\n"
         "eds_cluster_config:\n"
         "  service_name: %s" % (CLUSTER, CLUSTER))
    if ads_sources:
        s += "\n  eds_config: {ads: {}, resource_api_version: V3}"
    return s + "\n"


def y_endpoints(port):
    return ('"@type": type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment\n'
            "cluster_name: %s\n"
            "endpoints:\n"
            "- locality: {region: test, zone: local}\n"
            "  load_balancing_weight: 1\n"
            "  lb_endpoints:\n"
            "  - endpoint:\n"
            "      address:\n"
            "        socket_address: {address: 127.0.0.1, port_value: %d}\n" % (CLUSTER, port))


def tree(node, port, ads_sources=False):
    """{relative path: YAML} of node's directory. ads_sources: write the
    config sources as `ads: {}` (fsxds leaves them as written); without,
    the daemon's ADS build wires them."""
    d = "nodes/%s/" % node
    return {d + "lds.yaml": y_listener(ads_sources), d + "rds.yaml": y_routes(),
            d + "cds.yaml": y_cluster(ads_sources), d + "eds.yaml": y_endpoints(port)}


def bootstrap(socket_path, node):
    return {
        "xds_servers": [{"server_uri": "unix://" + socket_path,
                         "channel_creds": [{"type": "insecure"}],
                         "server_features": ["xds_v3"]}],
        "node": {"id": node, "cluster": "fsxds-test", "locality": {}},
    }


def _env():
    # grpc-js routes a channel through $grpc_proxy/$https_proxy/$http_proxy
    # when one is set (as a CI host may have for its registries): the test
    # servers are on loopback, never behind a proxy
    e = {k: v for k, v in os.environ.items()
         if k.lower() not in ("grpc_proxy", "https_proxy", "http_proxy")}
    e["NODE_PATH"] = NODE_MODULES
    return e


class _Lines:
    """A child process whose stdout lines (JSON, else text) are read by a
    thread into a queue; stderr goes to a log file."""

    def __init__(self, argv, log_path, env):
        self.log_path = log_path
        self.log = open(log_path, "ab")
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=self.log, env=env)
        self.lines = queue.Queue()
        self.all = []
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        for raw in self.proc.stdout:
            text = raw.decode("utf-8", "replace").rstrip("\n")
            try:
                v = json.loads(text)
            except ValueError:
                v = {"text": text}
            self.all.append(v)
            self.lines.put(v)
        self.lines.put(None)

    def next(self, timeout=None, what="a line"):
        try:
            v = self.lines.get(timeout=timeout or WAIT)
        except queue.Empty:
            raise AssertionError("timed out waiting for %s from %s; log: %s" % (what, self.argv0(), self.log_tail()))
        if v is None:
            self.proc.wait()
            raise AssertionError("%s exited with %s while waiting for %s; log: %s" % (
                self.argv0(), self.proc.returncode, what, self.log_tail()))
        return v

    def argv0(self):
        return os.path.basename(self.proc.args[1]) if len(self.proc.args) > 1 else self.proc.args[0]

    def log_tail(self, n=30):
        try:
            with open(self.log_path, "rb") as f:
                lines = f.read().decode("utf-8", "replace").splitlines()
        except FileNotFoundError:
            return ""
        return "\n  | " + "\n  | ".join(lines[-n:])

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=WAIT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


class TestServer(_Lines):
    """node/server.js NAME: a gRPC test service on 127.0.0.1 (a free port)
    answering with NAME. .port once it said it listens."""

    def __init__(self, name, log_dir):
        super().__init__(["node", os.path.join(NODE_DIR, "server.js"), name],
                         os.path.join(log_dir, "server-%s.log" % name), _env())
        v = self.next(what="server.js %s listening" % name)
        if "port" not in v:
            raise AssertionError("server.js %s said %r" % (name, v))
        self.name = name
        self.port = int(v["port"])


class Client(_Lines):
    """node/client.js: grpc-js-xds bootstrapped at the ADS socket, calling
    xds:///svc every `interval` ms; one JSON line a call:
    {"n": i, "ok": true, "backend": NAME} or {"n": i, "ok": false, "error": ...}."""

    def __init__(self, socket_path, node, log_dir, interval_ms=100, target=SERVICE):
        self.bootstrap_path = os.path.join(log_dir, "bootstrap-%s.json" % node)
        with open(self.bootstrap_path, "w") as f:
            json.dump(bootstrap(socket_path, node), f)
        env = _env()
        env["GRPC_XDS_BOOTSTRAP"] = self.bootstrap_path
        env.setdefault("GRPC_TRACE", "xds_client,xds_resolver,cds_balancer,xds_cluster_resolver")
        env.setdefault("GRPC_VERBOSITY", "DEBUG")
        super().__init__(["node", os.path.join(NODE_DIR, "client.js"), "xds:///" + target, str(interval_ms)],
                         os.path.join(log_dir, "client-%s.log" % node), env)

    def wait_backend(self, name, timeout=None):
        """Calls until one is answered by backend name; returns the calls seen."""
        deadline = time.monotonic() + (timeout or WAIT)
        seen = []
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("no call answered by %s within the wait; the last calls: %r; log: %s" % (
                    name, seen[-5:], self.log_tail()))
            v = self.next(timeout=left, what="a call answered by %s (calls so far: %r)" % (name, seen[-5:]))
            seen.append(v)
            if v.get("ok") and v.get("backend") == name:
                return seen
