#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""fsxdsd's xDS server (ads: in fsxds.yaml) driven by raw gRPC streams
(tests/ads/xdsclient.py; Debian's python3-grpcio and python3-protobuf, so
this file runs under /usr/bin/python3): state of the world (wildcard CDS
and LDS, EDS and RDS by name, resources equal to the files' but for their
config sources wired to `ads: {}`), ACK and NACK as status.json and
`fsxds status` show them, a NACKed version not offered again until the tree
changes, subscription changes, the push order of a new generation (CDS <
EDS < LDS < RDS, removals last) as a client that behaves like Envoy records
it, delta (initial_resource_versions, removed_resources, per-resource
versions), an unknown node, a node whose tree vanished, 100 concurrent
streams, a client that never reads, and SIGHUP keeping the streams.

Every wait is "until X" with a generous timeout (FSXDS_TEST_WAIT); the few
checks of an absence wait a quiet time first, which a slow machine can only
make pass."""
import datetime
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import *  # noqa: E402,F401,F403
import pki  # noqa: E402

ADS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "ads")
sys.path.insert(0, ADS_DIR)
try:
    import xdsclient as xc  # noqa: E402
    IMPORT_PROBLEM = None
except ImportError as e:  # grpcio or protobuf missing: every case skips
    IMPORT_PROBLEM = "%s (scripts/setup installs python3-grpcio and python3-protobuf; run under /usr/bin/python3)" % e

QUIET = 2.0  # seconds of silence before a check of an absence
HEX16 = re.compile(r"[0-9a-f]{16}")
XDS = None


def xds():
    global XDS
    if IMPORT_PROBLEM:
        raise Skip(IMPORT_PROBLEM)
    if XDS is None:
        desc = os.path.join(os.path.dirname(FSXDSD), "fsxds.desc")
        if not os.path.exists(desc):
            raise AssertionError("no descriptor set at %s (the build makes it next to fsxdsd)" % desc)
        XDS = xc.Xds(desc)
    return XDS


class AdsEnv(Env):
    """An Env whose fsxds.yaml has an ads: part listening on a unix
    socket in the test's directory."""

    def __init__(self, tree, ack_timeout="10s", listen=None, tls=None, **kw):
        self.ads_ack_timeout = ack_timeout
        self.ads_listen = listen  # None: unix:<root>/ads.sock
        self.ads_tls = tls        # {cert, key, client_ca}: paths
        super().__init__("inotify", "rename", tree=tree, **kw)

    @property
    def socket(self):
        return os.path.join(self.root, "ads.sock")

    def write_config(self, path=None, text=None, **changes):
        p = super().write_config(path, text, **changes)
        if text is None:
            with open(p, "a") as f:
                f.write('ads:\n  listen: "%s"\n  ack_timeout: "%s"\n' % (
                    self.ads_listen or "unix:" + self.socket, self.ads_ack_timeout))
                if self.ads_tls:
                    f.write("  tls:\n" + "".join('    %s: "%s"\n' % kv for kv in sorted(self.ads_tls.items())))
        return p

    def channel(self):
        # a connection of its own per channel, as every Envoy has
        return xds().channel("unix:" + self.socket, options=[("grpc.use_local_subchannel_pool", 1)])

    def sotw(self, node, **kw):
        return xds().sotw(self.channel(), node, **kw)

    def delta(self, node, **kw):
        return xds().delta(self.channel(), node, **kw)

    def ads_status(self, node):
        """status.json's "ads" object of node (None when it has none)."""
        return self.status()["nodes"].get(node, {}).get("ads")

    def wait_ads(self, node, pred, what):
        """Waits until pred(status.json's ads object of node) is true."""
        last = [None]

        def check():
            try:
                a = self.ads_status(node)
            except (OSError, ValueError):
                return None
            last[0] = a
            return a if a is not None and pred(a) else None
        try:
            return wait_until(check, what)
        except AssertionError:
            raise AssertionError("timed out waiting for %s in status.json; node %s's ads part: %s" %
                                 (what, node, json.dumps(last[0], sort_keys=True)))

    def cli_status(self, *args):
        return self.fsxds("status", "--config", self.config_path, *args).stdout


def type_status(a, t):
    return (a or {}).get("types", {}).get(t, {})


def start(tree, **kw):
    xds()  # skips without grpcio and protobuf
    env = AdsEnv(tree, **kw)
    d = env.daemon()
    wait_until(lambda: os.path.exists(env.socket), "the ADS socket %s" % env.socket)
    return env, d


