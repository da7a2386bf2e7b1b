#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""The e2e suite's xDS client: one state-of-the-world ADS stream for a
node, the wildcard CDS it is sent, ACKed (then LDS, whose answer says the
ACK was read); prints {"clusters": [...],
"version": V} as one JSON line and exits 0, or prints the stream's gRPC
status and exits 1 (or prints every thread's stack and exits 1 after 60 s,
whatever grpc is doing). Runs on the host (Debian's python3-grpcio), reaching
the container's fsxdsd through /proc/LEADER/root/run/fsxds/ads.sock or
over TCP with a client certificate.

Usage: xds-client.py DESC TARGET NODE [CA CERT KEY]
"""
import faulthandler
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "ads"))
import exitnow  # noqa: E402
import xdsclient  # noqa: E402


def main():
    if len(sys.argv) not in (4, 7):
        sys.exit(__doc__)
    # Every wait below is bounded; should grpc itself ever block, say
    # where, and end.
    faulthandler.dump_traceback_later(60, exit=True)
    desc, target, node = sys.argv[1:4]
    tls = None
    if len(sys.argv) == 7:
        tls = {k: open(p, "rb").read() for k, p in zip(("ca", "cert", "key"), sys.argv[4:7])}
    x = xdsclient.Xds(desc)
    ch = x.channel(target, tls=tls)
    s = x.sotw(ch, node)
    s.subscribe("CDS")
    try:
        r = s.next("CDS", timeout=20, what="CDS for node %s" % node)
    except AssertionError as e:
        print(json.dumps({"error": str(e), "status": s.status_text()}))
        return 1
    s.ack(r)
    # the server reads a stream's requests in order: once the LDS request
    # after the ACK is answered, the ACK is in (and in fsxds status)
    s.subscribe("LDS")
    try:
        s.ack(s.next("LDS", timeout=20, what="LDS for node %s" % node))
    except AssertionError as e:
        print(json.dumps({"error": str(e), "status": s.status_text()}))
        return 1
    print(json.dumps({"clusters": sorted(r.names), "version": r.version}))
    s.close()
    ch.close()
    return 0


if __name__ == "__main__":
    # not sys.exit(): python3-grpcio can deadlock in the interpreter's
    # finalization (tests/ads/exitnow.py)
    try:
        rc = main()
    except BaseException:  # noqa: B036  (whatever it is: told, then the same exit)
        import traceback
        traceback.print_exc()
        rc = 1
    exitnow.exit_now(rc)
