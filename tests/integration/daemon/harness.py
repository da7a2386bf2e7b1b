# SPDX-License-Identifier: MIT
"""Shared pieces of fsxdsd's integration tests (python3 stdlib only).

Every test file is run as `python3 FILE FSXDSD FSXDS SOURCE_ROOT`. A test
gets an Env: a mkdtemp() tree with src/, out/, state/ and a config; it
starts the real fsxdsd with a bound AF_UNIX datagram NOTIFY_SOCKET and
waits for what the daemon says there (READY=1, STATUS=, RELOADING=1,
STOPPING=1), edits files the way editors and tools do, and checks what
lands in the node directories: bytes, inodes, mtimes, the order of renames
(an inotify recorder), and DiscoveryResponse wire validity.

Verdicts do not depend on timing: a rebuild is recognised by the STATUS=
datagram the daemon sends after each one (status.json is written just
before it), every wait has a generous timeout, and the tests use a settle
time far longer than the steps of a save. The few checks of an absence
("this edit caused no rebuild") wait twice the settle time first, so a slow
machine can only make them pass, never fail; the checks of a presence that
has no STATUS= of its own (settle_max, an edit behind a ..data switch)
allow ten times the configured time.

Environment: FSXDS_TEST_WAIT (seconds per wait, default 30),
FSXDS_TEST_KEEP=1 (keep the mkdtemp() trees), FSXDS_TEST_BACKENDS and
FSXDS_TEST_MODES (comma-separated, narrow the backend × mode matrix),
FSXDS_TEST_EDITS and FSXDS_TEST_KILLS (reader.py).
"""
import ctypes
import ctypes.util
import json
import os
import re
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback

# exit_now(): tests/ads/exitnow.py, grpc-free
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "ads"))
from exitnow import exit_now  # noqa: E402

if len(sys.argv) >= 4 and not sys.argv[1].startswith("--"):
    FSXDSD = os.path.abspath(sys.argv[1])
    FSXDS = os.path.abspath(sys.argv[2])
    SOURCE_ROOT = os.path.abspath(sys.argv[3])
else:  # a helper process (reader.py --reader ...)
    FSXDSD = FSXDS = SOURCE_ROOT = None

WAIT = float(os.environ.get("FSXDS_TEST_WAIT", "30"))  # seconds, per wait
KEEP = bool(os.environ.get("FSXDS_TEST_KEEP"))

BACKENDS = ("inotify", "fanotify")
MODES = ("rename", "watched_directory")

TYPE_URLS = {
    "lds": "type.googleapis.com/envoy.config.listener.v3.Listener",
    "cds": "type.googleapis.com/envoy.config.cluster.v3.Cluster",
    "rds": "type.googleapis.com/envoy.config.route.v3.RouteConfiguration",
    "eds": "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment",
    "sds": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret",
    "srds": "type.googleapis.com/envoy.config.route.v3.ScopedRouteConfiguration",
    "rtds": "type.googleapis.com/envoy.service.runtime.v3.Runtime",
}
TYPE_DIRS = tuple(sorted(TYPE_URLS))
SOTW = ("lds", "cds", "srds")


class Skip(Exception):
    pass


# ---------------------------------------------------------------- protobuf wire


class WireError(ValueError):
    pass


def _varint(b, i):
    v = 0
    shift = 0
    while True:
        if i >= len(b):
            raise WireError("truncated varint")
        c = b[i]
        i += 1
        v |= (c & 0x7F) << shift
        if not c & 0x80:
            return v, i
        shift += 7
        if shift >= 70:
            raise WireError("varint too long")


def wire_fields(b):
    """All fields of one message: [(number, wire_type, value)]; value is an
    int for varint/fixed, bytes for length-delimited. Raises WireError unless
    the buffer is exactly a sequence of complete fields."""
    out = []
    i = 0
    n = len(b)
    while i < n:
        key, i = _varint(b, i)
        num, wt = key >> 3, key & 7
        if num == 0:
            raise WireError("field number 0 at offset %d" % i)
        if wt == 0:
            v, i = _varint(b, i)
        elif wt == 1:
            if i + 8 > n:
                raise WireError("truncated fixed64")
            v = struct.unpack_from("<Q", b, i)[0]
            i += 8
        elif wt == 2:
            ln, i = _varint(b, i)
            if i + ln > n:
                raise WireError("length %d past the end (offset %d of %d)" % (ln, i, n))
            v = bytes(b[i:i + ln])
            i += ln
        elif wt == 5:
            if i + 4 > n:
                raise WireError("truncated fixed32")
            v = struct.unpack_from("<I", b, i)[0]
            i += 4
        else:
            raise WireError("wire type %d" % wt)
        out.append((num, wt, v))
    return out