def tree2():
    """base_tree with a second cluster (extra) in common/ and a cluster
    old in alpha's own files."""
    t = base_tree()
    t["common/cds.yaml"] = y_docs(y_cluster("shared"), y_cluster("extra"))
    t["common/eds.yaml"] = y_docs(y_cla("shared", [("10.0.0.1", 8000)]), y_cla("extra", [("10.0.0.2", 8001)]))
    t["nodes/alpha/cds.yaml"] = y_cluster("old")
    t["nodes/alpha/eds.yaml"] = y_cla("old", [("10.0.0.9", 8009)])
    return t


def port_of(cla):
    return cla.endpoints[0].lb_endpoints[0].endpoint.address.socket_address.port_value


def file_resources(env, node, typ):
    """{name: decoded resource} of the node's published files of a type."""
    out = {}
    d = os.path.join(env.node_dir(node), typ.lower())
    for f in sorted(os.listdir(d)):
        if f.endswith(".pb") and not f.startswith("."):
            r = xds().DiscoveryResponse.FromString(read(os.path.join(d, f)))
            for a in r.resources:
                m = xds().unpack(a)
                out[xc.resource_name(m)] = m
    return out


def wired_to_ads(cs):
    """The protocol's ADS config source: ads set, resource_api_version V3."""
    return cs.HasField("ads") and cs.resource_api_version == cs.DESCRIPTOR.fields_by_name[
        "resource_api_version"].enum_type.values_by_name["V3"].number


def as_ads(cs):
    cs.Clear()
    cs.ads.SetInParent()
    cs.resource_api_version = cs.DESCRIPTOR.fields_by_name["resource_api_version"].enum_type.values_by_name["V3"].number


# ---------------------------------------------------------------- cases


def t_sotw():
    """Wildcard CDS and LDS, then EDS and RDS by name: every response has a
    16-hex version and a nonce; the resources are the files' with their
    config sources wired to ads: {}."""
    env, d = start(tree2())
    s = env.sotw("alpha")
    s.subscribe("CDS")
    cds = s.next("CDS")
    expect(HEX16.fullmatch(cds.version), "CDS version_info %r is not 16 hex digits", cds.version)
    expect(cds.nonce, "the CDS response has no nonce")
    expect_eq(sorted(cds.names), ["extra", "old", "shared"], "alpha's clusters over ADS (wildcard)")
    files = file_resources(env, "alpha", "CDS")
    for name, c in cds.resources.items():
        expect(wired_to_ads(c.eds_cluster_config.eds_config),
               "cluster %s: eds_config is not {ads: {}, resource_api_version: V3}: %s", name, c.eds_cluster_config)
        f = files[name]
        as_ads(f.eds_cluster_config.eds_config)
        expect(f == c, "cluster %s over ADS differs from its file in more than the eds_config:\nADS: %s\nfile: %s",
               name, c, f)
    s.ack(cds)
    s.subscribe("EDS", ["shared", "extra"])
    eds = s.next("EDS")
    expect(HEX16.fullmatch(eds.version) and eds.nonce, "EDS version %r nonce %r", eds.version, eds.nonce)
    expect_eq(sorted(eds.names), ["extra", "shared"], "EDS by name")
    expect_eq(port_of(eds.resources["shared"]), 8000, "shared's port over EDS")
    files = file_resources(env, "alpha", "EDS")
    for name in eds.names:
        expect(files[name] == eds.resources[name], "EDS %s over ADS differs from its file", name)
    s.ack(eds)
    s.subscribe("LDS")
    lds = s.next("LDS")
    expect_eq(lds.names, ["l0"], "alpha's listeners over ADS (wildcard)")
    expect(HEX16.fullmatch(lds.version) and lds.nonce, "LDS version %r nonce %r", lds.version, lds.nonce)
    got = lds.resources["l0"]
    hcm = xds().unpack(got.filter_chains[0].filters[0].typed_config)
    expect(wired_to_ads(hcm.rds.config_source), "l0's rds.config_source is not ads: {}: %s", hcm.rds)
    f = file_resources(env, "alpha", "LDS")["l0"]
    fhcm = xds().unpack(f.filter_chains[0].filters[0].typed_config)
    as_ads(fhcm.rds.config_source)
    expect(fhcm == hcm, "l0's HttpConnectionManager over ADS differs from its file's in more than the "
           "rds config_source:\nADS: %s\nfile: %s", hcm, fhcm)
    got.filter_chains[0].filters[0].ClearField("typed_config")
    f.filter_chains[0].filters[0].ClearField("typed_config")
    expect(got == f, "l0 over ADS differs from its file:\nADS: %s\nfile: %s", got, f)
    s.ack(lds)
    s.subscribe("RDS", ["r0"])
    rds = s.next("RDS")
    expect_eq(rds.names, ["r0"], "RDS by name")
    expect(file_resources(env, "alpha", "RDS")["r0"] == rds.resources["r0"], "r0 over ADS differs from its file")
    s.ack(rds)
    # nothing more unless something changes
    s.expect_none(quiet=QUIET)
    # the other node: its own clusters
    b = env.sotw("beta")
    b.subscribe("CDS")
    bc = b.next("CDS")
    expect_eq(sorted(bc.names), ["beta_backend", "extra", "shared"], "beta's clusters over ADS")
    s.close()
    b.close()
    d.stop()


