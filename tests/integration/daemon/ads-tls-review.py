#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Review of the ADS TLS changes (refused handshakes logged and counted,
the server certificate's validity at load, its notAfter in status): each
case is a problem found in review; each failed before its fix.
Same harness and clients as ads.py (Debian's python3-grpcio and
python3-protobuf; run under /usr/bin/python3).

Every wait is "until X" with a generous timeout (FSXDS_TEST_WAIT); the
checks of an absence wait a quiet time first."""
import os
import re
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import *  # noqa: E402,F401,F403
import ads as A  # noqa: E402  (AdsEnv, tls_pki(), tree2(), xds(), not_after(), free_port())

QUIET = 2.0


class Tls:
    """A daemon serving ADS over TCP with mutual TLS (A.tls_pki's CA,
    server and client certificates), a metrics file, and helpers."""

    def __init__(self):
        A.xds()
        self.dir = tempfile.mkdtemp(prefix="fsxds-ads-tls-review-")
        self.p = A.tls_pki(self.dir)
        self.port = A.free_port()
        self.env = A.AdsEnv(A.tree2(), listen="127.0.0.1:%d" % self.port,
                            tls={"cert": self.p["server"] + ".pem", "key": self.p["server"] + ".key",
                                 "client_ca": self.p["ca"] + ".pem"})
        self.prom = os.path.join(self.env.root, "fsxds.prom")
        self.env.write_config(metrics_file=self.prom)
        self.d = self.env.daemon()
        wait_until(lambda: "ADS: listening on 127.0.0.1:%d" % self.port in self.d.log_text(), "the TCP listener")

    def close(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def channel(self, who="alpha", ca=None):
        tls = {"ca": read(ca or self.p["ca"] + ".pem"), "server_name": "localhost"}
        if who:
            tls.update(cert=read(self.p[who] + ".pem"), key=read(self.p[who] + ".key"))
        return A.xds().channel("127.0.0.1:%d" % self.port, tls=tls,
                               options=[("grpc.use_local_subchannel_pool", 1)])

    def good_client(self, timeout=10):
        """alpha's clusters over TLS, or an AssertionError"""
        s = A.xds().sotw(self.channel("alpha"), "alpha")
        s.subscribe("CDS")
        try:
            return s.next("CDS", timeout=timeout, what="alpha's clusters over TLS")
        finally:
            s.close()

    def refused(self):
        m = re.search(r"^fsxds_ads_refused_total (\d+)$", read(self.prom).decode(), re.M)
        return int(m.group(1)) if m else None

    def reload(self):
        """SIGHUP, and wait until the daemon says it reloaded"""
        mark = self.d.log_text().count("configuration reloaded")
        self.d.sighup()
        wait_until(lambda: self.d.log_text().count("configuration reloaded") > mark, "the reload")

    def renew_in_place(self, new):
        """NEW.key and NEW.pem copied over the server's files (as a renewal
        tool does), then a reload"""
        shutil.copyfile(new + ".key", self.p["server"] + ".key")
        shutil.copyfile(new + ".pem", self.p["server"] + ".pem")
        self.reload()

    def garbage(self, n):
        """n connections, each 64 zero bytes instead of a ClientHello
        (a refusal each), one after the other"""
        for _ in range(n):
            s = socket.create_connection(("127.0.0.1", self.port))
            s.sendall(b"\0" * 64)
            try:
                s.recv(1)
            except OSError:
                pass
            s.close()

    def refused_lines(self):
        return [line for line in self.d.log_text().splitlines() if "refused: TLS handshake" in line]


def openssl_cert(d, name, subj, ext, days=30):
    """another certificate of A.tls_pki's CA under d: NAME.pem, NAME.key"""
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    write(os.path.join(d, name + ".ext"), ext + "\n")
    A.openssl("req", "-new", *ec, "-keyout", name + ".key", "-out", name + ".csr", "-subj", subj, cwd=d)
    A.openssl("x509", "-req", "-in", name + ".csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
              "-out", name + ".pem", "-days", str(days), "-extfile", name + ".ext", cwd=d)
    return os.path.join(d, name)