def parse_response(b):
    """A DiscoveryResponse, parsed completely: {version, type_url,
    resources: [(type_url, value)]}. Raises WireError on anything malformed."""
    r = {"version": None, "type_url": None, "resources": []}
    for num, wt, v in wire_fields(b):
        if num == 1 and wt == 2:
            r["version"] = v.decode("utf-8")
        elif num == 2 and wt == 2:
            tu, val = None, b""
            for an, awt, av in wire_fields(v):
                if an == 1 and awt == 2:
                    tu = av.decode("utf-8")
                elif an == 2 and awt == 2:
                    val = av
            wire_fields(val)  # the resource itself must be well formed
            r["resources"].append((tu, val))
        elif num == 4 and wt == 2:
            r["type_url"] = v.decode("utf-8")
    return r


def resource_name(value):
    """Field 1 (name / cluster_name / layer name) of a resource."""
    for num, wt, v in wire_fields(value):
        if num == 1 and wt == 2:
            return v.decode("utf-8")
    return None


def response_names(b):
    return [resource_name(v) for _, v in parse_response(b)["resources"]]


def check_published_bytes(typ, data):
    """What an Envoy reading this file would need: complete, decodable, the
    right type, non-empty; one resource for the one-resource types. Returns
    None or what is wrong."""
    if not data:
        return "empty file"
    try:
        r = parse_response(data)
    except (WireError, UnicodeDecodeError) as e:
        return "undecodable (%s), %d bytes" % (e, len(data))
    want = TYPE_URLS[typ]
    if r["type_url"] != want:
        return "type_url %r, expected %r" % (r["type_url"], want)
    if not r["version"] or not re.fullmatch(r"[0-9a-f]{16}", r["version"]):
        return "version_info %r" % r["version"]
    for tu, _ in r["resources"]:
        if tu != want:
            return "resource of type %r in a %s file" % (tu, typ)
    if typ not in SOTW and len(r["resources"]) != 1:
        return "%d resources in a %s file" % (len(r["resources"]), typ)
    return None


# ---------------------------------------------------------------- files


def write(path, text, mode="w"):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, mode) as f:
        f.write(text)


def read(path):
    with open(path, "rb") as f:
        return f.read()


def node_files(node_dir):
    """The relative paths "<type>/<name>.pb" Envoy would read in a node
    directory (either mode), sorted."""
    out = []
    for t in TYPE_DIRS:
        d = os.path.join(node_dir, t)
        try:
            names = os.listdir(d)
        except FileNotFoundError:
            continue
        for n in names:
            if not n.startswith(".") and n.endswith(".pb"):
                out.append(t + "/" + n)
    return sorted(out)


def snapshot(node_dir):
    """{relative path: (bytes, st_ino, st_mtime_ns)} of every file Envoy
    reads, following the ..data symlinks, plus "<type>/..data" (its target,
    the link's inode and mtime) in watched_directory mode, so that a swap
    shows up even when the bytes behind it are the same."""
    snap = {}
    for rel in node_files(node_dir):
        p = os.path.join(node_dir, rel)
        st = os.stat(p)
        snap[rel] = (read(p), st.st_ino, st.st_mtime_ns)
    for t in TYPE_DIRS:
        p = os.path.join(node_dir, t, "..data")
        try:
            st = os.lstat(p)
            snap[t + "/..data"] = (os.readlink(p).encode(), st.st_ino, st.st_mtime_ns)
        except FileNotFoundError:
            pass
    return snap


def contents(snap):
    return {k: v[0] for k, v in snap.items() if not k.endswith("/..data")}


def diff_snapshots(a, b, what="bytes"):
    """Human-readable differences of two snapshots (what: "bytes" or "all")."""
    out = []
    for k in sorted(set(a) | set(b)):
        if k not in a:
            out.append("%s: appeared" % k)
        elif k not in b:
            out.append("%s: disappeared" % k)
        elif a[k][0] != b[k][0]:
            out.append("%s: bytes differ" % k)
        elif what == "all" and a[k][1] != b[k][1]:
            out.append("%s: inode %d -> %d" % (k, a[k][1], b[k][1]))
        elif what == "all" and a[k][2] != b[k][2]:
            out.append("%s: mtime changed" % k)
    return out