def t_ack_status():
    """An ACK shows in status.json, fsxds status --json and fsxds status."""
    env, d = start(tree2())
    st = env.cli_status()
    expect(re.search(r"files only|not connected", st, re.I),
           "fsxds status does not say that alpha has files only before any client connects:\n%s", st)
    s = env.sotw("alpha")
    s.subscribe("CDS")
    cds = s.next("CDS")
    s.ack(cds)
    a = env.wait_ads("alpha", lambda a: type_status(a, "CDS").get("acked") == cds.version,
                     "alpha's CDS acked = %s" % cds.version)
    expect(a.get("connected") is True, "alpha's ads part: connected is %r with a stream open", a.get("connected"))
    expect(a.get("streams", 0) >= 1, "alpha's ads part: streams %r with a stream open", a.get("streams"))
    expect_eq(type_status(a, "CDS").get("offered"), cds.version, "alpha's CDS offered")
    j = json.loads(env.cli_status("--json"))
    expect_eq(type_status(j["nodes"]["alpha"].get("ads"), "CDS").get("acked"), cds.version,
              "fsxds status --json: alpha's CDS acked")
    text = env.cli_status()
    expect_in(cds.version, text, "fsxds status with alpha's CDS ACKed")
    expect(re.search(r"connected", text, re.I), "fsxds status does not say alpha is connected:\n%s", text)
    # beta has no stream: files only
    b = env.ads_status("beta")
    expect(not b or not b.get("connected"), "beta, which never connected, shows as connected: %r", b)
    s.close()
    env.wait_ads("alpha", lambda a: not a.get("connected"), "alpha disconnected after its stream closed")
    d.stop()


NACK_MESSAGE = "fsxds-test: cluster extra refused (xyzzy 42)"


def t_nack():
    """A NACK and its message show in status.json and fsxds status; the
    NACKed version is not offered again to the stream that has the type
    until the tree changes (a new stream of the node, which has nothing,
    gets it)."""
    env, d = start(tree2())
    s = env.sotw("alpha")
    s.subscribe("CDS")
    cds = s.next("CDS")
    s.nack(cds, NACK_MESSAGE)
    a = env.wait_ads("alpha", lambda a: type_status(a, "CDS").get("nacked") == cds.version,
                     "alpha's CDS nacked = %s" % cds.version)
    expect_in(NACK_MESSAGE, type_status(a, "CDS").get("nack_message") or "", "status.json's nack_message")
    expect(type_status(a, "CDS").get("acked") != cds.version, "the NACKed version shows as acked: %r", a)
    expect_in(NACK_MESSAGE, env.cli_status(), "fsxds status after a NACK")
    j = json.loads(env.cli_status("--json"))
    expect_in(NACK_MESSAGE, type_status(j["nodes"]["alpha"].get("ads"), "CDS").get("nack_message") or "",
              "fsxds status --json's nack_message")
    # not offered again on this stream, which keeps what it had...
    s.expect_none("CDS", quiet=QUIET)
    # ...but a new stream of the node, which has no cluster at all, gets it
    # (its only state; Envoy applies what it can of a refused update)
    s2 = env.sotw("alpha")
    s2.subscribe("CDS")
    r2 = s2.next("CDS", what="CDS on a new stream of a node whose CDS is NACKed")
    expect_eq(r2.version, cds.version, "the version a new stream of the node gets")
    s2.ack(r2)
    s2.subscribe("EDS", ["shared"])
    s2.next("EDS", what="EDS on the new stream")
    # the tree changes: a new CDS version on both
    mark = d.mark()
    env.write("common/cds.yaml", y_docs(y_cluster("shared", timeout="2s"), y_cluster("extra")))
    d.wait_rebuild(mark)
    for st in (s, s2):
        r = st.next("CDS", what="a CDS response after the tree changed")
        expect(r.version != cds.version, "the NACKed version %s was offered again", cds.version)
        expect_eq(str(r.resources["shared"].connect_timeout.seconds), "2", "shared's connect_timeout")
        st.ack(r)
    s.close()
    s2.close()
    d.stop()


