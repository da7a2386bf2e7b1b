#!/usr/bin/python3
# SPDX-License-Identifier: MIT
# The xDS server's gRPC transport (daemon/ads/h2.c), through h2-echo (a test
# server on it): python3-grpcio clients (Debian's, hence /usr/bin/python3)
# and raw HTTP/2 frames written here (no h2 library). Cases: echo over a
# unix socket (its mode and group), 100 concurrent streams on one and on
# several channels, the max-streams and max-connections limits, mutual TLS (the client
# certificate's names; no certificate, another CA's, no ALPN h2 refused; a
# bad certificate file named), garbage on a socket, an oversize and a
# compressed message, a stalled Flood reader next to a working client with
# the server's memory bounded, keepalive closing a silent peer, SIGHUP
# keeping a stream. Every h2-echo must exit 0 at SIGTERM (under ASan: no
# leak; and every stream taken had exactly one stream_closed). No timing
# thresholds: waits are "until X", with generous timeouts.
# usage: run-h2.py H2_ECHO
import os
import queue
import random
import signal
import socket
import stat
import struct
import subprocess
import sys
import tempfile
import threading
import time

try:
    import grpc
except ImportError:
    print("SKIP: no grpc module in %s (Debian's python3-grpcio; scripts/setup installs it)" % sys.executable)
    sys.exit(77)

H2_ECHO = sys.argv[1]
TIMEOUT = 60
ECHO = "/fsxds.test.Echo/Echo"
PEER = "/fsxds.test.Echo/Peer"
FLOOD = "/fsxds.test.Echo/Flood"
ident = lambda b: b
failures = []
servers = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        failures.append(what)


class Server:
    """h2-echo with its stdout lines in a queue"""

    def __init__(self, *args, expect_ready=True):
        self.proc = subprocess.Popen([H2_ECHO] + [str(a) for a in args], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        servers.append(self.proc)
        self.lines = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        if expect_ready:
            line = self.wait_line(lambda l: l == "ready")
            if line is None:
                raise SystemExit("h2-echo %s not ready: %s" % (args, self.proc.stderr.read()))

    def _read(self):
        for line in self.proc.stdout:
            self.lines.put(line.strip())
        self.lines.put(None)

    def wait_line(self, pred):
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=1)
            except queue.Empty:
                continue
            if line is None:
                return None
            if pred(line):
                return line
        return None

    def stats(self):
        """(connections, streams, bytes) from SIGUSR1"""
        self.proc.send_signal(signal.SIGUSR1)
        line = self.wait_line(lambda l: l.startswith("stats "))
        return tuple(int(x) for x in line.split()[1:])

    def wait_stats(self, pred):
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            st = self.stats()
            if pred(st):
                return st
            time.sleep(0.05)
        return self.stats()

    def rss_kib(self):
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def stop(self, what):
        alive = self.proc.poll() is None
        if alive:
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        err = self.proc.stderr.read()
        check(alive and rc == 0 and "Sanitizer" not in err,
              "%s: h2-echo alive to the end, exit 0 at SIGTERM, no sanitizer report (rc %s) %s" % (what, rc, err[-2000:]))


class Stream:
    """a bidirectional stream fed from a queue"""

    def __init__(self, ch, path=ECHO, **kw):
        self.q = queue.Queue()
        self.call = ch.stream_stream(path, request_serializer=ident, response_deserializer=ident)(
            iter(self.q.get, None), timeout=300, **kw)

    def echo(self, b):
        self.q.put(b)
        return next(self.call)

    def close(self):
        self.q.put(None)
        self.call.cancel()


def channel(target, creds=None):
    # no sharing of connections between channels: several channels are
    # several connections
    opts = [("grpc.use_local_subchannel_pool", 1), ("grpc.enable_http_proxy", 0)]
    if creds:
        return grpc.secure_channel(target, creds, options=opts)
    return grpc.insecure_channel(target, options=opts)


# ---- raw HTTP/2 ----
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, RST_STREAM, SETTINGS, PING, GOAWAY, WINDOW_UPDATE = 0, 1, 3, 4, 6, 7, 8
END_STREAM, ACK, END_HEADERS = 1, 1, 4


