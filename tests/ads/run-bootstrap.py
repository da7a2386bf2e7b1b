#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""fsxds bootstrap --ads, --delta and --grpc: each output is what an Envoy
(or gRPC) takes. The Envoy bootstraps, YAML and JSON, are parsed into
envoy.config.bootstrap.v3.Bootstrap with google.protobuf's json_format
over the build's descriptor set (Envoy's whole v3 API): an unknown field
or a wrong type fails. The YAML form is read by PyYAML when Debian's
python3-yaml is there, and compared with the JSON form; the checks on
content (the pipe's path, the ADS cluster, TLS files) are made on the
message. Refusals: no ads: in the configuration (exit 1), TCP without the
client's certificate (exit 2).

Usage: run-bootstrap.py FSXDS DESC
"""
import json
import os
import subprocess
import sys
import tempfile

from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory

FSXDS, DESC = sys.argv[1], sys.argv[2]
FAILED = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        FAILED.append(what)


def load_pool():
    fds = descriptor_pb2.FileDescriptorSet.FromString(open(DESC, "rb").read())
    pool = descriptor_pool.DescriptorPool()
    files = {f.name: f for f in fds.file}
    done = set()

    def add(name):
        if name in done:
            return
        done.add(name)
        for dep in files[name].dependency:
            add(dep)
        pool.Add(files[name])

    for name in files:
        add(name)
    return pool


POOL = load_pool()


def msg_class(name):
    desc = POOL.FindMessageTypeByName(name)
    if hasattr(message_factory, "GetMessageClass"):
        return message_factory.GetMessageClass(desc)
    return message_factory.MessageFactory(POOL).GetPrototype(desc)  # protobuf 3.x/4.21 (Debian 12)


Bootstrap = msg_class("envoy.config.bootstrap.v3.Bootstrap")


def run(cfg, *args):
    p = subprocess.run([FSXDS, "bootstrap", "--config", cfg, "--node", "edge-1", "--force"] + list(args),
                       capture_output=True, text=True)
    return p.returncode, p.stdout, p.stderr


def parse(text):
    m = Bootstrap()
    json_format.Parse(text, m, descriptor_pool=POOL)
    return m


def main():
    d = tempfile.mkdtemp(prefix="fsxds-bootstrap-")
    unix = os.path.join(d, "unix.yaml")
    open(unix, "w").write('ads: {listen: "unix:/run/fsxds/ads.sock"}\n')
    tcp = os.path.join(d, "tcp.yaml")
    open(tcp, "w").write('ads: {listen: "[::1]:18000", tls: {cert: /s.pem, key: /s.key, client_ca: /ca.pem}}\n')
    none = os.path.join(d, "none.yaml")
    open(none, "w").write("history: 3\n")

    rc, out, err = run(unix, "--ads", "--json")
    check(rc == 0, "bootstrap --ads --json exits 0 (%s)" % err.strip())
    m = parse(out)
    check(m.node.id == "edge-1" and m.node.cluster == "edge-1", "node.id and node.cluster")
    ads = m.dynamic_resources.ads_config
    check(ads.api_type == ads.GRPC and ads.transport_api_version == 2, "ads_config: GRPC, transport V3")
    check(ads.grpc_services[0].envoy_grpc.cluster_name == "fsxds_ads", "ads_config names the fsxds_ads cluster")
    for n in ("cds_config", "lds_config"):
        cs = getattr(m.dynamic_resources, n)
        check(cs.HasField("ads") and cs.resource_api_version == 2, "%s: ads, V3" % n)
    c = m.static_resources.clusters[0]
    check(c.name == "fsxds_ads", "the static cluster fsxds_ads")
    addr = c.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address
    check(addr.pipe.path == "/run/fsxds/ads.sock", "its endpoint is the pipe /run/fsxds/ads.sock")
    opts = c.typed_extension_protocol_options["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"]
    check(opts.type_url.endswith("HttpProtocolOptions"), "HTTP/2 protocol options on the cluster")
    check(not c.HasField("transport_socket"), "no TLS on the unix socket")

    rc, yaml_out, err = run(unix, "--ads")
    check(rc == 0, "bootstrap --ads (YAML) exits 0")
    try:
        import yaml
        check(parse(json.dumps(yaml.safe_load(yaml_out))) == m, "the YAML form is the JSON form's message")
    except ImportError:
        print("note: no python3-yaml: the YAML form is checked by its lines only")
        check('path: "/run/fsxds/ads.sock"' in yaml_out and "api_type: GRPC" in yaml_out, "the YAML form's lines")

    rc, out, err = run(unix, "--delta", "--json")
    check(rc == 0 and parse(out).dynamic_resources.ads_config.api_type == ads.DELTA_GRPC, "--delta: DELTA_GRPC")

    rc, out, err = run(tcp, "--ads", "--json", "--cert", "/c/edge.pem", "--key", "/c/edge.key", "--ca", "/c/ca.pem")
    check(rc == 0, "TCP bootstrap with the client's certificate exits 0 (%s)" % err.strip())
    m = parse(out)
    c = m.static_resources.clusters[0]
    sa = c.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address
    check(sa.address == "::1" and sa.port_value == 18000, "the socket address [::1]:18000")
    ts = c.transport_socket
    check(ts.name == "envoy.transport_sockets.tls" and ts.typed_config.type_url.endswith("UpstreamTlsContext"),
          "an UpstreamTlsContext transport socket")
    tls = msg_class("envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext").FromString(ts.typed_config.value)
    ctx = tls.common_tls_context
    check(list(ctx.alpn_protocols) == ["h2"], "ALPN h2")
    check(ctx.tls_certificates[0].certificate_chain.filename == "/c/edge.pem" and
          ctx.tls_certificates[0].private_key.filename == "/c/edge.key" and
          ctx.validation_context.trusted_ca.filename == "/c/ca.pem", "the client's certificate, key and CA")

    rc, out, err = run(tcp, "--ads")
    check(rc == 2 and "--cert FILE --key FILE --ca FILE" in err, "TCP without the client's certificate: exit 2, says what")
    rc, out, err = run(none, "--ads")
    check(rc == 1 and "has no ads:" in err and out == "", "no ads: in the configuration: exit 1, nothing printed")

    rc, out, err = run(unix, "--grpc")
    check(rc == 0, "--grpc exits 0")
    g = json.loads(out)
    srv = g["xds_servers"][0]
    check(srv["server_uri"] == "unix:///run/fsxds/ads.sock" and srv["channel_creds"] == [{"type": "insecure"}] and
          srv["server_features"] == ["xds_v3"] and g["node"]["id"] == "edge-1", "gRPC's bootstrap over the socket")
    rc, out, err = run(tcp, "--grpc", "--cert", "/c/edge.pem", "--key", "/c/edge.key", "--ca", "/c/ca.pem")
    g = json.loads(out)
    creds = g["xds_servers"][0]["channel_creds"][0]
    check(rc == 0 and g["xds_servers"][0]["server_uri"] == "[::1]:18000" and creds["type"] == "tls" and
          creds["config"] == {"ca_certificate_file": "/c/ca.pem", "certificate_file": "/c/edge.pem",
                              "private_key_file": "/c/edge.key"}, "gRPC's bootstrap over TCP with TLS")
    print("%d failed" % len(FAILED))
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