PROMTOOL_CACHE = "/var/cache/fsxds-test/promtool/usr/bin/promtool"


def t_metrics():
    """metrics_file with ads: the fsxds_ads_* families: streams, ACKs and
    NACKs counted, a standing NACK per node and type; promtool accepts the
    file."""
    env, d = start(tree2())
    prom = os.path.join(env.root, "fsxds.prom")
    env.write_config(metrics_file=prom)
    mark = d.mark()
    d.sighup()
    d.wait_rebuild(mark)
    s = env.sotw("alpha")
    s.subscribe("CDS")
    cds = s.next("CDS")
    s.nack(cds, NACK_MESSAGE)
    s.subscribe("EDS", ["shared"])
    s.ack(s.next("EDS"))

    def samples():
        try:
            text = read(prom).decode()
        except OSError:
            return None
        got = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                k, _, v = line.rpartition(" ")
                got[k] = v
        return got

    want = {"fsxds_ads_streams": "1", "fsxds_ads_nacks_total": "1", "fsxds_ads_acks_total": "1",
            'fsxds_ads_node_nacked{node="alpha",type="CDS"}': "1", 'fsxds_ads_node_streams{node="alpha"}': "1"}
    got = wait_until(lambda: (lambda g: g if g and all(g.get(k) == v for k, v in want.items()) else None)(samples()),
                     "the ADS samples %r in %s" % (want, prom))
    expect(int(got.get("fsxds_ads_bytes", "0")) > 0, "fsxds_ads_bytes: %r", got.get("fsxds_ads_bytes"))
    promtool = os.environ.get("FSXDS_PROMTOOL") or shutil.which("promtool") or PROMTOOL_CACHE
    if os.access(promtool, os.X_OK):
        p = subprocess.run([promtool, "check", "metrics"], input=read(prom), capture_output=True)
        expect(p.returncode == 0, "promtool check metrics: %s%s", p.stdout.decode(), p.stderr.decode())
    s.close()
    wait_until(lambda: (lambda g: g if g and g.get('fsxds_ads_node_streams{node="alpha"}') == "0" else None)(samples()),
               "alpha's streams back to 0 in the metrics after its client left")
    d.stop()


def t_subscription_change():
    """EDS names added and removed, LDS from a name to another; each change
    answered with exactly the names asked for."""
    env, d = start(tree2())
    s = env.sotw("alpha", auto_ack=True)
    s.subscribe("EDS", ["shared"])
    expect_eq(s.next("EDS").names, ["shared"], "EDS [shared]")
    s.change("EDS", ["shared", "extra"])
    expect_eq(sorted(s.next("EDS").names), ["extra", "shared"], "EDS after adding extra")
    s.change("EDS", ["extra"])
    expect_eq(s.next("EDS").names, ["extra"], "EDS after removing shared")
    s.subscribe("LDS", ["l0"])
    expect_eq(s.next("LDS").names, ["l0"], "LDS by name [l0]")
    # shared changes while the stream asks for extra only: whatever comes
    # for EDS names extra alone; subscribing to shared again brings the new port
    mark = d.mark()
    env.write("common/eds.yaml", y_docs(y_cla("shared", [("10.0.0.1", 8100)]), y_cla("extra", [("10.0.0.2", 8001)])))
    d.wait_rebuild(mark)
    time.sleep(QUIET)
    wrong = [r for r in s.responses if r.type == "EDS" and r.seq not in s.taken and r.names != ["extra"]]
    expect(not wrong, "EDS responses naming more than the subscribed extra: %r", wrong)
    s.change("EDS", ["shared"])
    r = s.wait(lambda r: r.type == "EDS" and r.names == ["shared"], what="EDS after subscribing to shared again")
    expect_eq(r.names, ["shared"], "EDS [shared] again")
    expect_eq(port_of(r.resources["shared"]), 8100, "shared's new port")
    s.close()
    d.stop()