def decode(path):
    """fsxds decode's YAML of a published file."""
    p = subprocess.run([FSXDS, "decode", path], capture_output=True, text=True)
    if p.returncode != 0:
        raise AssertionError("fsxds decode %s: exit %d: %s" % (path, p.returncode, p.stderr))
    return p.stdout


# ---------------------------------------------------------------- YAML sources

ROUTER = """      http_filters:
      - name: envoy.filters.http.router
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
"""


def y_cluster(name, timeout="1s"):
    return ('"@type": type.googleapis.com/envoy.config.cluster.v3.Cluster\n'
            "name: %s\nconnect_timeout: %s\ntype: EDS\nlb_policy: ROUND_ROBIN\n"
            "eds_cluster_config:\n  service_name: %s\n" % (name, timeout, name))


def y_cla(name, endpoints):
    s = ('"@type": type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment\n'
         "cluster_name: %s\nendpoints:\n- lb_endpoints:\n" % name)
    for addr, port in endpoints:
        s += ("  - endpoint:\n      address:\n        socket_address: {address: %s, port_value: %d}\n"
              % (addr, port))
    return s


def y_listener(name, port, route_config, stat_prefix=None):
    return ('"@type": type.googleapis.com/envoy.config.listener.v3.Listener\n'
            "name: %s\naddress:\n  socket_address: {address: 127.0.0.1, port_value: %d}\n"
            "filter_chains:\n- filters:\n  - name: envoy.filters.network.http_connection_manager\n"
            "    typed_config:\n"
            '      "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager\n'
            "      stat_prefix: %s\n      rds:\n        route_config_name: %s\n"
            % (name, port, stat_prefix or name, route_config)) + ROUTER


def y_routes(name, routes):
    s = ('"@type": type.googleapis.com/envoy.config.route.v3.RouteConfiguration\n'
         "name: %s\nvirtual_hosts:\n- name: vh\n  domains: [\"*\"]\n  routes:\n" % name)
    for prefix, cluster in routes:
        s += '  - match: {prefix: "%s"}\n    route: {cluster: %s}\n' % (prefix, cluster)
    return s


def y_docs(*docs):
    return "---\n".join(docs)


def y_simple(listener, port, cluster, address, cport):
    """The simplified management-server format: one listener routing / to
    one cluster with one endpoint."""
    return ("name: %s\nspec:\n  listeners:\n  - name: %s\n    address: 0.0.0.0\n    port: %d\n"
            "    routes:\n    - name: all\n      prefix: /\n      clusters: [%s]\n"
            "  clusters:\n  - name: %s\n    endpoints:\n    - address: %s\n      port: %d\n"
            % (listener, listener, port, cluster, cluster, address, cport))


def base_tree(port=8000):
    """common/ with one EDS cluster "shared"; node alpha: listener l0 with
    route configuration r0 routing to shared; node beta: the simplified
    format (listener web → its own cluster beta_backend)."""
    return {
        "common/cds.yaml": y_cluster("shared"),
        "common/eds.yaml": y_cla("shared", [("10.0.0.1", port)]),
        "nodes/alpha/lds.yaml": y_listener("l0", 10000, "r0"),
        "nodes/alpha/rds.yaml": y_routes("r0", [("/", "shared")]),
        "nodes/beta/config.yaml": y_simple("web", 10001, "beta_backend", "10.1.0.1", 80),
    }


# ---------------------------------------------------------------- sd_notify


