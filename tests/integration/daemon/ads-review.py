#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Review of fsxdsd's xDS server (issue 16) as a hostile client or a
careless operator would use it: each case is a problem found in review,
written to fail until the daemon handles it. Same harness and clients as
ads.py (Debian's python3-grpcio and python3-protobuf; run under
/usr/bin/python3).

Every wait is "until X" with a generous timeout (FSXDS_TEST_WAIT)."""
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import *  # noqa: E402,F401,F403
import ads as A  # noqa: E402  (its start(), AdsEnv, tree2(), xds())


def t_idle_connections_fd_budget():
    """fsxdsd under systemd's default LimitNOFILE (soft 1024; the unit sets
    none) with 1,100 local connections that never speak (a client in
    output_group, or any TCP peer before the TLS handshake): the default
    max_connections (1024) is above what the fds allow, so the daemon runs
    out of fds, cannot read its source tree or write status.json, and its
    listening socket, level-triggered with accept4() failing EMFILE, spins
    the loop. Expected: the tree's next change is still published (the
    daemon keeps fds for its own work: caps connections below its fd limit,
    or raises its soft limit, and stops accepting instead of spinning)."""
    env, d = A.start(A.tree2())
    resource.prlimit(d.proc.pid, resource.RLIMIT_NOFILE, (1024, 1024))
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 4096)), hard))
    conns = []
    try:
        for _ in range(1100):
            c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
            c.settimeout(WAIT)
            c.connect(env.socket)
            conns.append(c)
        # the daemon has taken what it will take once its fd count stops growing
        fd_dir = "/proc/%d/fd" % d.proc.pid
        wait_until(lambda: len(os.listdir(fd_dir)) >= 500, "fsxdsd to accept the idle connections (up to half its fds)")
        mark = d.mark()
        env.write("common/eds.yaml", y_docs(y_cla("shared", [("10.0.0.1", 8123)]),
                                            y_cla("extra", [("10.0.0.2", 8001)])))
        try:
            st = d.wait_generation(mark, 2)
        except AssertionError as e:
            starved = [l for l in d.log_text().splitlines() if "Too many open files" in l]
            raise AssertionError("no generation published for a tree change while 1,100 idle ADS connections are "
                                 "open (fd limit 1024): %s; the daemon says:\n%s" % (e, "\n".join(starved[:6])))
        expect_eq(st["nodes"]["alpha"]["error"], None, "alpha's error after a tree change with 1,100 idle connections")
        expect("Too many open files" not in d.log_text(),
               "fsxdsd ran out of fds with 1,100 idle ADS connections:\n%s",
               "\n".join(l for l in d.log_text().splitlines() if "Too many open files" in l)[:2000])
    finally:
        for c in conns:
            c.close()
    d.stop()


def t_socket_in_output_dir():
    """ads.listen inside output_dir, named like a node that the tree gets
    later (a careless operator: `listen: unix:/srv/envoy/edge-3`): the
    configuration is accepted, the daemon listens, then publishing node
    edge-3 silently replaces the socket with the node's directory. Nothing
    can connect any more, yet status.json and `fsxds status` still say
    "ADS serving on ..." with no error. Expected: refused where it would
    collide (a listen path inside output_dir or state_dir), or at least
    the lost listener reported."""
    env = A.AdsEnv(A.tree2())
    sock = os.path.join(env.out, "gamma")
    env.ads_listen = "unix:" + sock
    env.write_config()
    d = env.daemon()
    # refusing the configuration at start is a fine answer too
    if not d.alive():
        return
    wait_until(lambda: os.path.exists(sock), "the ADS socket %s" % sock)
    mark = d.mark()
    env.write("nodes/gamma/lds.yaml", y_listener("lg", 10077, "rg"))
    env.write("nodes/gamma/rds.yaml", y_routes("rg", [("/", "shared")]))
    d.wait_rebuild(mark)
    if not os.path.isdir(env.node_dir("gamma")):
        # refusing the node is a fine answer too, if it says why
        err = (env.status()["nodes"].get("gamma") or {}).get("error") or {}
        expect("socket" in (err.get("message") or ""),
               "node gamma is not published and its status names no reason about the socket: %r", err)
    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    c.settimeout(WAIT)
    try:
        c.connect(sock)
        reachable = True
    except OSError:
        reachable = False
    finally:
        c.close()
    if not reachable:
        st = env.status()
        expect(st["ads"]["error"],
               "the ADS socket %s was replaced by node gamma's directory (connect fails), yet status.json's "
               "ads says no error: %r; fsxds status:\n%s", sock, st["ads"], env.cli_status())
    d.stop()


def t_nack_starves_new_clients():
    """One client of node alpha NACKs its CDS (a broken Envoy, or any
    process that can open the unix socket and says node.id alpha: over the
    socket nothing authenticates the node). A second, fresh client of
    alpha (another replica, or the same Envoy restarted) then subscribes
    to CDS and is sent nothing at all, ever, until the tree changes: it
    has no clusters, so an Envoy stays in its initialization. The doc
    says a NACKed version is "not offered to that node again"; for a
    stream that has no version of the type yet, withholding the only
    state there is is not make-before-break, it is a denial of service.
    Expected: the new stream receives alpha's clusters (Envoy applies the
    valid ones of a NACKed CDS anyway)."""
    env, d = A.start(A.tree2())
    bad = env.sotw("alpha")
    bad.subscribe("CDS")
    r = bad.next("CDS")
    bad.nack(r, "cluster old: rejected by a broken client")
    env.wait_ads("alpha", lambda a: A.type_status(a, "CDS").get("nacked") == r.version, "the CDS NACK")
    bad.close()
    fresh = env.sotw("alpha")
    fresh.subscribe("CDS")
    got = fresh.next("CDS", what="alpha's clusters on a fresh stream after another client NACKed them")
    expect_in("shared", got.names, "alpha's clusters on the fresh stream")
    fresh.close()
    d.stop()


def big_tree(n):
    """tree2 with n more EDS clusters in common/ (so every node's CDS
    response is about n * 120 bytes)."""
    t = A.tree2()
    t["common/cds.yaml"] = y_docs(*[y_cluster("c%05d" % i) for i in range(n)] +
                                  [y_cluster("shared"), y_cluster("extra")])
    t["common/eds.yaml"] = y_docs(*[y_cla("c%05d" % i, [("10.0.%d.%d" % (i // 250, i % 250 + 1), 8000)])
                                    for i in range(n)] +
                                  [y_cla("shared", [("10.0.0.1", 8000)]), y_cla("extra", [("10.0.0.2", 8001)])])
    return t


def t_stalled_streams_memory():
    """200 streams that never read (xdsclient.StalledClient: 16-byte
    window, no recv()) on node alpha, whose CDS response is about 250 KB:
    the server holds a full copy of the response per stream (status.json's
    ads.bytes and the RSS grow by streams x response; 1,000 such streams on
    a 10,000-cluster tree hold 875 MB). The issue asks for bounded
    per-stream buffers and fsxds_ads_bytes says "the resources it serves
    (each held once)". Expected: the bytes held stay within a few copies of
    the snapshot, not one per stream."""
    env, d = A.start(big_tree(2000))
    cds = os.path.getsize(os.path.join(env.node_dir("alpha"), "cds", "cds.pb"))
    stalled = []
    try:
        for _ in range(200):
            stalled.append(A.xc.StalledClient(A.xds(), env.socket, "alpha", types=("CDS",)))
        env.wait_ads("alpha", lambda a: a.get("streams") == 200, "200 streams of alpha")
        # status.json is written on connection events: one more, to be sure it is current
        probe = env.sotw("beta")
        probe.subscribe("CDS")
        probe.next("CDS")
        held = env.status()["ads"]["bytes"]
        # each stalled client is a connection of its own, and nghttp2's
        # session costs some 30 KB a connection whatever it is sent; a
        # copy of the response per stream would be 274 KB a stream
        expect(held < 200 * cds / 4,
               "200 stalled streams: the xDS server holds %d bytes, %.0f KB a stream against alpha's CDS response "
               "of %d bytes: a copy per stream, not bounded", held, held / 200 / 1024, cds)
        probe.close()
    finally:
        for c in stalled:
            c.close()
    d.stop()


def t_status_connections():
    """status.json's ads.connections counts the open connections: with
    three clients connected (a channel each) it says 0."""
    env, d = A.start(A.tree2())
    ss = [env.sotw(n, auto_ack=True) for n in ("alpha", "alpha", "beta")]
    for s in ss:
        s.subscribe("CDS")
        s.next("CDS")
    env.wait_ads("beta", lambda a: a.get("streams") == 1, "beta's stream")
    got = env.status()["ads"]
    expect_eq(got.get("streams"), 3, "status.json ads.streams with three clients")
    expect_eq(got.get("connections"), 3, "status.json ads.connections with three clients (one channel each)")
    for s in ss:
        s.close()
    d.stop()


def tls_env(root, **tls_over):
    p = A.tls_pki(root)
    port = A.free_port()
    tls = {"cert": p["server"] + ".pem", "key": p["server"] + ".key", "client_ca": p["ca"] + ".pem"}
    tls.update(tls_over)
    env = A.AdsEnv(A.tree2(), listen="127.0.0.1:%d" % port, tls=tls)
    return env, p, port


def t_check_config_tls():
    """`fsxdsd --check-config` (the unit's ExecStartPre=, documented as
    checking "the configuration file and what it names") says ok for an
    ads.tls whose key does not match its certificate, or whose client_ca
    does not exist: the unit then starts and nothing listens (the journal
    has "ADS: cannot listen"). Expected: exit 1 with the file and field."""
    A.xds()
    root = tempfile.mkdtemp(prefix="fsxds-ads-review-pki-")
    try:
        for what, over in (("a key that is not the certificate's", {"key": "alpha.key"}),
                           ("a client_ca that does not exist", {"client_ca": "missing-ca.pem"})):
            over = {k: os.path.join(root, v) for k, v in over.items()}
            env, p, port = tls_env(root, **over)
            r = subprocess.run([FSXDSD, "--config", env.config_path, "--check-config"],
                               capture_output=True, text=True)
            expect(r.returncode != 0, "fsxdsd --check-config with ads.tls naming %s: exit %d (ok), "
                   "stdout %r stderr %r", what, r.returncode, r.stdout, r.stderr)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def t_status_after_refused_reload():
    """A reload whose ads.tls cannot be loaded (a key that is not the
    certificate's) keeps the previous listener, as the journal says ("the
    previous listener stays") and clients are still served; but status.json
    and `fsxds status` then say "ADS NOT serving on ...". Expected: the
    status tells that the previous listener still serves and the reload's
    listener was refused."""
    A.xds()
    root = tempfile.mkdtemp(prefix="fsxds-ads-review-pki-")
    try:
        env, p, port = tls_env(root)
        d = env.daemon()
        env.ads_tls = dict(env.ads_tls, key=p["alpha"] + ".key")
        env.write_config()
        mark = d.mark()
        d.sighup()
        d.notify.wait(lambda m: m.get("READY") == "1", mark, what="READY=1 after the reload", alive=d.alive)
        wait_until(lambda: env.status()["ads"].get("error"), "status.json to carry the refused listener")
        tls = {"ca": read(p["ca"] + ".pem"), "server_name": "localhost",
               "cert": read(p["alpha"] + ".pem"), "key": read(p["alpha"] + ".key")}
        s = A.xds().sotw(A.xds().channel("127.0.0.1:%d" % port, tls=tls,
                                         options=[("grpc.use_local_subchannel_pool", 1)]), "alpha")
        s.subscribe("CDS")
        s.next("CDS", what="alpha's clusters from the previous listener after the refused reload")
        s.close()
        out = env.cli_status()
        expect("NOT serving" not in out,
               "the previous listener still serves alpha, yet fsxds status says:\n%s", out)
        d.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)


def t_unknown_node_metrics():
    """Streams that claim node ids the tree does not have (any process
    that can open the socket may say any node.id) leave a metrics series
    per id behind, fsxds_ads_node_streams{node="ghost-N"} 0, kept after
    they disconnect and rewritten at every status write: a client looping
    over random ids grows metrics_file (and Prometheus' series) without
    bound (10,000 ids: 486 KB of metrics_file). Expected: no series for a
    node that is neither in the tree nor connected."""
    env, d = A.start(A.tree2(), metrics_file=None)
    prom = os.path.join(env.root, "fsxds.prom")
    env.write_config(metrics_file=prom)
    mark = d.mark()
    d.sighup()
    d.notify.wait(lambda m: m.get("READY") == "1", mark, what="READY=1 after the reload", alive=d.alive)
    ghosts = []
    try:
        for i in range(300):
            ghosts.append(A.xc.StalledClient(A.xds(), env.socket, "ghost-%03d" % i, types=("CDS",)))
        wait_until(lambda: len(env.status()["ads"].get("unknown_nodes", [])) == 300,
                   "status.json to list the 300 unknown nodes")
    finally:
        for g in ghosts:
            g.close()
    wait_until(lambda: not env.status()["ads"].get("unknown_nodes"), "the unknown nodes to go from status.json")
    mark = d.mark()
    env.write("common/eds.yaml", y_docs(y_cla("shared", [("10.0.0.1", 8124)]), y_cla("extra", [("10.0.0.2", 8001)])))
    d.wait_generation(mark, 2)
    text = read(prom).decode() if isinstance(read(prom), bytes) else read(prom)
    left = [l for l in text.splitlines() if 'node="ghost-' in l]
    expect(not left, "metrics_file keeps %d series of node ids that are not in the tree and not connected, e.g. %r",
           len(left), left[:3])
    d.stop()


def t_nack_blocks_new_subscription():
    """A client NACKs the EDS response for cluster shared, then adds
    cluster extra to its EDS subscription (as Envoy does when CDS brings a
    new cluster): it is sent nothing, because version_info is one hash of
    all of the node's EDS resources, whatever the subscription, and that
    version was NACKed. The new cluster never gets its endpoints until the
    tree changes. Expected: a response carrying extra's endpoints (a
    version that differs with the subscription, or the NACK remembered per
    resource set)."""
    env, d = A.start(A.tree2())
    s = env.sotw("alpha")
    s.subscribe("CDS")
    s.ack(s.next("CDS"))
    s.subscribe("EDS", ["shared"])
    e = s.next("EDS")
    s.nack(e, "endpoint of shared refused")
    env.wait_ads("alpha", lambda a: A.type_status(a, "EDS").get("nacked") == e.version, "the EDS NACK")
    s.change("EDS", ["shared", "extra"])
    r = s.wait(lambda r: r.type == "EDS" and "extra" in r.names,
               what="extra's endpoints after the subscription added it (shared's EDS was NACKed before)")
    expect_eq(A.port_of(r.resources["extra"]), 8001, "extra's port")
    s.close()
    d.stop()


def t_unacked_reply_blocks_pushes():
    """A client that reads its responses but has not ACKed the first ones
    (slow, or stuck before its ACK): the next generation is never pushed
    to it, status.json says "pushing" forever, and no ACK timeout is
    counted, although ads.ack_timeout is 2s. The docs say each push step
    waits for the ACK, NACK or ads.ack_timeout. (xds_stream_pump returns
    on a pending reply whose timer was never armed: only push steps arm
    it.) Expected: the new clusters arrive, at the latest an ack_timeout
    after the generation."""
    env, d = A.start(A.tree2(), ack_timeout="2s")
    s = env.sotw("alpha")
    s.subscribe("CDS")
    first = s.next("CDS")
    mark = d.mark()
    env.write("common/cds.yaml", y_docs(y_cluster("shared"), y_cluster("extra"), y_cluster("added")))
    env.write("common/eds.yaml", y_docs(y_cla("shared", [("10.0.0.1", 8000)]), y_cla("extra", [("10.0.0.2", 8001)]),
                                        y_cla("added", [("10.0.0.3", 8002)])))
    d.wait_generation(mark, 2)
    s.wait(lambda r: r.type == "CDS" and "added" in r.names,
           what="the new generation's clusters on a stream whose first CDS (version %s) is not ACKed yet, "
                "ack_timeout 2s" % first.version)
    s.close()
    d.stop()


CASES = (
    ("idle-connections-fd-budget", t_idle_connections_fd_budget),
    ("socket-in-output-dir", t_socket_in_output_dir),
    ("nack-starves-new-clients", t_nack_starves_new_clients),
    ("stalled-streams-memory", t_stalled_streams_memory),
    ("status-connections", t_status_connections),
    ("check-config-tls", t_check_config_tls),
    ("status-after-refused-reload", t_status_after_refused_reload),
    ("unknown-node-metrics", t_unknown_node_metrics),
    ("nack-blocks-new-subscription", t_nack_blocks_new_subscription),
    ("unacked-reply-blocks-pushes", t_unacked_reply_blocks_pushes),
)


if __name__ == "__main__":
    run_cases("ads-review", CASES)