def t_push_order():
    """A generation adding a cluster with its endpoints and a listener with
    its route configuration, and removing a cluster: an Envoy-like client
    (EDS and RDS subscriptions follow CDS and LDS, then ACK) records CDS <
    EDS < LDS < RDS, and the removal of the old cluster after them all."""
    env, d = start(tree2(), settle="1s")
    s = env.sotw("alpha", envoy_like=True)
    s.subscribe("CDS")
    s.subscribe("LDS")
    s.wait(lambda r: r.type == "EDS" and "old" in r.names, what="the first EDS with old", take=False)
    s.wait(lambda r: r.type == "RDS" and r.names == ["r0"], what="the first RDS with r0", take=False)
    mark = len(s.responses)
    gmark = d.mark()
    mv_write(env, "nodes/alpha/eds.yaml", y_cla("c2", [("10.0.0.3", 8003)]))
    mv_write(env, "nodes/alpha/cds.yaml", y_cluster("c2"))
    mv_write(env, "nodes/alpha/rds.yaml", y_docs(y_routes("r0", [("/", "shared")]), y_routes("r1", [("/", "c2")])))
    mv_write(env, "nodes/alpha/lds.yaml", y_docs(y_listener("l0", 10000, "r0"), y_listener("l1", 10002, "r1")))
    d.wait_rebuild(gmark)

    def first(pred, what):
        return s.wait(pred, what=what, after=mark, take=False)
    c = first(lambda r: r.type == "CDS" and "c2" in r.names, "CDS with c2")
    e = first(lambda r: r.type == "EDS" and "c2" in r.names, "EDS with c2")
    lis = first(lambda r: r.type == "LDS" and "l1" in r.names, "LDS with l1")
    rt = first(lambda r: r.type == "RDS" and "r1" in r.names, "RDS with r1")
    gone = first(lambda r: r.type == "CDS" and "old" not in r.names, "CDS without old (the removal)")
    order = [(x.seq, n) for x, n in ((c, "CDS+c2"), (e, "EDS+c2"), (lis, "LDS+l1"), (rt, "RDS+r1"),
                                     (gone, "CDS-old"))]
    expect(order == sorted(order), "push order: %s; all received: %r",
           " ".join("%s@%d" % (n, i) for i, n in order), s.responses[mark:])
    s.close()
    d.stop()


def t_delta():
    """Delta: per-resource versions; initial_resource_versions (only what
    differs is sent); removed_resources when a cluster leaves the tree."""
    env, d = start(tree2())
    s = env.delta("alpha")
    s.subscribe("CDS")
    r = s.next("CDS")
    expect_eq(sorted(r.names), ["extra", "old", "shared"], "alpha's clusters over delta (wildcard)")
    for n, v in r.versions.items():
        expect(v, "cluster %s has no resource version", n)
    expect(len(set(r.versions.values())) == 3, "three clusters, versions %r", r.versions)
    expect(r.nonce, "the delta response has no nonce")
    s.ack(r)
    s.close()
    first = dict(r.versions)
    # extra changes while no stream is open; a new stream says what it has
    mark = d.mark()
    env.write("common/cds.yaml", y_docs(y_cluster("shared"), y_cluster("extra", timeout="3s")))
    d.wait_rebuild(mark)
    s = env.delta("alpha")
    s.subscribe("CDS", initial_versions=first)
    r = s.next("CDS", what="the delta CDS response to initial_resource_versions")
    expect_eq(r.names, ["extra"], "resources sent to a client that has shared and old at their versions")
    expect(r.versions["extra"] != first["extra"], "extra's version did not change: %r", r.versions)
    expect_eq(r.resources["extra"].connect_timeout.seconds, 3, "extra's connect_timeout")
    s.ack(r)
    # extra leaves the tree: removed_resources
    mark = d.mark()
    env.write("common/cds.yaml", y_cluster("shared"))
    env.write("common/eds.yaml", y_cla("shared", [("10.0.0.1", 8000)]))
    d.wait_rebuild(mark)
    r = s.wait(lambda r: r.type == "CDS" and "extra" in r.removed, what="removed_resources [extra]")
    expect("extra" not in r.names, "extra both sent and removed: %r", r)
    s.ack(r)
    # an initial version that is stale: sent; one that is gone: removed
    s2 = env.delta("alpha")
    s2.subscribe("CDS", initial_versions={"shared": "0000000000000000", "extra": first["extra"]})
    r = s2.next("CDS", what="the response to stale initial_resource_versions")
    expect_in("shared", r.names, "a resource with a stale initial version is sent")
    expect_in("extra", r.removed, "a resource the client has and the node does not is in removed_resources")
    s.close()
    s2.close()
    d.stop()


def t_unknown_node():
    """A node the tree does not have gets no response and fsxds status
    warns; once its directory appears, the waiting stream gets its
    clusters."""
    env, d = start(tree2())
    s = env.sotw("stranger")
    s.subscribe("CDS")
    s.expect_none(quiet=QUIET)
    text = wait_until(lambda: (lambda t: t if "stranger" in t else None)(env.cli_status()),
                      "fsxds status to name the unknown node stranger")
    expect(re.search(r"unknown|not in the tree|no such node", text, re.I),
           "fsxds status names stranger without a warning:\n%s", text)
    expect(s.code() is None, "the stream of an unknown node ended: %s", s.status_text())
    mark = d.mark()
    env.write("nodes/stranger/cds.yaml", y_cluster("strange"))
    env.write("nodes/stranger/eds.yaml", y_cla("strange", [("10.0.0.7", 8007)]))
    d.wait_rebuild(mark)
    r = s.next("CDS", what="CDS once stranger is in the tree")
    expect_eq(sorted(r.names), ["extra", "shared", "strange"], "stranger's clusters")
    s.close()
    d.stop()


