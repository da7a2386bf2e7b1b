#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Raw xDS streams for fsxds's ADS tests and benchmarks (Debian's
python3-grpcio and python3-protobuf; run under /usr/bin/python3).

The message classes (DiscoveryRequest/Response, their delta forms, Node,
google.rpc.Status and every resource type) are built at run time from the
FileDescriptorSet the build makes (build-h/daemon/fsxds.desc: Envoy's whole
v3 API), so nothing is generated or checked in.

    xds = Xds("build/daemon/fsxds.desc")
    ch = xds.channel("unix:/run/fsxds/ads.sock")
    s = xds.sotw(ch, "node-1", auto_ack=True)
    s.subscribe("CDS")                  # wildcard
    r = s.next("CDS")                   # a Response: version, nonce, names, resources
    s.subscribe("EDS", r.eds_names())   # by name
    s.close()

A stream reads its responses in a background thread into an ordered list
(each with its arrival time, for order checks only: no test compares a
duration); every wait has a generous timeout and fails with what it got.
"""
import os
import queue
import socket
import struct
import threading
import time

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

WAIT = float(os.environ.get("FSXDS_TEST_WAIT", "30"))  # seconds, per wait

TYPES = {
    "SDS": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret",
    "CDS": "type.googleapis.com/envoy.config.cluster.v3.Cluster",
    "EDS": "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment",
    "LDS": "type.googleapis.com/envoy.config.listener.v3.Listener",
    "SRDS": "type.googleapis.com/envoy.config.route.v3.ScopedRouteConfiguration",
    "RDS": "type.googleapis.com/envoy.config.route.v3.RouteConfiguration",
    "RTDS": "type.googleapis.com/envoy.service.runtime.v3.Runtime",
}
SHORT = {v: k for k, v in TYPES.items()}
PUSH_ORDER = ("SDS", "CDS", "EDS", "LDS", "SRDS", "RDS", "RTDS")

ADS = "/envoy.service.discovery.v3.AggregatedDiscoveryService/"
SOTW_METHOD = ADS + "StreamAggregatedResources"
DELTA_METHOD = ADS + "DeltaAggregatedResources"

INVALID_ARGUMENT = 3


def type_url(t):
    """"CDS" or a full type URL -> the type URL."""
    return TYPES.get(t, t)


def short(url):
    return SHORT.get(url, url)


class Xds:
    """The message classes of a descriptor set, and stream factories."""

    def __init__(self, desc_path):
        with open(desc_path, "rb") as f:
            fds = descriptor_pb2.FileDescriptorSet.FromString(f.read())
        self.pool = descriptor_pool.DescriptorPool()
        files = {f.name: f for f in fds.file}
        added = set()

        def add(name):  # dependencies first, whatever the set's order
            if name in added:
                return
            added.add(name)
            for dep in files[name].dependency:
                if dep in files:
                    add(dep)
            self.pool.Add(files[name])
        for name in files:
            add(name)
        self._classes = {}
        self.DiscoveryRequest = self.cls("envoy.service.discovery.v3.DiscoveryRequest")
        self.DiscoveryResponse = self.cls("envoy.service.discovery.v3.DiscoveryResponse")
        self.DeltaDiscoveryRequest = self.cls("envoy.service.discovery.v3.DeltaDiscoveryRequest")
        self.DeltaDiscoveryResponse = self.cls("envoy.service.discovery.v3.DeltaDiscoveryResponse")
        self.Node = self.cls("envoy.config.core.v3.Node")
        self.Status = self.cls("google.rpc.Status")

    def cls(self, full_name):
        c = self._classes.get(full_name)
        if c is None:
            d = self.pool.FindMessageTypeByName(full_name)
            if hasattr(message_factory, "GetMessageClass"):
                c = message_factory.GetMessageClass(d)
            else:  # protobuf < 4.21
                c = message_factory.MessageFactory(self.pool).GetPrototype(d)
            self._classes[full_name] = c
        return c

    def unpack(self, any_msg):
        """A google.protobuf.Any (or (type_url, value)) -> the decoded message."""
        if isinstance(any_msg, tuple):
            url, value = any_msg
        else:
            url, value = any_msg.type_url, any_msg.value
        return self.cls(url.split("/", 1)[1]).FromString(value)

    def node(self, node_id, cluster="fsxds-test"):
        n = self.Node(id=node_id, cluster=cluster, user_agent_name="fsxds-xdsclient")
        return n

    @staticmethod
    def channel(target, tls=None, options=()):
        """target: "unix:/path" or "HOST:PORT"; tls: {"ca": pem bytes,
        "cert": pem, "key": pem, "server_name": name to check} for TCP."""
        # never through $http_proxy (a CI host may set one): fsxdsd is local
        opts = [("grpc.enable_http_proxy", 0)] + list(options)
        if tls is None:
            return grpc.insecure_channel(target, options=opts)
        creds = grpc.ssl_channel_credentials(root_certificates=tls.get("ca"),
                                             private_key=tls.get("key"),
                                             certificate_chain=tls.get("cert"))
        if tls.get("server_name"):
            opts.append(("grpc.ssl_target_name_override", tls["server_name"]))
        return grpc.secure_channel(target, creds, options=opts)

    def sotw(self, channel, node_id, **kw):
        return SotwStream(self, channel, node_id, **kw)

    def delta(self, channel, node_id, **kw):
        return DeltaStream(self, channel, node_id, **kw)


class Response:
    """One response as received: short type, version, nonce, resource
    names (in order), decoded resources {name: message}, arrival time (time
    .monotonic(), for ordering), and the raw message. Delta responses also
    have versions {name: resource version} and removed [names]."""

    def __init__(self, xds, msg, delta, seq):
        self.seq = seq
        self.t = time.monotonic()
        self.msg = msg
        self.delta = delta
        self.type = short(msg.type_url)
        self.type_url = msg.type_url
        self.nonce = msg.nonce
        self.resources = {}
        self.names = []
        self.versions = {}
        self.removed = []
        if delta:
            self.version = msg.system_version_info
            for r in msg.resources:
                self.names.append(r.name)
                self.versions[r.name] = r.version
                self.resources[r.name] = xds.unpack(r.resource) if r.HasField("resource") else None
            self.removed = list(msg.removed_resources)
        else:
            self.version = msg.version_info
            for a in msg.resources:
                m = xds.unpack(a)
                name = resource_name(m)
                self.names.append(name)
                self.resources[name] = m

    def eds_names(self):
        """The EDS service names of the EDS clusters of a CDS response."""
        out = []
        for c in self.resources.values():
            eds = c.DESCRIPTOR.fields_by_name["type"].enum_type.values_by_name["EDS"].number
            if c.WhichOneof("cluster_discovery_type") == "type" and c.type == eds:
                out.append(c.eds_cluster_config.service_name or c.name)
        return sorted(out)

    def __repr__(self):
        extra = " removed=%r" % self.removed if self.delta and self.removed else ""
        return "<%s %s version=%s nonce=%s names=%r%s>" % (
            "delta" if self.delta else "sotw", self.type, self.version, self.nonce, self.names, extra)


def resource_name(m):
    """The name of a decoded resource (name, or cluster_name of a
    ClusterLoadAssignment)."""
    for f in ("name", "cluster_name"):
        if f in m.DESCRIPTOR.fields_by_name:
            return getattr(m, f)
    return None


HCM = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"


def route_config_names(xds, r):
    """The RDS route_config_names of the HttpConnectionManagers of an LDS
    response's listeners (api_listener and filter chains), sorted."""
    out = set()

    def hcm(any_msg):
        if any_msg.type_url == HCM:
            m = xds.unpack(any_msg)
            if m.WhichOneof("route_specifier") == "rds":
                out.add(m.rds.route_config_name)
    for lis in r.resources.values():
        if lis.HasField("api_listener"):
            hcm(lis.api_listener.api_listener)
        chains = list(lis.filter_chains)
        if lis.HasField("default_filter_chain"):
            chains.append(lis.default_filter_chain)
        for fc in chains:
            for f in fc.filters:
                if f.HasField("typed_config"):
                    hcm(f.typed_config)
    return sorted(out)


