#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""fsxdsd's xDS server and a real proxyless gRPC client: grpc-js-xds
(@grpc/grpc-js-xds from the npm registry, installed by scripts/setup into
/var/cache/fsxds-test/node) bootstrapped at fsxdsd's ADS socket calls a
gRPC test server through xds:///svc. The call must resolve through
LDS -> RDS -> CDS -> EDS as fsxdsd serves them from an ordinary tree
(config sources left out: the daemon's ADS build wires them to ads: {}),
and follow an endpoint change made in the tree (server a's port -> server
b's). status.json then shows the four types ACKed by the client.

Skips, saying why, when node or the npm packages are missing."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import *  # noqa: E402,F401,F403
from ads import AdsEnv, type_status  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "ads"))
import grpcjs  # noqa: E402

NODE = "grpc-client"


def t_resolve_and_follow():
    problem = grpcjs.missing()
    if problem:
        raise Skip(problem)
    env = AdsEnv({})
    procs = []
    try:
        a = grpcjs.TestServer("a", env.root)
        procs.append(a)
        b = grpcjs.TestServer("b", env.root)
        procs.append(b)
        for rel, text in grpcjs.tree(NODE, a.port).items():
            env.write(rel, text)
        d = env.daemon()
        wait_until(lambda: os.path.exists(env.socket), "the ADS socket %s" % env.socket)
        c = grpcjs.Client(env.socket, NODE, env.root)
        procs.append(c)
        c.wait_backend("a")
        st = env.wait_ads(NODE, lambda x: all(type_status(x, t).get("acked") for t in ("LDS", "RDS", "CDS", "EDS")),
                          "LDS, RDS, CDS and EDS ACKed by grpc-js-xds")
        for t in ("LDS", "RDS", "CDS", "EDS"):
            ts = type_status(st, t)
            expect(not ts.get("nacked"), "grpc-js-xds NACKed %s: %s", t, ts.get("nack_message"))
        # the endpoint moves to server b in the tree
        mark = d.mark()
        mv_write(env, "nodes/%s/eds.yaml" % NODE, grpcjs.y_endpoints(b.port))
        d.wait_rebuild(mark)
        seen = c.wait_backend("b")
        # and stays there
        for _ in range(5):
            v = c.next(what="a call after the move to b")
            expect(v.get("ok") and v.get("backend") == "b", "a call after the move to b: %r (before: %r)", v,
                   seen[-5:])
        d.stop()
    finally:
        for p in procs:
            p.stop()


def main():
    r = Runner("ads-grpcjs")
    r.run("grpc-js-xds", t_resolve_and_follow)
    r.finish()


if __name__ == "__main__":
    main()