def frame(ftype, flags, sid, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + struct.pack(">I", sid) + payload


def settings(**kv):
    ids = {"initial_window_size": 4, "max_frame_size": 5}
    return frame(SETTINGS, 0, 0, b"".join(struct.pack(">HI", ids[k], v) for k, v in kv.items()))


def hpack_literal(name, value):
    # literal header field without indexing, new name, no Huffman (RFC 7541 6.2.2)
    return b"\x00" + bytes([len(name)]) + name + bytes([len(value)]) + value


def request_headers(sid, path, end_stream=False):
    block = b"".join(hpack_literal(n, v) for n, v in [
        (b":method", b"POST"), (b":scheme", b"http"), (b":path", path.encode()),
        (b":authority", b"test"), (b"content-type", b"application/grpc"), (b"te", b"trailers")])
    return frame(HEADERS, END_HEADERS | (END_STREAM if end_stream else 0), sid, block)


def grpc_message(b, compressed=False):
    return bytes([1 if compressed else 0]) + struct.pack(">I", len(b)) + b


def recv_exact(sock, n):
    buf = b""
    while len(buf) < n:
        try:
            chunk = sock.recv(n - len(buf))
        except ConnectionResetError:
            return None
        if not chunk:
            return None
        buf += chunk
    return buf


def read_frame(sock):
    """(type, flags, stream, payload), or None at EOF"""
    hdr = recv_exact(sock, 9)
    if hdr is None:
        return None
    length = struct.unpack(">I", b"\0" + hdr[:3])[0]
    payload = recv_exact(sock, length) if length else b""
    if payload is None:
        return None
    return hdr[3], hdr[4], struct.unpack(">I", hdr[5:9])[0] & 0x7FFFFFFF, payload


def raw_unix(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(TIMEOUT)
    s.connect(path)
    return s


def read_until_eof(sock):
    """the frames up to the server's close, and whether it closed (not a timeout)"""
    frames = []
    while True:
        try:
            f = read_frame(sock)
        except socket.timeout:
            return frames, False
        if f is None:
            return frames, True
        frames.append(f)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# ---- cases ----

def case_unix_echo(tmp):
    path = os.path.join(tmp, "echo.sock")
    gid = 65534 if os.getgid() != 65534 else 0
    srv = Server("--listen", "unix:" + path, "--group", gid)
    st = os.lstat(path)
    check(stat.S_ISSOCK(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o660 and st.st_gid == gid,
          "unix socket file: a socket, mode 0660, group %d (%o, %d)" % (gid, stat.S_IMODE(st.st_mode), st.st_gid))
    ch = channel("unix:" + path)
    s = Stream(ch)
    got = [s.echo(b"hello"), s.echo(b""), s.echo(b"x" * 100000)]
    check(got == [b"hello", b"", b"x" * 100000], "echo over a unix socket: three messages back, 0 and 100000 bytes")
    s.close()
    peer = list(ch.unary_stream(PEER, request_serializer=ident, response_deserializer=ident)(b"", timeout=TIMEOUT))
    check(len(peer) == 1 and peer[0].decode().startswith("unix pid %d uid %d" % (os.getpid(), os.getuid())),
          "Peer over a unix socket names our pid and uid: %r" % peer)
    try:
        ch.unary_unary("/fsxds.test.Echo/Nothing", request_serializer=ident, response_deserializer=ident)(
            b"", timeout=TIMEOUT)
        code = grpc.StatusCode.OK
    except grpc.RpcError as e:
        code = e.code()
    check(code == grpc.StatusCode.UNIMPLEMENTED, "an unknown path: UNIMPLEMENTED (%s)" % code)
    try:
        list(ch.unary_stream("/fsxds.test.Echo/Fail", request_serializer=ident, response_deserializer=ident)(
            b"", timeout=TIMEOUT))
        code, details = grpc.StatusCode.OK, None
    except grpc.RpcError as e:
        code, details = e.code(), e.details()
    check(code == grpc.StatusCode.INVALID_ARGUMENT and details == "100% not \u00fcnicode-free,\nin two lines",
          "a status message with %%, UTF-8 and a newline arrives whole (percent-encoded): %s %r" % (code, details))
    ch.close()
    srv.stop("unix echo")
    check(not os.path.exists(path), "the socket file is removed when the server stops")

    # a stale socket file (a server killed) is replaced; a regular file is never touched
    srv = Server("--listen", "unix:" + path)
    srv.proc.kill()
    srv.proc.wait()
    check(os.path.exists(path), "a killed server left its socket file")
    srv = Server("--listen", "unix:" + path)
    ch = channel("unix:" + path)
    s = Stream(ch)
    check(s.echo(b"again") == b"again", "a stale socket file is replaced")
    s.close()
    ch.close()
    srv.stop("stale socket")
    plain = os.path.join(tmp, "plain")
    with open(plain, "w") as f:
        f.write("keep me\n")
    srv = Server("--listen", "unix:" + plain, expect_ready=False)
    rc = srv.proc.wait(timeout=TIMEOUT)
    err = srv.proc.stderr.read()
    check(rc == 1 and "not a socket" in err and plain in err and open(plain).read() == "keep me\n",
          "a regular file at the socket path: refused, named, left alone (%d, %s)" % (rc, err.strip()))


def case_concurrent(tmp):
    path = os.path.join(tmp, "many.sock")
    srv = Server("--listen", "unix:" + path)
    idle = srv.stats()
    rss_idle = srv.rss_kib()
    ch = channel("unix:" + path)
    streams = [Stream(ch) for _ in range(100)]
    ok = all(s.echo(b"m%d" % i) == b"m%d" % i for i, s in enumerate(streams))
    ok = ok and all(s.echo(b"n%d" % i) == b"n%d" % i for i, s in reversed(list(enumerate(streams))))
    st = srv.wait_stats(lambda st: st[1] == 100)
    check(ok and st[:2] == (1, 100), "100 concurrent streams on one channel: all echo, 1 connection 100 streams %s" % (st,))
    rss = srv.rss_kib()
    bytes100 = st[2]
    print("info 100 idle streams on one connection: h2_server_bytes %d (idle server %d), RSS %d KiB (idle server %d KiB)"
          % (st[2], idle[2], rss, rss_idle), flush=True)
    for s in streams:
        s.close()
    st = srv.wait_stats(lambda st: st[1] == 0)
    check(st[1] == 0, "cancelled streams are gone: %s" % (st,))
    one_conn = st[2]
    print("info 1 idle connection, no stream: h2_server_bytes %d (idle server %d); per idle stream about %d bytes"
          % (one_conn, idle[2], (bytes100 - one_conn) // 100), flush=True)
    chans = [channel("unix:" + path) for _ in range(5)]
    streams = [Stream(chans[i % 5]) for i in range(100)]
    ok = all(s.echo(b"c%d" % i) == b"c%d" % i for i, s in enumerate(streams))
    st = srv.wait_stats(lambda st: st[1] == 100)
    check(ok and st[0] == 6 and st[1] == 100,
          "100 streams over 5 more channels: all echo, 6 connections, 100 streams %s" % (st,))
    for s in streams:
        s.close()
    for c in chans:
        c.close()
    ch.close()
    st = srv.wait_stats(lambda st: st[0] == 0)
    check(st[:2] == (0, 0), "channels closed: no connection left %s" % (st,))
    srv.stop("concurrent")
    return one_conn


def case_max_streams(tmp):
    path = os.path.join(tmp, "limit.sock")
    srv = Server("--listen", "unix:" + path, "--max-streams", 5)
    # raw: 8 streams at once, before our SETTINGS could be acknowledged: the
    # ones past 5 are refused (RST_STREAM REFUSED_STREAM, 7)
    sock = raw_unix(path)
    sock.sendall(PREFACE + settings() + b"".join(request_headers(1 + 2 * i, ECHO) for i in range(8)))
    refused, max_streams = set(), None
    deadline = time.monotonic() + TIMEOUT
    while len(refused) < 3 and time.monotonic() < deadline:
        f = read_frame(sock)
        if f is None:
            break
        if f[0] == SETTINGS and not f[1] & ACK:
            for i in range(0, len(f[3]), 6):
                k, v = struct.unpack(">HI", f[3][i:i + 6])
                if k == 3:
                    max_streams = v
        if f[0] == RST_STREAM and struct.unpack(">I", f[3])[0] == 7:
            refused.add(f[2])
    check(max_streams == 5 and refused == {11, 13, 15},
          "max-streams 5: SETTINGS_MAX_CONCURRENT_STREAMS 5, streams 11 13 15 refused (%s, %s)" % (max_streams, sorted(refused)))
    sock.close()
    # grpc queues what is past the limit: 20 streams, each done and
    # cancelled, all get through
    ch = channel("unix:" + path)
    results = []

    def one(i):
        s = Stream(ch)
        results.append(s.echo(b"q%d" % i) == b"q%d" % i)
        s.close()
    threads = [threading.Thread(target=one, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(TIMEOUT)
    check(len(results) == 20 and all(results), "20 streams through a limit of 5: all echo (%d ok)" % sum(results))
    ch.close()
    srv.stop("max streams")

    # max-connections 2: a third connection is closed at accept
    srv = Server("--listen", "unix:" + path, "--max-connections", 2)
    ch1, ch2 = channel("unix:" + path), channel("unix:" + path)
    s1, s2 = Stream(ch1), Stream(ch2)
    check(s1.echo(b"1") == b"1" and s2.echo(b"2") == b"2", "max-connections 2: two channels echo")
    g = raw_unix(path)
    try:
        g.sendall(PREFACE + settings())
    except (BrokenPipeError, ConnectionResetError):
        pass  # closed already
    frames, closed = read_until_eof(g)
    g.close()
    check(closed and frames == [], "the third connection is closed at accept, not a frame sent (%s)" % frames)
    s1.close()
    ch1.close()
    srv.wait_stats(lambda st: st[0] == 1)
    g = raw_unix(path)
    g.sendall(PREFACE + settings())
    f = read_frame(g)
    check(f is not None and f[0] == SETTINGS, "once one is gone, a new connection is served")
    g.close()
    check(s2.echo(b"3") == b"3", "the remaining channel still echoes")
    s2.close()
    ch2.close()
    srv.stop("max connections")


def openssl(*args, cwd):
    subprocess.run(["openssl"] + list(args), cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def make_ca(d, name):
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
            "-keyout", name + ".key", "-out", name + ".pem", "-subj", "/CN=" + name,
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=d)


def make_cert(d, name, ca, cn, san, usage, days=2):
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", name + ".key",
            "-out", name + ".csr", "-subj", "/CN=" + cn, cwd=d)
    with open(os.path.join(d, name + ".ext"), "w") as f:
        f.write("subjectAltName=%s\nextendedKeyUsage=%s\nbasicConstraints=CA:FALSE\n" % (san, usage))
    openssl("x509", "-req", "-in", name + ".csr", "-CA", ca + ".pem", "-CAkey", ca + ".key", "-CAcreateserial",
            "-days", str(days), "-out", name + ".pem", "-extfile", name + ".ext", cwd=d)


def read(d, name):
    with open(os.path.join(d, name), "rb") as f:
        return f.read()


def case_tls(tmp):
    d = os.path.join(tmp, "pki")
    os.mkdir(d)
    make_ca(d, "ca")
    make_ca(d, "other-ca")
    make_cert(d, "server", "ca", "fsxds-test-server", "IP:127.0.0.1,IP:::1,DNS:localhost", "serverAuth")
    make_cert(d, "client", "ca", "node-1", "DNS:node-1.example,URI:spiffe://fsxds/node-1", "clientAuth")
    make_cert(d, "stranger", "other-ca", "node-1", "DNS:node-1.example", "clientAuth")
    p = lambda n: os.path.join(d, n)
    port = free_port()
    addr = "127.0.0.1:%d" % port
    srv = Server("--listen", addr, "--tls", p("server.pem"), p("server.key"), p("ca.pem"))

    creds = grpc.ssl_channel_credentials(root_certificates=read(d, "ca.pem"), private_key=read(d, "client.key"),
                                         certificate_chain=read(d, "client.pem"))
    ch = channel(addr, creds)
    peer = list(ch.unary_stream(PEER, request_serializer=ident, response_deserializer=ident)(b"", timeout=TIMEOUT))
    lines = peer[0].decode().splitlines() if peer else []
    check(len(lines) == 4 and lines[0].startswith("tcp 127.0.0.1:") and
          lines[1:] == ["node-1", "node-1.example", "spiffe://fsxds/node-1"],
          "mutual TLS: Peer shows tcp, the CN, then the DNS and URI SANs: %r" % lines)
    s = Stream(ch)
    check(s.echo(b"secret") == b"secret", "echo over TLS")

    def told(what, *reasons):
        """the server said why it refused the handshake: one of reasons
        (a grpc client retries: earlier refusals may come first)"""
        line = srv.wait_line(lambda l: l.startswith("refused tcp 127.0.0.1:") and any(r in l for r in reasons))
        check(line is not None, "%s: the server's refusal says %s (%r)" % (what, " or ".join(reasons), line))

    def refused(creds, what):
        c = channel(addr, creds)
        try:
            c.unary_stream(PEER, request_serializer=ident, response_deserializer=ident)(b"", timeout=10).next()
            code = grpc.StatusCode.OK
        except grpc.RpcError as e:
            code = e.code()
        c.close()
        check(code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED), "%s: refused (%s)" % (what, code))

    refused(grpc.ssl_channel_credentials(root_certificates=read(d, "ca.pem")), "TLS without a client certificate")
    told("TLS without a client certificate", "peer did not return a certificate")
    refused(grpc.ssl_channel_credentials(root_certificates=read(d, "ca.pem"), private_key=read(d, "stranger.key"),
                                         certificate_chain=read(d, "stranger.pem")),
            "TLS with a client certificate from another CA")
    told("TLS with a client certificate from another CA", "client certificate: unable to get local issuer certificate")
    # a TLS client with a good certificate that offers http/1.1 only
    import ssl
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(p("ca.pem"))
    ctx.load_cert_chain(p("client.pem"), p("client.key"))
    ctx.set_alpn_protocols(["http/1.1"])
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as raw:
            with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as t:
                t.sendall(PREFACE + settings())
                data = t.recv(100)
        alpn_refused = data == b""
    except (ssl.SSLError, ConnectionResetError, BrokenPipeError):
        alpn_refused = True
    check(alpn_refused, "TLS without ALPN h2: refused")
    told("TLS without ALPN h2", "no application protocol")
    # garbage instead of a TLS handshake
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as raw:
        raw.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" * 10)
        try:
            while raw.recv(4096):
                pass
            closed = True
        except ConnectionResetError:
            closed = True
        except socket.timeout:
            closed = False
    check(closed, "garbage on the TLS port: closed")
    told("garbage on the TLS port", "http request", "wrong version number")
    # half a ClientHello, then nothing: closed at the handshake deadline
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as raw:
        raw.sendall(bytes.fromhex("1603010200010001fc0303"))
        t0 = time.monotonic()
        try:
            eof = raw.recv(1) == b""
        except ConnectionResetError:
            eof = True
        except socket.timeout:
            eof = False
    check(eof and time.monotonic() - t0 >= 4, "a stalled TLS handshake: closed after its 5 s deadline (%.1f s)" %
          (time.monotonic() - t0))
    told("a stalled TLS handshake", "no TLS handshake within 5000 ms")
    # a port probe (connect, close) is no refusal: the next line is the
    # next client's, refused for its own reason
    socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT).close()
    refused(grpc.ssl_channel_credentials(root_certificates=read(d, "ca.pem")), "TLS without a client certificate, again")
    line = srv.wait_line(lambda l: l.startswith("refused "))
    check(line is not None and "peer did not return a certificate" in line,
          "a port probe is not reported as a refusal: the next refusal is the next client's (%r)" % line)
    check(s.echo(b"still") == b"still", "the TLS stream still echoes after the refused clients")

    # SIGHUP with the same address and certificates: the stream stays
    srv.proc.send_signal(signal.SIGHUP)
    check(srv.wait_line(lambda l: l == "relistened") is not None, "SIGHUP on TCP+TLS: listening again")
    check(s.echo(b"after hup") == b"after hup", "TLS stream across SIGHUP")
    ch2 = channel(addr, creds)
    s2 = Stream(ch2)
    check(s2.echo(b"new") == b"new", "a new TLS connection after SIGHUP")
    s2.close()
    ch2.close()
    s.close()
    ch.close()
    srv.stop("tls")

    # IPv6 loopback, where there is one
    try:
        probe = socket.socket(socket.AF_INET6)
        probe.bind(("::1", 0))
        port6 = probe.getsockname()[1]
        probe.close()
    except OSError:
        port6 = None
    if port6 is None:
        print("skip IPv6: no ::1 here", flush=True)
    else:
        srv = Server("--listen", "[::1]:%d" % port6, "--tls", p("server.pem"), p("server.key"), p("ca.pem"))
        ch = channel("[::1]:%d" % port6, creds)
        peer = list(ch.unary_stream(PEER, request_serializer=ident, response_deserializer=ident)(b"", timeout=TIMEOUT))
        check(peer and peer[0].decode().startswith("tcp [::1]:"), "TLS over [::1]: Peer says tcp [::1]:PORT (%r)" % peer)
        ch.close()
        srv.stop("ipv6")

    # a bad certificate or key: the file named, with OpenSSL's reason
    with open(p("garbage.pem"), "w") as f:
        f.write("-----BEGIN CERTIFICATE-----\nnot base64 !!\n-----END CERTIFICATE-----\n")
    # a certificate for code signing only; a chain holding one that ended
    make_cert(d, "codesign", "ca", "fsxds-test-server", "IP:127.0.0.1", "codeSigning")
    make_cert(d, "ended", "ca", "fsxds-test-ended", "DNS:ended", "serverAuth", days=0)
    with open(p("chained.pem"), "wb") as f:
        f.write(read(d, "server.pem") + read(d, "ended.pem"))
    time.sleep(1.1)  # -days 0: notAfter is the moment it was made
    for args, name, why in [((p("garbage.pem"), p("server.key"), p("ca.pem")), "garbage.pem", "bad base64 decode"),
                            ((p("server.pem"), p("client.key"), p("ca.pem")), "client.key",
                             "does not belong to the first certificate in " + p("server.pem")),
                            ((p("ca.pem"), p("server.key"), p("ca.pem")), "ca.pem",
                             "a CA's: the server's own certificate comes first"),
                            ((p("server.pem"), p("server.key"), p("missing.pem")), "missing.pem",
                             "No such file or directory"),
                            ((p("codesign.pem"), p("codesign.key"), p("ca.pem")), "codesign.pem",
                             "not a TLS server's certificate"),
                            ((p("chained.pem"), p("server.key"), p("ca.pem")), "chained.pem",
                             "a certificate of its chain (/CN=fsxds-test-ended) expired on")]:
        bad = Server("--listen", "127.0.0.1:%d" % free_port(), "--tls", *args, expect_ready=False)
        rc = bad.proc.wait(timeout=TIMEOUT)
        err = bad.proc.stderr.read().strip()
        check(rc == 1 and name in err and why in err, "a bad TLS file is named with the reason (%s): %s" % (why, err))
    # a unix socket takes no TLS, TCP requires it
    for args in [("--listen", "unix:" + p("x.sock"), "--tls", p("server.pem"), p("server.key"), p("ca.pem")),
                 ("--listen", "127.0.0.1:%d" % free_port())]:
        bad = Server(*args, expect_ready=False)
        rc = bad.proc.wait(timeout=TIMEOUT)
        err = bad.proc.stderr.read().strip()
        check(rc == 1 and "TLS" in err, "%s: refused (%s)" % (args[1], err))


def case_garbage(tmp):
    path = os.path.join(tmp, "garbage.sock")
    srv = Server("--listen", "unix:" + path)
    ch = channel("unix:" + path)
    s = Stream(ch)
    check(s.echo(b"before") == b"before", "echo before the garbage")
    # garbage instead of the preface
    g = raw_unix(path)
    g.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" + bytes(range(256)) * 4)
    _, closed = read_until_eof(g)
    g.close()
    check(closed, "garbage instead of the preface: the connection closed")
    # a valid preface, then a frame that is a connection error (a DATA frame on stream 0)
    g = raw_unix(path)
    g.sendall(PREFACE + settings() + frame(DATA, 0, 0, b"xxxx"))
    frames, closed = read_until_eof(g)
    g.close()
    check(closed and any(f[0] == GOAWAY for f in frames), "DATA on stream 0: GOAWAY, then closed (%s)" % [f[0] for f in frames])
    # a malformed gRPC message ends only its stream: a compressed flag
    g = raw_unix(path)
    g.sendall(PREFACE + settings() + request_headers(1, ECHO) + frame(DATA, 0, 1, grpc_message(b"zz", True)) +
              request_headers(3, ECHO) + frame(DATA, 0, 3, grpc_message(b"fine")))
    ended1, data3 = False, b""
    deadline = time.monotonic() + TIMEOUT
    while not (ended1 and len(data3) >= 9) and time.monotonic() < deadline:
        f = read_frame(g)
        if f is None:
            break
        if f[2] == 1 and (f[0] == RST_STREAM or (f[0] == HEADERS and f[1] & END_STREAM)):
            ended1 = True
        if f[0] == DATA and f[2] == 3:
            data3 += f[3]
    check(ended1 and data3 == grpc_message(b"fine"),
          "a compressed message ends its stream, the next stream on the connection echoes (%s %r)" % (ended1, data3))
    g.close()
    # random frames (a fixed seed): each connection gets the preface and
    # SETTINGS, then 20 frames of any type, flags, stream and payload (or a
    # request and random bytes as its messages), then a PING; it ends with
    # the PING's ACK or with the server's close
    rng = random.Random(16)
    outcomes = {"ack": 0, "closed": 0}
    for _ in range(60):
        g = raw_unix(path)
        frames = [frame(rng.randrange(11), rng.randrange(256), rng.choice([0, 1, 3, rng.randrange(1 << 31)]),
                        rng.randbytes(rng.choice([0, 1, 4, 5, 8, 9, 13, rng.randrange(300)])))
                  for _ in range(20)]
        if rng.random() < 0.5:
            # or a stream with random bytes as its gRPC messages
            frames = [request_headers(1, ECHO)] + [
                frame(DATA, 0, 1, rng.choice([b"\0\0\0\0", b"\1", b"\0\0\0\1\0"]) + rng.randbytes(rng.randrange(40)))
                for _ in range(rng.randrange(1, 6))]
        try:
            g.sendall(PREFACE + settings() + b"".join(frames) + frame(PING, 0, 0, b"fsxds-ok"))
        except (BrokenPipeError, ConnectionResetError):
            pass
        while True:
            f = read_frame(g)
            if f is None:
                outcomes["closed"] += 1
                break
            if f[0] == PING and f[1] & ACK and f[3] == b"fsxds-ok":
                outcomes["ack"] += 1
                break
        g.close()
    check(srv.proc.poll() is None and sum(outcomes.values()) == 60,
          "60 connections of random frames: each closed or answered, the server alive (%s)" % outcomes)
    check(s.echo(b"after") == b"after", "the grpc stream kept working through all of it")
    s.close()
    ch.close()
    srv.stop("garbage")


def case_oversize(tmp):
    path = os.path.join(tmp, "big.sock")
    srv = Server("--listen", "unix:" + path, "--max-message", 1024)
    ch = channel("unix:" + path)
    s = Stream(ch)
    check(s.echo(b"y" * 1024) == b"y" * 1024, "a message of max-message bytes echoes")
    try:
        s.echo(b"z" * 1025)
        code, details = grpc.StatusCode.OK, ""
    except grpc.RpcError as e:
        code, details = e.code(), e.details()
    check(code == grpc.StatusCode.RESOURCE_EXHAUSTED and "1025 bytes" in details,
          "one byte more: RESOURCE_EXHAUSTED, saying so (%s %s)" % (code, details))
    # a compressed message (grpc compresses when asked): UNIMPLEMENTED
    c = Stream(ch, compression=grpc.Compression.Gzip)
    try:
        c.echo(b"compress me" * 10)
        code = grpc.StatusCode.OK
    except grpc.RpcError as e:
        code = e.code()
    check(code == grpc.StatusCode.UNIMPLEMENTED, "a compressed message: UNIMPLEMENTED (%s)" % code)
    s2 = Stream(ch)
    check(s2.echo(b"small") == b"small", "the channel still works for a new stream")
    s2.close()
    ch.close()
    srv.stop("oversize")


def case_flood(tmp):
    path = os.path.join(tmp, "flood.sock")
    srv = Server("--listen", "unix:" + path)
    ch = channel("unix:" + path)
    s = Stream(ch)
    s.echo(b"warm")
    rss0 = srv.rss_kib()
    # several stalled Flood readers: a 1 KiB window, and they never read
    stalled = []
    for _ in range(4):
        g = raw_unix(path)
        g.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        g.sendall(PREFACE + settings(initial_window_size=1024) + request_headers(1, FLOOD, end_stream=True))
        stalled.append(g)
    st = srv.wait_stats(lambda st: st[1] == 5)
    ok = all(s.echo(b"e%d" % i) == b"e%d" % i for i in range(200))
    check(st[:2] == (5, 5) and ok, "4 stalled Flood readers: the echo client keeps working (%s)" % (st,))
    st = srv.stats()
    rss1 = srv.rss_kib()
    print("info 4 stalled Flood streams: h2_server_bytes %d, RSS %d -> %d KiB" % (st[2], rss0, rss1), flush=True)
    check(st[2] < 4 * 200 * 1024, "each stalled Flood holds about its 64 KiB queue: %d bytes in all" % st[2])
    # a Flood read by grpc: what the server sends is bounded by what is read
    f = ch.unary_stream(FLOOD, request_serializer=ident, response_deserializer=ident)(b"", timeout=300)
    got = [next(f) for _ in range(2000)]
    check(len(got) == 2000 and got[0].startswith(b"flood "), "a Flood read by grpc goes on (2000 messages)")
    f.cancel()
    check(srv.rss_kib() - rss0 < 32 * 1024, "the server's RSS stays bounded (%d -> %d KiB)" % (rss0, srv.rss_kib()))
    for g in stalled:
        g.close()
    st = srv.wait_stats(lambda st: st[0] == 1)
    check(st[0] == 1, "stalled readers gone: their connections closed %s" % (st,))
    s.close()
    ch.close()
    srv.stop("flood")


def case_keepalive(tmp):
    path = os.path.join(tmp, "ka.sock")
    srv = Server("--listen", "unix:" + path, "--keepalive-ms", 200, "--keepalive-timeout-ms", 300)
    ch = channel("unix:" + path)
    s = Stream(ch)
    check(s.echo(b"1") == b"1", "echo with a short keepalive")
    g = raw_unix(path)
    g.sendall(PREFACE + settings())
    frames, closed = read_until_eof(g)  # never answers the PING
    g.close()
    check(closed and any(f[0] == PING and not f[1] & ACK for f in frames),
          "a silent peer gets a PING, then is closed (%s)" % [f[0] for f in frames])
    # a silent peer that does answer PINGs stays: wait for two PINGs
    g = raw_unix(path)
    g.sendall(PREFACE + settings())
    pings = 0
    while pings < 3:
        f = read_frame(g)
        if f is None:
            break
        if f[0] == PING and not f[1] & ACK:
            pings += 1
            g.sendall(frame(PING, ACK, 0, f[3]))
        if f[0] == SETTINGS and not f[1] & ACK:
            g.sendall(frame(SETTINGS, ACK, 0))
    check(pings == 3, "a peer that ACKs the PINGs stays open (%d PINGs answered)" % pings)
    g.close()
    check(s.echo(b"2") == b"2", "grpc answers the PINGs: its stream still echoes after the silent peer's end")
    s.close()
    ch.close()
    srv.stop("keepalive")


def case_sighup(tmp):
    path = os.path.join(tmp, "hup.sock")
    srv = Server("--listen", "unix:" + path)
    ch = channel("unix:" + path)
    s = Stream(ch)
    check(s.echo(b"before") == b"before", "echo before SIGHUP")
    ino = os.lstat(path).st_ino
    srv.proc.send_signal(signal.SIGHUP)
    check(srv.wait_line(lambda l: l == "relistened") is not None, "SIGHUP: listening again")
    check(os.lstat(path).st_ino != ino, "the socket file is a new one")
    check(s.echo(b"after") == b"after", "the open stream still echoes after SIGHUP")
    ch2 = channel("unix:" + path)
    s2 = Stream(ch2)
    check(s2.echo(b"new") == b"new", "a new connection to the new listener")
    s2.close()
    ch2.close()
    s.close()
    ch.close()
    srv.stop("sighup")
    check(not os.path.exists(path), "the socket file is removed at the end")


def main():
    with tempfile.TemporaryDirectory(prefix="fsxds-h2-") as tmp:
        try:
            case_unix_echo(tmp)
            case_concurrent(tmp)
            case_max_streams(tmp)
            case_tls(tmp)
            case_garbage(tmp)
            case_oversize(tmp)
            case_flood(tmp)
            case_keepalive(tmp)
            case_sighup(tmp)
        finally:
            for p in servers:  # a case that raised left its server
                if p.poll() is None:
                    p.kill()
                    p.wait()
    if failures:
        print("%d failed:\n  %s" % (len(failures), "\n  ".join(failures)))
        return 1
    print("all passed")
    return 0


if __name__ == "__main__":
    from exitnow import exit_now  # python3-grpcio can deadlock in sys.exit()'s finalization
    exit_now(main())