class _Stream:
    """What both stream kinds share: the request queue feeding grpc's
    request iterator, the reader thread, the list of responses."""

    def __init__(self, xds, channel, node_id, method, req_cls, resp_cls, delta, auto_ack=False,
                 envoy_like=False, node_every=False, metadata=None, cluster="fsxds-test"):
        self.xds = xds
        self.node_id = node_id
        self.node = xds.node(node_id, cluster)
        self.delta = delta
        self.auto_ack = auto_ack
        self.envoy_like = envoy_like
        self.node_every = node_every
        self.req_cls = req_cls
        self.sent_node = False
        self.sent = []          # the requests, in order
        self.responses = []     # Response objects, in arrival order
        self.log = []           # (type, version, nonce, names, t) in arrival order
        self.error = None       # grpc.RpcError the stream ended with
        self.ended = False
        self.cond = threading.Condition()
        self.taken = set()
        self._q = queue.Queue()
        call = channel.stream_stream(method, request_serializer=lambda m: m.SerializeToString(),
                                     response_deserializer=resp_cls.FromString)
        self.call = call(self._requests(), metadata=metadata)
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _requests(self):
        while True:
            m = self._q.get()
            if m is None:
                return
            yield m

    def _read(self):
        try:
            for msg in self.call:
                with self.cond:
                    r = Response(self.xds, msg, self.delta, len(self.responses))
                    self.responses.append(r)
                    self.log.append((r.type, r.version, r.nonce, tuple(r.names), r.t))
                    self.cond.notify_all()
                if self.envoy_like:
                    self.follow(r)
                elif self.auto_ack:
                    self.ack(r)
        except grpc.RpcError as e:
            self.error = e
        except Exception as e:  # a decode error: the test must see it
            self.error = e
        with self.cond:
            self.ended = True
            self.cond.notify_all()

    def send(self, req):
        if not self.sent_node or self.node_every:
            req.node.CopyFrom(self.node)
            self.sent_node = True
        with self.cond:
            self.sent.append(req)
        self._q.put(req)

    def wait(self, pred, timeout=None, what="a response", after=0, take=True):
        """The first response (index >= after, not taken yet) that
        satisfies pred; marks it taken. Fails with what arrived."""
        deadline = time.monotonic() + (timeout or WAIT)
        with self.cond:
            while True:
                for r in self.responses[after:]:
                    if r.seq not in self.taken and pred(r):
                        if take:
                            self.taken.add(r.seq)
                        return r
                left = deadline - time.monotonic()
                if self.ended or left <= 0:
                    raise AssertionError("%s (node %s): %s waiting for %s; received %r" % (
                        "delta stream" if self.delta else "stream", self.node_id,
                        "stream ended (%s)" % self.status_text() if self.ended else "timed out",
                        what, self.responses[after:]))
                self.cond.wait(min(left, 0.2))

    def next(self, t=None, timeout=None, what=None):
        """The next untaken response (of type t when given)."""
        return self.wait(lambda r: t is None or r.type == short(type_url(t)), timeout,
                         what or "a %s response" % (t or "any"))

    def expect_none(self, t=None, quiet=1.0):
        """Fails if an untaken response (of type t) is there after quiet
        seconds: a check of an absence, which a slow machine can only make
        pass, never fail."""
        time.sleep(quiet)
        with self.cond:
            got = [r for r in self.responses if r.seq not in self.taken and
                   (t is None or r.type == short(type_url(t)))]
        if got:
            raise AssertionError("node %s: expected no %s response, received %r" % (
                self.node_id, t or "", got))

    def status_text(self):
        e = self.error
        if e is None:
            return "no error"
        if isinstance(e, grpc.RpcError):
            return "%s: %s" % (e.code(), e.details())
        return repr(e)

    def code(self):
        """The grpc.StatusCode the stream ended with, None while it runs."""
        e = self.error
        return e.code() if isinstance(e, grpc.RpcError) else None

    def close(self):
        self._q.put(None)
        self.call.cancel()
        self.thread.join(timeout=WAIT)