class NotifySocket:
    """A bound AF_UNIX datagram socket collecting the daemon's sd_notify
    messages, each as a dict (plus "_raw") in arrival order."""

    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.messages = []
        self.cond = threading.Condition()
        self.closed = False
        # close() wakes the reader through this pipe: it does not wait out
        # a select() timeout (a tenth of a second per Env, hundreds of Envs)
        self.wake_r, self.wake_w = os.pipe()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self):
        while not self.closed:
            try:
                r, _, _ = select.select([self.sock, self.wake_r], [], [])
                if self.sock not in r:
                    continue
                data = self.sock.recv(65536)
            except OSError:
                return
            msg = {"_raw": data.decode("utf-8", "replace")}
            for line in msg["_raw"].split("\n"):
                if "=" in line:
                    k, v = line.split("=", 1)
                    msg[k] = v
            with self.cond:
                self.messages.append(msg)
                self.cond.notify_all()

    def count(self):
        with self.cond:
            return len(self.messages)

    def wait(self, pred, after=0, timeout=None, what="a notify message", alive=None):
        """The first message with index >= after that satisfies pred: (index, msg)."""
        deadline = time.monotonic() + (timeout or WAIT)
        i = after
        with self.cond:
            while True:
                while i < len(self.messages):
                    if pred(self.messages[i]):
                        return i, self.messages[i]
                    i += 1
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("timed out waiting for %s; got %r" %
                                         (what, [m["_raw"] for m in self.messages[after:]]))
                if alive and not alive():
                    raise AssertionError("fsxdsd %s while waiting for %s; got %r" %
                                         (getattr(alive, "__self__", None).exit_text()
                                          if hasattr(alive, "__self__") else "died",
                                          what, [m["_raw"] for m in self.messages[after:]]))
                self.cond.wait(min(left, 0.2))

    def since(self, after):
        with self.cond:
            return list(self.messages[after:])

    def close(self):
        if self.closed:
            return
        self.closed = True
        os.write(self.wake_w, b"x")
        self.thread.join()
        self.sock.close()
        os.close(self.wake_r)
        os.close(self.wake_w)


# ---------------------------------------------------------------- the daemon