def t_port_probe_not_refused():
    """A TCP health check (a load balancer's or Kubernetes' tcpSocket
    probe: connect, then close without a byte) is no refused client:
    docs/architecture.md ("A client that just closes (a port probe) is
    not") and h2.h ("Not called for a client that just went away") say
    so. fsxdsd logs each as "refused: TLS handshake: unexpected eof while
    reading" (OpenSSL 3's SSL_ERROR_SSL for an EOF) and counts it in
    fsxds_ads_refused_total, which then grows with every probe."""
    t = Tls()
    try:
        wait_until(lambda: t.refused() is not None, "fsxds_ads_refused_total in the metrics")
        before = t.refused()
        for _ in range(5):
            socket.create_connection(("127.0.0.1", t.port)).close()
        time.sleep(QUIET)
        t.good_client()  # and the metrics are written again meanwhile
        time.sleep(QUIET)
        lines = t.refused_lines()
        expect(not lines, "5 port probes (connect, close) were logged as refused TLS handshakes:\n  %s",
               "\n  ".join(lines))
        expect_eq(t.refused(), before, "fsxds_ads_refused_total after 5 port probes")
    finally:
        t.close()


def t_renewed_cert_same_path():
    """`fsxds status` and fsxds.yaml(5) say: renew ads.tls.cert and reload.
    The usual renewal (certbot, cert-manager, an Ansible copy) rewrites
    the files at the same paths. On SIGHUP, ads_config_same_listener()
    compares only the paths, so the listener keeps the old certificate:
    status.json's cert_not_after, the metric and what clients are served
    stay the old one, and the old certificate expires anyway."""
    t = Tls()
    try:
        old = A.not_after(t.p["server"] + ".pem")
        wait_until(lambda: t.env.status()["ads"].get("cert_not_after") == old, "the first certificate's end")
        new = openssl_cert(t.dir, "renewed", "/CN=localhost",
                           "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth", days=90)
        want = A.not_after(new + ".pem")
        expect(want != old, "the renewed certificate ends when the old one does (%d)", old)
        t.renew_in_place(new)
        t.good_client()
        try:
            wait_until(lambda: t.env.status()["ads"].get("cert_not_after") == want,
                       "status.json's ads.cert_not_after to be the renewed certificate's (%d)" % want, timeout=10)
        except AssertionError:
            raise AssertionError("after renewing %s in place and SIGHUP, status.json's ads.cert_not_after is "
                                 "%r: the old certificate's (%d), not the renewed one's (%d); fsxds status: %s" % (
                                     t.p["server"] + ".pem", t.env.status()["ads"].get("cert_not_after"), old,
                                     want, [line for line in t.env.cli_status().splitlines()
                                            if "certificate" in line]))
    finally:
        t.close()


def t_client_refusing_server_cert():
    """A client that does not trust fsxdsd's certificate (an Envoy with
    the wrong CA bundle, or fsxdsd's certificate expired while it served)
    aborts the handshake with an alert. fsxdsd logs it as if it had
    refused the client: "tcp ADDR refused: TLS handshake: tlsv1 alert
    unknown ca" / "sslv3 alert certificate expired", which reads as the
    client's CA or certificate being wrong. Expected: the line says that
    the client refused fsxdsd's certificate (the alert it sent)."""
    t = Tls()
    try:
        other = os.path.join(t.dir, "other")
        A.openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                  "-keyout", other + ".key", "-out", other + ".pem", "-subj", "/CN=other-ca", "-days", "3", cwd=t.dir)
        subprocess.run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % t.port, "-alpn", "h2",
                        "-cert", t.p["alpha"] + ".pem", "-key", t.p["alpha"] + ".key",
                        "-CAfile", other + ".pem", "-verify_return_error"],
                       stdin=subprocess.DEVNULL, capture_output=True, timeout=20)
        wait_until(lambda: any("alert" in line for line in t.refused_lines()),
                   "the log line of the client that refused the server's certificate")
        line = [line for line in t.refused_lines() if "alert" in line][0]
        expect(not re.search(r"refused: TLS handshake: tlsv1 alert unknown ca$", line),
               "a client that refused fsxdsd's certificate (its CA unknown to the client) is logged as a "
               "client fsxdsd refused: %r", line)
    finally:
        t.close()