class SotwStream(_Stream):
    """A state-of-the-world ADS stream."""

    def __init__(self, xds, channel, node_id, **kw):
        super().__init__(xds, channel, node_id, SOTW_METHOD, xds.DiscoveryRequest, xds.DiscoveryResponse,
                         False, **kw)
        self.names = {}     # type URL -> subscribed names
        self.acked = {}     # type URL -> last version ACKed
        self.nonce = {}     # type URL -> last nonce received

    def request(self, t, names=None, version=None, nonce=None, error=None):
        url = type_url(t)
        if names is not None:
            self.names[url] = sorted(names)
        req = self.xds.DiscoveryRequest(type_url=url, resource_names=self.names.get(url, []),
                                        version_info=self.acked.get(url, "") if version is None else version,
                                        response_nonce=self.nonce.get(url, "") if nonce is None else nonce)
        if error is not None:
            req.error_detail.code = INVALID_ARGUMENT
            req.error_detail.message = error
        self.send(req)
        return req

    def subscribe(self, t, names=()):
        """The first request of a type (names empty: wildcard for LDS/CDS)."""
        return self.request(t, names=names)

    def change(self, t, names):
        """A new subscription for a type (the last ACKed version and nonce)."""
        return self.request(t, names=names)

    def ack(self, r):
        self.nonce[r.type_url] = r.nonce
        self.acked[r.type_url] = r.version
        return self.request(r.type_url)

    def nack(self, r, message):
        """version_info stays the last ACKed one, as the protocol says."""
        self.nonce[r.type_url] = r.nonce
        return self.request(r.type_url, error=message)

    def follow(self, r):
        """What Envoy does with a response (envoy_like=True): a CDS update
        first changes the EDS subscription to its EDS clusters, an LDS
        update the RDS subscription to its listeners' route configurations,
        then the response is ACKed."""
        if r.type == "CDS":
            want = r.eds_names()
            if want != self.names.get(TYPES["EDS"]):
                self.change("EDS", want)
        elif r.type == "LDS":
            want = route_config_names(self.xds, r)
            if want != self.names.get(TYPES["RDS"]):
                self.change("RDS", want)
        self.ack(r)