def t_tree_removed():
    """A node whose directory is removed (no fsxds forget) keeps being
    served its last generation: no empty state of the world on its stream,
    and a new stream gets the last clusters."""
    env, d = start(tree2())
    s = env.sotw("alpha", auto_ack=True)
    s.subscribe("CDS")
    r = s.next("CDS")
    mark = d.mark()
    shutil.rmtree(env.path("nodes/alpha"))
    d.wait_rebuild(mark)
    time.sleep(QUIET)
    empty = [x for x in s.responses if x.type == "CDS" and not x.names]
    expect(not empty, "an empty CDS state of the world was sent to alpha after its tree vanished: %r", empty)
    expect(s.code() is None, "alpha's stream ended when its tree vanished: %s", s.status_text())
    s2 = env.sotw("alpha")
    s2.subscribe("CDS")
    r2 = s2.next("CDS", what="CDS for a node whose tree vanished")
    expect_eq(sorted(r2.names), sorted(r.names), "the clusters served after alpha's tree vanished")
    s.close()
    s2.close()
    d.stop()
    # and after a restart, which has no build of alpha: its last good copy
    d = env.daemon()
    wait_until(lambda: os.path.exists(env.socket), "the ADS socket %s after the restart" % env.socket)
    s3 = env.sotw("alpha")
    s3.subscribe("CDS")
    r3 = s3.next("CDS", what="CDS for a node whose tree vanished, after a restart")
    expect_eq(sorted(r3.names), sorted(r.names), "the clusters served after a restart without alpha's tree")
    s3.close()
    d.stop()


N_STREAMS = 100


def t_many_streams():
    """100 concurrent streams (one connection each) of 100 nodes each get
    their node's clusters, then the change of a common cluster."""
    tree = {"common/cds.yaml": y_cluster("shared"), "common/eds.yaml": y_cla("shared", [("10.0.0.1", 8000)])}
    for i in range(N_STREAMS):
        tree["nodes/n%03d/cds.yaml" % i] = y_cluster("c%03d" % i)
        tree["nodes/n%03d/eds.yaml" % i] = y_cla("c%03d" % i, [("10.1.0.1", 9000 + i)])
    env, d = start(tree)
    streams = []
    for i in range(N_STREAMS):
        s = env.sotw("n%03d" % i, auto_ack=True)
        s.subscribe("CDS")
        streams.append(s)
    firsts = []
    for i, s in enumerate(streams):
        r = s.next("CDS", what="node n%03d's clusters" % i)
        expect_eq(sorted(r.names), sorted(["c%03d" % i, "shared"]), "node n%03d's clusters" % i)
        firsts.append(r.version)
    counted = [None]

    def all_counted():
        counted[0] = sum((v.get("ads") or {}).get("streams", 0) for v in env.status()["nodes"].values())
        return counted[0] == N_STREAMS
    try:
        wait_until(all_counted, "status.json to count %d streams" % N_STREAMS)
    except AssertionError:
        raise AssertionError("status.json counts %r streams, %d are open" % (counted[0], N_STREAMS))
    mark = d.mark()
    env.write("common/cds.yaml", y_cluster("shared", timeout="4s"))
    d.wait_rebuild(mark)
    for i, s in enumerate(streams):
        r = s.next("CDS", what="node n%03d's CDS after shared changed" % i)
        expect(r.version != firsts[i], "node n%03d: the same CDS version after a change", i)
        expect_eq(r.resources["shared"].connect_timeout.seconds, 4, "n%03d: shared's connect_timeout" % i)
    for s in streams:
        s.close()
    d.stop()