class Daemon:
    """One fsxdsd process on an Env's config."""

    def __init__(self, env, config=None, debug=False, extra_env=None):
        self.env = env
        self.extra_env = extra_env or {}
        self.config = config or env.config_path
        self.n = len(env.daemons)
        self.log_path = os.path.join(env.root, "fsxdsd-%d.log" % self.n)
        self.notify = env.notify
        self.debug = debug
        self.proc = None
        self.ready_index = None

    def start(self, wait_ready=True):
        e = dict(os.environ)
        for k in ("JOURNAL_STREAM", "WATCHDOG_USEC", "WATCHDOG_PID", "LISTEN_FDS", "LISTEN_PID"):
            e.pop(k, None)
        e["NOTIFY_SOCKET"] = self.notify.path
        if self.debug:
            e["FSXDS_LOG_LEVEL"] = "debug"
        e.update(self.extra_env)
        self.start_index = self.notify.count()
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.argv(), stdin=subprocess.DEVNULL,
                                     stdout=self.log, stderr=subprocess.STDOUT, env=e)
        self.env.daemons.append(self)
        if wait_ready:
            self.wait_ready()
        return self

    def argv(self):
        """The command that starts fsxdsd (a subclass may wrap it: in a
        namespace, under strace)."""
        return [FSXDSD, "--config", self.config]

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def exit_text(self):
        rc = self.proc.poll() if self.proc else None
        if rc is None:
            return "is running"
        if rc < 0:
            try:
                return "was killed by %s" % signal.Signals(-rc).name
            except ValueError:
                return "was killed by signal %d" % -rc
        return "exited with status %d" % rc

    def wait_ready(self, after=None):
        """Waits for READY=1 (after the given notify index, default: since
        start); returns the index of the READY message."""
        i, _ = self.notify.wait(lambda m: m.get("READY") == "1",
                                self.start_index if after is None else after,
                                what="READY=1", alive=self.alive)
        self.ready_index = i
        return i

    def mark(self):
        """The notify index to wait after, taken before making a change."""
        return self.notify.count()

    def wait_rebuild(self, after, timeout=None):
        """Waits for the STATUS= of the next rebuild after the mark; returns
        (index, status.json as a dict)."""
        i, _ = self.notify.wait(lambda m: "STATUS" in m and m["STATUS"].startswith("generation"),
                                after, what="STATUS= of a rebuild", alive=self.alive, timeout=timeout)
        return i, self.env.status()

    def wait_generation(self, after, generation, timeout=None):
        """Rebuilds until status.json's generation reaches generation;
        returns status.json."""
        i = after
        while True:
            i, st = self.wait_rebuild(i, timeout)
            if st["generation"] >= generation:
                return st
            i += 1

    def barrier(self, rel, single=False):
        """Rebuilds that change nothing, to settle what came before: replaces
        the source file rel with its own bytes and waits for a rebuild's
        STATUS=, twice. The first STATUS= may come from a rebuild that was
        already running (and read the tree before the latest edits); the
        rebuild after it started after the first rewrite, so once the second
        STATUS= is in, every change made before the call is published.
        single: once, when no rebuild can be running. Returns status.json."""
        p = os.path.join(self.env.src, rel)
        data = read(p)
        tmp = os.path.join(os.path.dirname(p), ".barrier.tmp")
        for _ in range(1 if single else 2):
            mark = self.mark()
            # by rename, not in place: a rebuild that an earlier change
            # queued may start at any moment and must not read the file
            # half written
            with open(tmp, "wb") as f:
                f.write(data)
            os.rename(tmp, p)
            st = self.wait_rebuild(mark)[1]
        return st

    def sighup(self):
        self.proc.send_signal(signal.SIGHUP)

    def stop(self, expect_ok=True):
        """SIGTERM; expects STOPPING=1 and exit status 0."""
        if not self.alive():
            rc = self.proc.returncode if self.proc else None
            self.log.close()
            if expect_ok:
                raise AssertionError("fsxdsd was not running at stop: it %s" % self.exit_text())
            return rc
        mark = self.notify.count()
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=WAIT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("fsxdsd did not stop on SIGTERM")
        finally:
            self.log.close()
        if expect_ok:
            # fsxdsd sent it before it exited, so it is in the socket's
            # queue; the reader thread may just not have taken it yet (it
            # can lag on a loaded machine)
            self.notify.wait(lambda m: m.get("STOPPING") == "1", after=mark,
                             what="STOPPING=1 on SIGTERM")
            if rc != 0:
                raise AssertionError("fsxdsd exited with status %d on SIGTERM" % rc)
        return rc

    def kill9(self):
        if self.alive():
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        self.log.close()

    def log_text(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""


# ---------------------------------------------------------------- test trees

_envs = []


class Env:
    """A mkdtemp() tree: src/ (the watched tree), out/ (output_dir), state/,
    fsxds.yaml and the notify socket."""

    def __init__(self, watch="inotify", mode="rename", tree=None, settle="0.4s", settle_max="5s",
                 phase_pause="0.05s", **config):
        self.root = tempfile.mkdtemp(prefix="fsxdsd-test-")
        self.src = os.path.join(self.root, "src")
        self.out = os.path.join(self.root, "out")
        self.state = os.path.join(self.root, "state")
        self.watch = watch
        self.mode = mode
        self.config_path = os.path.join(self.root, "fsxds.yaml")
        self.settings = dict(source_dir=self.src, output_dir=self.out, state_dir=self.state,
                             settle=settle, settle_max=settle_max, watch=watch, publish_mode=mode,
                             phase_pause=phase_pause)
        self.settings.update(config)
        self.write_config()
        self.notify = NotifySocket(os.path.join(self.root, "notify.sock"))
        self.daemons = []
        if tree is not None:
            os.makedirs(self.src, exist_ok=True)
            for rel, text in tree.items():
                self.write(rel, text)
        _envs.append(self)

    def write_config(self, path=None, text=None, **changes):
        s = dict(self.settings)
        s.update(changes)
        if text is None:
            lines = []
            for k, v in s.items():
                if v is None:
                    continue
                if isinstance(v, (list, tuple)):
                    lines.append("%s: [%s]" % (k, ", ".join(v)))
                elif isinstance(v, (int, float)) and not isinstance(v, bool):
                    lines.append("%s: %s" % (k, v))
                else:
                    lines.append('%s: "%s"' % (k, v))
            text = "\n".join(lines) + "\n"
        p = path or self.config_path
        write(p, text)
        if path is None:
            self.settings = s
        return p

    def write(self, rel, text):
        write(os.path.join(self.src, rel), text)

    def path(self, rel):
        return os.path.join(self.src, rel)

    def node_dir(self, node, out=None):
        return os.path.join(out or self.out, node)

    def status(self, out=None):
        with open(os.path.join(out or self.out, ".fsxds", "status.json")) as f:
            return json.load(f)

    def daemon(self, start=True, debug=False, config=None, extra_env=None):
        d = Daemon(self, config=config, debug=debug, extra_env=extra_env)
        if start:
            d.start()
        return d

    def fsxds(self, *args, expect=0):
        p = subprocess.run([FSXDS] + list(args), capture_output=True, text=True)
        if expect is not None and p.returncode != expect:
            raise AssertionError("fsxds %s: exit %d, expected %d\nstdout: %s\nstderr: %s" %
                                 (" ".join(args), p.returncode, expect, p.stdout, p.stderr))
        return p

    def _swap_out(self, build):
        """Moves output_dir away, lets build() fill the same absolute path,
        returns what build() made ({node: contents}) and puts the daemon's
        output back. Paths are wired into the bytes, so a comparison is only
        meaningful at the same path. The daemon must not be running."""
        for d in self.daemons:
            assert not d.alive(), "compare while fsxdsd is running"
        saved = self.out + ".daemon"
        os.rename(self.out, saved)
        try:
            os.makedirs(self.out)
            return build()
        finally:
            shutil.rmtree(self.out)
            os.rename(saved, self.out)

    def expected_by_compile(self, nodes):
        """{node: contents} of `fsxds compile --node` of the current tree into
        the same absolute path."""
        def build():
            exp = {}
            for n in nodes:
                self.fsxds("compile", "--publish-mode", self.mode, "--node", n, self.src, "-o",
                           self.node_dir(n))
                exp[n] = contents(snapshot(self.node_dir(n)))
            return exp
        return self._swap_out(build)

    def expected_by_once(self, nodes):
        """{node: contents} of a fresh `fsxdsd --once` (new state_dir) into
        the same absolute path; also its exit status."""
        def build():
            state = os.path.join(self.root, "once-state")
            shutil.rmtree(state, ignore_errors=True)
            cfg = self.write_config(path=os.path.join(self.root, "once.yaml"), state_dir=state)
            p = subprocess.run([FSXDSD, "--once", "--config", cfg], capture_output=True, text=True)
            shutil.rmtree(state, ignore_errors=True)
            exp = {n: contents(snapshot(self.node_dir(n))) for n in nodes}
            return exp, p.returncode
        return self._swap_out(build)

    def assert_equals_compile(self, nodes, what="the daemon's output"):
        exp = self.expected_by_compile(nodes)
        problems = []
        for n in nodes:
            got = contents(snapshot(self.node_dir(n)))
            if not exp[n]:
                problems.append("%s: fsxds compile --node produced nothing" % n)
            for k in sorted(set(got) | set(exp[n])):
                if k not in got:
                    problems.append("%s/%s: missing in %s" % (n, k, what))
                elif k not in exp[n]:
                    problems.append("%s/%s: in %s but not in fsxds compile --node's" % (n, k, what))
                elif got[k] != exp[n][k]:
                    problems.append("%s/%s: bytes differ from fsxds compile --node's" % (n, k))
        if problems:
            raise AssertionError("%s is not byte-identical to fsxds compile --node:\n  %s" %
                                 (what, "\n  ".join(problems)))

    def cleanup(self):
        for d in self.daemons:
            if d.alive():
                d.kill9()
        self.notify.close()
        if not KEEP:
            shutil.rmtree(self.root, ignore_errors=True)


def mv_write(env, rel, text):
    """Saves a source file as tools do: a temporary name (no source name),
    then a rename over it."""
    tmp = env.path(rel) + ".tmp"
    write(tmp, text)
    os.rename(tmp, env.path(rel))


def last_status(d, after):
    """The last STATUS= the daemon sent after the mark."""
    msgs = [m["STATUS"] for m in d.notify.since(after) if "STATUS" in m]
    expect(msgs, "no STATUS= since the mark")
    return msgs[-1]


def expect(cond, msg, *args):
    if not cond:
        raise AssertionError(msg % args if args else msg)


def expect_eq(got, want, what):
    if got != want:
        raise AssertionError("%s: got %r, expected %r" % (what, got, want))


def expect_in(needle, hay, what):
    if needle not in hay:
        raise AssertionError("%s: %r not found in %r" % (what, needle, hay))


def wait_until(pred, what, timeout=None):
    deadline = time.monotonic() + (timeout or WAIT)
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for %s" % what)
        time.sleep(0.02)


# ---------------------------------------------------------------- inotify

_libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
IN_MODIFY = 0x2
IN_CLOSE_WRITE = 0x8
IN_MOVED_FROM = 0x40
IN_MOVED_TO = 0x80
IN_CREATE = 0x100
IN_DELETE = 0x200
IN_Q_OVERFLOW = 0x4000
IN_ISDIR = 0x40000000
IN_NONBLOCK = 0o4000
IN_CLOEXEC = 0o2000000
MASK_NAMES = [(IN_MOVED_TO, "MOVED_TO"), (IN_MOVED_FROM, "MOVED_FROM"), (IN_CREATE, "CREATE"),
              (IN_DELETE, "DELETE"), (IN_CLOSE_WRITE, "CLOSE_WRITE"), (IN_MODIFY, "MODIFY"),
              (IN_Q_OVERFLOW, "Q_OVERFLOW")]


def mask_name(m):
    return "|".join(n for b, n in MASK_NAMES if m & b) or hex(m)


class InotifyRecorder:
    """Records the events of directories in one inotify instance, so their
    global order is the kernel's. events: [(seq, "<dir label>", mask, name)]."""

    def __init__(self, mask=IN_MOVED_TO | IN_DELETE | IN_CREATE | IN_MOVED_FROM):
        self.fd = _libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
        if self.fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1")
        self.mask = mask
        self.wds = {}
        self.events = []
        self.on_event = None  # called in the reader thread right after each event
        self.cond = threading.Condition()
        self.closed = False
        self.wake_r, self.wake_w = os.pipe()  # close() wakes the reader
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def add(self, path, label=None):
        wd = _libc.inotify_add_watch(self.fd, os.fsencode(path), self.mask)
        if wd < 0:
            raise OSError(ctypes.get_errno(), "inotify_add_watch(%s)" % path)
        self.wds[wd] = label or path

    def _loop(self):
        while not self.closed:
            r, _, _ = select.select([self.fd, self.wake_r], [], [])
            if self.fd not in r:
                continue
            try:
                buf = os.read(self.fd, 65536)
            except BlockingIOError:
                continue
            except OSError:
                return
            i = 0
            with self.cond:
                while i + 16 <= len(buf):
                    wd, mask, _cookie, ln = struct.unpack_from("iIII", buf, i)
                    name = buf[i + 16:i + 16 + ln].split(b"\0", 1)[0].decode("utf-8", "replace")
                    i += 16 + ln
                    ev = (len(self.events), self.wds.get(wd, "?"), mask, name)
                    self.events.append(ev)
                    if self.on_event:
                        self.on_event(ev)
                self.cond.notify_all()

    def wait(self, pred, timeout=None, what="an inotify event"):
        deadline = time.monotonic() + (timeout or WAIT)
        i = 0
        with self.cond:
            while True:
                while i < len(self.events):
                    if pred(self.events[i]):
                        return self.events[i]
                    i += 1
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("timed out waiting for %s" % what)
                self.cond.wait(min(left, 0.1))

    def clear(self):
        with self.cond:
            self.events = []

    def snapshot(self):
        with self.cond:
            return list(self.events)

    def close(self):
        if self.closed:
            return
        self.closed = True
        os.write(self.wake_w, b"x")
        self.thread.join()
        os.close(self.fd)
        os.close(self.wake_r)
        os.close(self.wake_w)


def fanotify_available():
    """None when fanotify with FAN_REPORT_DFID_NAME can be used here, else why not."""
    FAN_CLASS_NOTIF = 0
    FAN_CLOEXEC = 1
    FAN_REPORT_DFID_NAME = 0x00000c00
    if not hasattr(_libc, "fanotify_init"):
        return "no fanotify_init in libc"
    fd = _libc.fanotify_init(FAN_CLASS_NOTIF | FAN_CLOEXEC | FAN_REPORT_DFID_NAME, os.O_RDONLY)
    if fd < 0:
        e = ctypes.get_errno()
        return "fanotify_init(FAN_REPORT_DFID_NAME): %s (needs CAP_SYS_ADMIN)" % os.strerror(e)
    os.close(fd)
    return None


def renameat2_exchange(a, b):
    """renameat2(RENAME_EXCHANGE): swaps two paths atomically."""
    AT_FDCWD = -100
    RENAME_EXCHANGE = 2
    f = _libc.renameat2
    f.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if f(AT_FDCWD, os.fsencode(a), AT_FDCWD, os.fsencode(b), RENAME_EXCHANGE) < 0:
        e = ctypes.get_errno()
        raise OSError(e, "renameat2(%s, %s, RENAME_EXCHANGE): %s" % (a, b, os.strerror(e)))


# ---------------------------------------------------------------- the runner


SANITIZER = re.compile(r"runtime error:|ERROR: AddressSanitizer|ERROR: LeakSanitizer|SUMMARY: UndefinedBehaviorSanitizer")


def sanitizer_reports(envs):
    out = []
    for env in envs:
        for d in env.daemons:
            out += ["%s: %s" % (os.path.basename(d.log_path), line) for line in d.log_text().splitlines()
                    if SANITIZER.search(line)]
    return out


class Runner:
    """Runs named tests; prints PASS/FAIL/SKIP lines, the daemon logs of a
    failed test, and "N passed, M failed" at the end."""

    def __init__(self, area):
        if FSXDSD is None:
            sys.stderr.write("usage: %s FSXDSD FSXDS SOURCE_ROOT\n" % sys.argv[0])
            sys.exit(2)
        self.area = area
        self.passed = self.failed = self.skipped = 0
        self.fanotify_problem = fanotify_available()
        self.t0 = time.monotonic()

    def combos(self, backends=BACKENDS, modes=MODES):
        """Every backend × mode; FSXDS_TEST_BACKENDS / FSXDS_TEST_MODES
        (comma-separated) narrow it down when debugging."""
        only_w = os.environ.get("FSXDS_TEST_BACKENDS")
        only_m = os.environ.get("FSXDS_TEST_MODES")
        for w in backends:
            for m in modes:
                if (not only_w or w in only_w.split(",")) and (not only_m or m in only_m.split(",")):
                    yield w, m

    def skip(self, name, reason):
        self.skipped += 1
        print("SKIP %s: %s" % (name, reason), flush=True)

    def run(self, name, fn, *args, logs=(), keep_envs=False, **kwargs):
        """Runs fn(*args, **kwargs); Envs it creates are cleaned up after it
        (unless keep_envs: then the caller does, and True says it passed).
        A sanitizer report in a daemon's log fails the test. On failure the
        logs of the daemons (of its Envs and of those in logs) are printed."""
        start = len(_envs)
        t = time.monotonic()
        watch = kwargs.get("watch") or (args[0] if args and args[0] in BACKENDS else None)
        ok = False
        try:
            if watch == "fanotify" and self.fanotify_problem:
                raise Skip(self.fanotify_problem)
            fn(*args, **kwargs)
            reports = sanitizer_reports(list(logs) + _envs[start:])
            if reports:
                raise AssertionError("sanitizer reports in the daemon's log:\n  " + "\n  ".join(reports[:20]))
            ok = True
        except Skip as s:
            self.skipped += 1
            print("SKIP %s: %s" % (name, s), flush=True)
        except Exception as e:
            self.failed += 1
            print("FAIL %s: %s" % (name, e), flush=True)
            if not isinstance(e, AssertionError):
                traceback.print_exc(file=sys.stdout)
            for env in list(logs) + _envs[start:]:
                for d in env.daemons:
                    text = d.log_text().splitlines()
                    print("  --- %s (last %d of %d lines)" % (d.log_path, min(len(text), 40), len(text)))
                    for line in text[-40:]:
                        print("  | " + line)
        if ok:
            self.passed += 1
            print("PASS %s (%.1fs)" % (name, time.monotonic() - t), flush=True)
        if not (ok and keep_envs):
            for env in _envs[start:]:
                try:
                    env.cleanup()
                except Exception as e:
                    print("  cleanup of %s: %s" % (env.root, e))
        del _envs[start:]
        return ok

    def finish(self):
        print("%d passed, %d failed%s (%s, %.1fs)" %
              (self.passed, self.failed, ", %d skipped" % self.skipped if self.skipped else "",
               self.area, time.monotonic() - self.t0), flush=True)
        exit_now(1 if self.failed else 77 if self.passed == 0 and self.skipped > 0 else 0)


def run_cases(area, cases):
    """A Runner for area over (name, fn) cases: only the names in
    FSXDS_TEST_ONLY (comma-separated) when it is set."""
    r = Runner(area)
    only = os.environ.get("FSXDS_TEST_ONLY")
    for name, fn in cases:
        if not only or name in only.split(","):
            r.run(name, fn)
    r.finish()