def t_stalled_handshakes_lock_out():
    """Connections that send a few bytes of a ClientHello and stall hold a
    connection slot each until keepalive + keepalive_timeout (some 50 s):
    an unauthenticated peer with max_connections of them (1024, or half
    the fd limit: 32 here) locks every Envoy out, and nothing is logged or
    counted (neither the stalled handshakes nor the connections closed at
    accept). Expected: a good client is still served (a short handshake
    deadline, or a cap on handshaking connections)."""
    t = Tls()
    conns = []
    try:
        resource.prlimit(t.d.proc.pid, resource.RLIMIT_NOFILE, (64, 64))
        for _ in range(40):
            s = socket.create_connection(("127.0.0.1", t.port))
            s.sendall(bytes.fromhex("1603010200010001fc0303"))  # half a ClientHello
            conns.append(s)
        time.sleep(1)
        try:
            t.good_client(timeout=10)
        except AssertionError as e:
            raise AssertionError("with 40 stalled handshakes open (the daemon's fd cap: 32 connections), a "
                                 "client with a good certificate is not served: %s; the log says: %r" % (
                                     str(e)[:300], t.d.log_text().splitlines()[-3:]))
        expect(re.search(r"refused: closed to make room \(32 connections, the limit\): its TLS "
                         r"handshake not done after \d+ ms", t.d.log_text()),
               "the log says a stalled handshake made room: %r", t.refused_lines()[-3:])
        # and the rest end at the handshake deadline (5 s): closed by fsxdsd
        def closed(s):
            s.settimeout(30)
            try:
                return s.recv(1) == b""
            except ConnectionResetError:
                return True
            except socket.timeout:
                return False
        open_ = [s for s in conns if not closed(s)]
        expect(not open_, "%d stalled handshakes still open 30 s on (the deadline is 5 s)", len(open_))
    finally:
        for s in conns:
            s.close()
        t.close()


def t_refused_log_flood():
    """Every refused handshake is one warning; any TCP peer makes them
    (no certificate needed): 500 bytes of garbage on 500 connections in
    well under a second are 500 journal lines, and journald's default
    rate limit (10000 per 30 s per unit) then drops all of fsxdsd's
    messages, the publish errors too. Expected: the refusals are
    rate-limited or summarised (the counter still counts them all)."""
    t = Tls()
    try:
        wait_until(lambda: t.refused() is not None, "fsxds_ads_refused_total in the metrics")
        t.garbage(500)
        wait_until(lambda: t.refused() >= 500, "the 500 refusals to be counted")
        n = len(t.refused_lines())
        expect(n <= 50, "500 garbage connections made %d \"refused: TLS handshake\" log lines", n)
    finally:
        t.close()


def t_status_when_stopped():
    """`fsxds status` of a stopped fsxdsd says "fsxdsd is NOT running"
    and then, in the present tense, "ADS serving on ..." and "ADS server
    certificate valid until ..." (status.json as the daemon left it keeps
    serving: true). Expected: no ADS line that says it serves."""
    t = Tls()
    try:
        wait_until(lambda: "ADS server certificate valid until" in t.env.cli_status(), "the certificate line")
        t.d.stop()
        out = t.env.fsxds("status", "--config", t.env.config_path, expect=None).stdout
        expect_in("NOT running", out, "fsxds status of a stopped daemon")
        expect(not re.search(r"^ADS serving on", out, re.M),
               "fsxds status of a stopped daemon says it serves:\n%s", out)
    finally:
        t.close()


CASES = (("port-probe", t_port_probe_not_refused), ("renewed-cert", t_renewed_cert_same_path),
         ("client-alert", t_client_refusing_server_cert), ("stalled-handshakes", t_stalled_handshakes_lock_out),
         ("log-flood", t_refused_log_flood), ("status-stopped", t_status_when_stopped))


if __name__ == "__main__":
    run_cases("ads-tls-review", CASES)