def t_stalled_client():
    """A client that never reads (raw HTTP/2: a 16-byte stream window never
    updated, no recv()) on alpha: the daemon's loop goes on, and streams of
    alpha and beta keep receiving every update."""
    env, d = start(tree2(), ack_timeout="2s")
    stalled = [xc.StalledClient(xds(), env.socket, "alpha", types=("CDS", "LDS")) for _ in range(3)]
    s = env.sotw("alpha", auto_ack=True)
    b = env.sotw("beta", auto_ack=True)
    s.subscribe("EDS", ["shared"])
    b.subscribe("EDS", ["shared"])
    s.next("EDS")
    b.next("EDS")
    for k in range(5):
        port = 8200 + k
        mark = d.mark()
        env.write("common/eds.yaml", y_docs(y_cla("shared", [("10.0.0.1", port)]),
                                            y_cla("extra", [("10.0.0.2", 8001)])))
        d.wait_rebuild(mark)
        for st, node in ((s, "alpha"), (b, "beta")):
            st.wait(lambda r: r.type == "EDS" and port_of(r.resources["shared"]) == port,
                    what="%s's EDS with port %d (update %d, a stalled client open)" % (node, port, k + 1))
        # the loop still answers the CLI
        env.cli_status()
    expect(d.alive(), "fsxdsd died with a stalled client")
    for c in stalled:
        c.close()
    s.close()
    b.close()
    d.stop()


def t_sighup():
    """SIGHUP keeps the streams: a generation made after the reload
    arrives on the stream opened before it."""
    env, d = start(tree2())
    s = env.sotw("alpha", auto_ack=True)
    s.subscribe("CDS")
    first = s.next("CDS")
    mark = d.mark()
    d.sighup()
    i, _ = d.notify.wait(lambda m: m.get("RELOADING") == "1", mark, what="RELOADING=1", alive=d.alive)
    d.notify.wait(lambda m: m.get("READY") == "1", i, what="READY=1 after the reload", alive=d.alive)
    expect(s.code() is None and not s.ended, "the stream ended on SIGHUP: %s", s.status_text())
    mark = d.mark()
    env.write("common/cds.yaml", y_docs(y_cluster("shared", timeout="5s"), y_cluster("extra")))
    d.wait_rebuild(mark)
    r = s.next("CDS", what="CDS after the reload, on the stream opened before it")
    expect(r.version != first.version, "the same CDS version after a change")
    expect_eq(r.resources["shared"].connect_timeout.seconds, 5, "shared's connect_timeout after the reload")
    s.close()
    d.stop()


def openssl(*args, cwd):
    p = subprocess.run(["openssl"] + list(args), cwd=cwd, capture_output=True, text=True)
    if p.returncode != 0:
        raise AssertionError("openssl %s: exit %d: %s" % (" ".join(args), p.returncode, p.stderr))