class DeltaStream(_Stream):
    """An incremental (delta) ADS stream."""

    def __init__(self, xds, channel, node_id, **kw):
        super().__init__(xds, channel, node_id, DELTA_METHOD, xds.DeltaDiscoveryRequest,
                         xds.DeltaDiscoveryResponse, True, **kw)

    def request(self, t, subscribe=(), unsubscribe=(), initial_versions=None, nonce="", error=None):
        req = self.xds.DeltaDiscoveryRequest(type_url=type_url(t), resource_names_subscribe=list(subscribe),
                                             resource_names_unsubscribe=list(unsubscribe),
                                             response_nonce=nonce)
        for k, v in (initial_versions or {}).items():
            req.initial_resource_versions[k] = v
        if error is not None:
            req.error_detail.code = INVALID_ARGUMENT
            req.error_detail.message = error
        self.send(req)
        return req

    def subscribe(self, t, names=(), initial_versions=None):
        """names empty on the first request of LDS/CDS: wildcard."""
        return self.request(t, subscribe=names, initial_versions=initial_versions)

    def unsubscribe(self, t, names):
        return self.request(t, unsubscribe=names)

    def ack(self, r):
        return self.request(r.type_url, nonce=r.nonce)

    def nack(self, r, message):
        return self.request(r.type_url, nonce=r.nonce, error=message)


# ------------------------------------------------------------ a stalled client

def _hpack_literal(name, value):
    """A literal header field without indexing, new name, no Huffman."""
    def length(n):  # 7-bit prefix integer, H = 0
        if n < 127:
            return bytes([n])
        out = [127]
        n -= 127
        while n >= 128:
            out.append((n & 0x7F) | 0x80)
            n >>= 7
        out.append(n)
        return bytes(out)
    n, v = name.encode(), value.encode()
    return b"\x00" + length(len(n)) + n + length(len(v)) + v


def _frame(ftype, flags, stream, payload):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + struct.pack(">I", stream) + payload


class StalledClient:
    """A client that opens an ADS stream and then never reads: raw HTTP/2
    over the socket, a stream window of `window` bytes that it never
    updates, and no recv() at all, so both HTTP/2 flow control and the
    socket's buffers push back on the server."""

    def __init__(self, xds, unix_path, node_id, types=("CDS", "LDS"), window=16):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(unix_path)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        settings = struct.pack(">HI", 0x4, window) + struct.pack(">HI", 0x2, 0)  # INITIAL_WINDOW_SIZE, ENABLE_PUSH
        out = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + _frame(0x4, 0, 0, settings)
        hdrs = b"".join(_hpack_literal(k, v) for k, v in (
            (":method", "POST"), (":scheme", "http"), (":path", SOTW_METHOD), (":authority", "localhost"),
            ("content-type", "application/grpc"), ("te", "trailers")))
        out += _frame(0x1, 0x4, 1, hdrs)  # HEADERS, END_HEADERS, stream 1
        first = True
        for t in types:
            req = xds.DiscoveryRequest(type_url=type_url(t))
            if first:
                req.node.CopyFrom(xds.node(node_id))
                first = False
            body = req.SerializeToString()
            out += _frame(0x0, 0, 1, b"\x00" + struct.pack(">I", len(body)) + body)
        self.sock.sendall(out)

    def close(self):
        self.sock.close()