def tls_pki(d):
    """A CA, a server certificate for 127.0.0.1/localhost and client
    certificates naming alpha (CN) and beta (SAN only), under d."""
    os.makedirs(d, exist_ok=True)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-subj", "/CN=fsxds-test-ca",
            "-days", "30", cwd=d)
    leaves = (("server", "/CN=localhost", "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth"),
              ("alpha", "/CN=alpha", "extendedKeyUsage=clientAuth"),
              ("beta", "/CN=fsxds-test-client", "subjectAltName=DNS:beta\nextendedKeyUsage=clientAuth"))
    for name, subj, ext in leaves:
        write(os.path.join(d, name + ".ext"), ext + "\n")
        openssl("req", "-new", *ec, "-keyout", name + ".key", "-out", name + ".csr", "-subj", subj, cwd=d)
        openssl("x509", "-req", "-in", name + ".csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                "-out", name + ".pem", "-days", "30", "-extfile", name + ".ext", cwd=d)
    return {n: os.path.join(d, n) for n in ("ca", "server", "alpha", "beta")}


def not_after(pem):
    """a certificate's notAfter, seconds since the epoch"""
    out = subprocess.run(["openssl", "x509", "-noout", "-enddate", "-in", pem], capture_output=True, text=True,
                         check=True).stdout.strip()
    t = datetime.datetime.strptime(out.split("=", 1)[1], "%b %d %H:%M:%S %Y %Z")
    return int(t.replace(tzinfo=datetime.timezone.utc).timestamp())


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def t_tls():
    """TCP with mutual TLS: a client whose certificate names its node.id
    (CN or SAN) gets its clusters; one claiming another node is refused
    (PERMISSION_DENIED) and gets nothing; a client without a certificate
    gets no stream."""
    xds()
    tree = tree2()
    root = tempfile.mkdtemp(prefix="fsxds-ads-pki-")
    try:
        p = tls_pki(root)
        port = free_port()
        env = AdsEnv(tree, listen="127.0.0.1:%d" % port,
                     tls={"cert": p["server"] + ".pem", "key": p["server"] + ".key", "client_ca": p["ca"] + ".pem"})
        prom = os.path.join(env.root, "fsxds.prom")
        env.write_config(metrics_file=prom)
        d = env.daemon()

        def channel(who):
            tls = {"ca": read(p["ca"] + ".pem"), "server_name": "localhost"}
            if who:
                tls.update(cert=read(p[who] + ".pem"), key=read(p[who] + ".key"))
            return xds().channel("127.0.0.1:%d" % port, tls=tls, options=[("grpc.use_local_subchannel_pool", 1)])
        for who in ("alpha", "beta"):
            s = xds().sotw(channel(who), who)
            s.subscribe("CDS")
            r = s.next("CDS", what="%s's clusters over TLS (its certificate names it)" % who)
            expect_in("shared", r.names, "%s's clusters over TLS" % who)
            s.close()
        # the server certificate's end: status.json, the metric, fsxds status
        end = not_after(p["server"] + ".pem")
        wait_until(lambda: env.status()["ads"].get("cert_not_after") == end,
                   "status.json's ads.cert_not_after to be the certificate's notAfter (%d)" % end)
        wait_until(lambda: re.search(r"^fsxds_ads_cert_not_after_seconds %d$" % end, read(prom).decode(), re.M),
                   "fsxds_ads_cert_not_after_seconds %d" % end)
        expect_in("ADS server certificate valid until ", env.cli_status(), "fsxds status")
        s = xds().sotw(channel("alpha"), "beta")
        s.subscribe("CDS")
        wait_until(lambda: s.ended, "the stream of a client whose certificate names alpha claiming beta to end")
        expect(not s.responses, "a client claiming another node's id was sent %r", s.responses)
        expect_eq(s.code(), xc.grpc.StatusCode.PERMISSION_DENIED, "the status of a stream claiming another node")
        s = xds().sotw(channel(None), "alpha")
        s.subscribe("CDS")
        wait_until(lambda: s.ended, "the stream of a client without a certificate to end")
        expect(not s.responses, "a client without a certificate was sent %r", s.responses)
        # the refused handshake is told, with OpenSSL's reason, and counted
        wait_until(lambda: re.search(r"ADS: tcp 127\.0\.0\.1:\d+ refused: TLS handshake: peer did not return a "
                                     r"certificate", d.log_text()),
                   "the log to say why a client without a certificate was refused")
        wait_until(lambda: re.search(r"^fsxds_ads_refused_total [1-9]", read(prom).decode(), re.M),
                   "fsxds_ads_refused_total to count the refused handshake")
        # a server certificate out of its validity is refused at load: the
        # previous listener stays and status says why
        pk = pki.make(os.path.join(root, "expired"), "p256")
        env.ads_tls = dict(env.ads_tls, cert=pk.expired_cert, key=pk.expired_key)
        env.write_config()
        d.sighup()
        wait_until(lambda: "expired on 2020-01-02" in (env.status()["ads"].get("error") or ""),
                   "status.json's ads.error to say the server certificate expired")
        expect_in("tls cert %s: expired on 2020-01-02 00:00:00 UTC" % pk.expired_cert, d.log_text(),
                  "the log names the expired certificate")
        s = xds().sotw(channel("alpha"), "alpha")
        s.subscribe("CDS")
        expect_in("shared", s.next("CDS", what="clusters on the previous listener").names,
                  "the previous listener still serves")
        s.close()
        # a certificate close to its end is warned about; one that ended
        # while it served is shown EXPIRED
        now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
        for name, end, want in (("soon", now + datetime.timedelta(days=3), r"expires on .*, in 2 days: renew"),
                                ("ending", now + datetime.timedelta(seconds=12), r"EXPIRED on .*: TLS clients refuse it")):
            key, cert = pki.new_leaf(pk, name, end=end, ext="server")
            env.ads_tls = dict(env.ads_tls, cert=cert, key=key)
            env.write_config()
            d.sighup()
            wait_until(lambda: env.status()["ads"].get("cert_not_after") == not_after(cert),
                       "the %s certificate to be taken (status.json: %r)" % (name, env.status()["ads"]))
            expect(not env.status()["ads"].get("error"), "ads.error with the %s certificate: %r", name,
                   env.status()["ads"])
            wait_until(lambda: re.search("ADS WARNING: the server certificate " + want, env.cli_status()),
                       "fsxds status to say /%s/" % want)
        d.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main():
    run_cases("ads", (("sotw", t_sotw), ("ack-status", t_ack_status), ("nack", t_nack), ("metrics", t_metrics),
                      ("subscription-change", t_subscription_change), ("push-order", t_push_order),
                      ("delta", t_delta), ("unknown-node", t_unknown_node), ("tree-removed", t_tree_removed),
                      ("many-streams", t_many_streams), ("stalled-client", t_stalled_client),
                      ("sighup", t_sighup), ("tls", t_tls)))


if __name__ == "__main__":
    main()
