# SPDX-License-Identifier: MIT
"""Incremental publishing equals a whole build (issue 13's acceptance test).

A source tree (common/, three node directories, two more nodes from the
config's nodes: that get common/ alone; EDS and STATIC clusters, their
ClusterLoadAssignments, route configurations naming clusters, listeners
with an HCM using RDS, a secret named by a TLS cluster) goes through a
random sequence of edits with a fixed seed: endpoints changed, clusters
with their endpoints added and removed (with every route naming them),
routes changed, node-local overrides of common resources added and
removed, files added, removed and renamed, listeners edited, and now and
then an edit that breaks a node (or, in common/, every node) followed by
its fix. Saves mix rename into place, write in place, delete and create,
and vim's backup rename. After most edits the test waits for the
rebuild's STATUS= (one in five lands while the rebuild of the one before
may run); every few edits, after a barrier (harness: Daemon.barrier), every
node directory is compared with a whole build: `fsxdsd --once` with the
same config (the same output_dir path: node files embed it) but a fresh
state_dir, run in a private mount namespace with a tmpfs over output_dir,
so the running daemon is not disturbed. Compared: the node directories
recursively (the ..data generation numbers aside), each file's bytes, the
MANIFEST as parsed JSON without generation and created_usec, and the
state_dir copy (files, bytes, its MANIFEST's list) against the output. A
broken node must keep its output byte for byte; the other nodes must
still equal the whole build. On a mismatch the seed, the edit's index,
the sequence so far and the differing paths are printed.

Environment: FSXDS_INCR_SEED (default 13), FSXDS_INCR_EDITS (default 200),
FSXDS_INCR_CHECK=1 (also run `fsxds check` on the tree after every edit:
a check of this generator, slow).
"""
import json
import os
import random
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import *  # noqa: E402,F401,F403

SEED = int(os.environ.get("FSXDS_INCR_SEED", "13"))
EDITS = int(os.environ.get("FSXDS_INCR_EDITS", "200"))
CHECK = bool(os.environ.get("FSXDS_INCR_CHECK"))
TREE_NODES = ["n1", "n2", "n3"]
CONFIG_NODES = ["edge1", "edge2"]
NODES = TREE_NODES + CONFIG_NODES
SCOPES = ["common"] + TREE_NODES
PERMANENT = ("base0", "base1")  # common EDS clusters never removed: routes fall back to them
COMPARE_EVERY = 7  # edits between comparisons (and always after the last)

# ---------------------------------------------------------------- the model
#
# A tree is {rel: [resource]}; a resource is a dict with "t" (cluster, cla,
# routes, listener, secret) and "name". Within a scope (common/ or one
# node's directory) a (t, name) appears once; a node sees common's
# resources with its own replacing those of the same (t, name).


def r_cluster(name, kind="EDS", timeout="1s", endpoints=None, secret=None):
    return {"t": "cluster", "name": name, "kind": kind, "timeout": timeout,
            "endpoints": endpoints or [("10.9.0.1", 80)], "secret": secret}


def r_cla(name, endpoints):
    return {"t": "cla", "name": name, "endpoints": list(endpoints)}


def r_routes(name, routes):
    return {"t": "routes", "name": name, "routes": list(routes)}


def r_listener(name, port, rc):
    return {"t": "listener", "name": name, "port": port, "rc": rc, "prefix": name}


def r_secret(name, path):
    return {"t": "secret", "name": name, "path": path}


def render(r):
    t = r["t"]
    if t == "cluster":
        if r["kind"] == "EDS":
            s = y_cluster(r["name"], r["timeout"])
        else:
            s = ('"@type": type.googleapis.com/envoy.config.cluster.v3.Cluster\n'
                 "name: %s\nconnect_timeout: %s\ntype: STATIC\nlb_policy: ROUND_ROBIN\n"
                 "load_assignment:\n  cluster_name: %s\n  endpoints:\n  - lb_endpoints:\n"
                 % (r["name"], r["timeout"], r["name"]))
            for addr, port in r["endpoints"]:
                s += ("    - endpoint:\n        address:\n          socket_address: {address: %s, port_value: %d}\n"
                      % (addr, port))
        if r["secret"]:
            s += ("transport_socket:\n  name: envoy.transport_sockets.tls\n  typed_config:\n"
                  '    "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext\n'
                  "    common_tls_context:\n      tls_certificate_sds_secret_configs:\n      - name: %s\n"
                  % r["secret"])
        return s
    if t == "cla":
        return y_cla(r["name"], r["endpoints"])
    if t == "routes":
        return y_routes(r["name"], r["routes"])
    if t == "listener":
        return y_listener(r["name"], r["port"], r["rc"], r["prefix"])
    if t == "secret":
        return ('"@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret\n'
                "name: %s\ntls_certificate:\n  certificate_chain: {filename: %s.crt}\n"
                "  private_key: {filename: %s.key}\n" % (r["name"], r["path"], r["path"]))
    raise ValueError(t)


def render_file(resources):
    return y_docs(*[render(r) for r in resources])


def scope_of(rel):
    return "common" if rel.startswith("common/") else rel.split("/")[1]


def scope_dir(scope):
    return "common" if scope == "common" else "nodes/" + scope


def ep(rng):
    return ("10.%d.%d.%d" % (rng.randrange(256), rng.randrange(256), rng.randrange(1, 255)),
            rng.randrange(1, 65536))


class Model:
    def __init__(self, rng):
        self.rng = rng
        self.files = {}
        self.serial = 0
        c = self.files
        c["common/clusters.yaml"] = [r_cluster("base0"), r_cluster("base1"),
                                     r_cluster("st0", "STATIC", endpoints=[ep(rng), ep(rng)])]
        c["common/endpoints.yaml"] = [r_cla("base0", [ep(rng), ep(rng)]), r_cla("base1", [ep(rng)])]
        for i in range(6):
            c["common/svc/s%d.yaml" % i] = [r_cluster("s%d" % i), r_cla("s%d" % i, [ep(rng) for _ in range(1 + i % 3)])]
        c["common/tls.yaml"] = [r_secret("cert0", "/etc/certs/a"), r_cluster("tls0", secret="cert0"),
                                r_cla("tls0", [ep(rng)])]
        c["common/routes.yaml"] = [r_routes("rc_common", [("/s0", "s0"), ("/tls", "tls0"), ("/st", "st0"),
                                                          ("/", "base0")])]
        c["common/listener.yaml"] = [r_listener("lc", 10000, "rc_common")]
        for i, n in enumerate(TREE_NODES):
            d = "nodes/%s/" % n
            c[d + "lds.yaml"] = [r_listener("l_" + n, 11000 + i, "r_" + n)]
            c[d + "rds.yaml"] = [r_routes("r_" + n, [("/local", "loc_" + n), ("/s1", "s1"), ("/", "base1")])]
            c[d + "local.yaml"] = [r_cluster("loc_" + n), r_cla("loc_" + n, [ep(rng)])]
        c["nodes/n2/override.yaml"] = [r_cla("s2", [ep(rng)])]  # a node-local override from the start

    def fresh(self, prefix):
        self.serial += 1
        return "%s%d" % (prefix, self.serial)

    def scope_resources(self, scope):
        """{(t, name): (rel, resource)} of one scope."""
        out = {}
        for rel, rs in self.files.items():
            if scope_of(rel) == scope:
                for r in rs:
                    out[(r["t"], r["name"])] = (rel, r)
        return out

    def view(self, node):
        """What a node sees: {(t, name): resource}."""
        v = {k: r for k, (_, r) in self.scope_resources("common").items()}
        if node in TREE_NODES:
            v.update({k: r for k, (_, r) in self.scope_resources(node).items()})
        return v

    def problems(self):
        """What would make the tree invalid (the generator's own check)."""
        out = []
        for scope in SCOPES:
            seen = set()
            for rel, rs in self.files.items():
                if scope_of(rel) != scope:
                    continue
                for r in rs:
                    k = (r["t"], r["name"])
                    if k in seen:
                        out.append("%s: duplicate %r" % (scope, k))
                    seen.add(k)
        for n in NODES:
            v = self.view(n)
            ports = {}
            for (t, name), r in v.items():
                if t == "listener":
                    if ("routes", r["rc"]) not in v:
                        out.append("%s: listener %s names route config %s" % (n, name, r["rc"]))
                    if r["port"] in ports:
                        out.append("%s: port %d twice" % (n, r["port"]))
                    ports[r["port"]] = name
                elif t == "routes":
                    for _, cl in r["routes"]:
                        if ("cluster", cl) not in v:
                            out.append("%s: route config %s names cluster %s" % (n, name, cl))
                elif t == "cluster":
                    if r["kind"] == "EDS" and ("cla", name) not in v:
                        out.append("%s: EDS cluster %s has no endpoints" % (n, name))
                    if r["secret"] and ("secret", r["secret"]) not in v:
                        out.append("%s: cluster %s names secret %s" % (n, name, r["secret"]))
        return out

    def pick(self, pred, scopes=SCOPES):
        """A random (rel, index, resource) satisfying pred, or None."""
        cands = [(rel, i, r) for rel in sorted(self.files) if scope_of(rel) in scopes
                 for i, r in enumerate(self.files[rel]) if pred(r)]
        return self.rng.choice(cands) if cands else None

    def remove_cluster(self, scope, name):
        """Removes cluster name and its CLA from scope; when that leaves a
        node without the cluster, every route naming it in what that node
        sees goes too (a route config left empty routes / to base0)."""
        # from common/, the nodes' overrides of it go too (an EDS override
        # would be left without endpoints)
        for rel in list(self.files):
            if scope == "common" or scope_of(rel) == scope:
                self.files[rel] = [r for r in self.files[rel]
                                   if not (r["t"] in ("cluster", "cla") and r["name"] == name)]
                if not self.files[rel]:
                    del self.files[rel]
        for n in NODES:
            if ("cluster", name) in self.view(n):
                continue
            for rel, rs in self.files.items():
                if scope_of(rel) not in ("common", n):
                    continue
                for r in rs:
                    if r["t"] == "routes" and any(c == name for _, c in r["routes"]):
                        r["routes"] = [x for x in r["routes"] if x[1] != name] or [("/", "base0")]


# ---------------------------------------------------------------- edits


def edit_endpoint(m):
    x = m.pick(lambda r: r["t"] == "cla" or (r["t"] == "cluster" and r["kind"] == "STATIC"))
    rel, _, r = x
    eps = r["endpoints"]
    k = m.rng.randrange(len(eps))
    what = m.rng.choice(["port", "address", "add", "drop"] if len(eps) > 1 else ["port", "address", "add"])
    if what == "port":
        eps[k] = (eps[k][0], m.rng.randrange(1, 65536))
    elif what == "address":
        eps[k] = (ep(m.rng)[0], eps[k][1])
    elif what == "add":
        eps.append(ep(m.rng))
    else:
        del eps[k]
    return "endpoint %s %s/%s" % (what, rel, r["name"])


def edit_add_cluster(m):
    scope = m.rng.choice(SCOPES)
    name = m.fresh("c")
    kind = m.rng.choice(["EDS", "EDS", "STATIC"])
    new = [r_cluster(name, kind, endpoints=[ep(m.rng)])]
    if kind == "EDS":
        new.append(r_cla(name, [ep(m.rng) for _ in range(m.rng.randrange(1, 4))]))
    existing = [rel for rel in sorted(m.files) if scope_of(rel) == scope]
    if m.rng.random() < 0.5 or not existing:
        rel = "%s/%s/%s.yaml" % (scope_dir(scope), m.rng.choice(["svc", "more", "svc/deep"]), name)
        m.files[rel] = new
    else:
        rel = m.rng.choice(existing)
        m.files[rel] = m.files[rel] + new
    if m.rng.random() < 0.7:  # and a route to it
        x = m.pick(lambda r: r["t"] == "routes", [scope])
        if x:
            x[2]["routes"].insert(0, ("/" + name, name))
    return "add %s cluster %s in %s" % (kind, name, rel)


def edit_remove_cluster(m):
    x = m.pick(lambda r: r["t"] == "cluster" and r["name"] not in PERMANENT)
    if not x:
        return None
    rel, _, r = x
    scope = scope_of(rel)
    m.remove_cluster(scope, r["name"])
    if r["secret"]:
        # its secret goes too when nothing else of the scope names it
        if not any(o["t"] == "cluster" and o["secret"] == r["secret"] for rs in m.files.values() for o in rs):
            for frel in list(m.files):
                if scope_of(frel) == scope:
                    m.files[frel] = [o for o in m.files[frel] if not (o["t"] == "secret" and o["name"] == r["secret"])]
                    if not m.files[frel]:
                        del m.files[frel]
    return "remove cluster %s from %s" % (r["name"], scope)


def visible_clusters(m, scope):
    """Clusters every node seeing scope's resources has."""
    nodes = NODES if scope == "common" else [scope]
    sets = [set(name for (t, name) in m.view(n) if t == "cluster") for n in nodes]
    return sorted(set.intersection(*sets))


def edit_route(m):
    rel, _, r = m.pick(lambda r: r["t"] == "routes")
    scope = scope_of(rel)
    routes = r["routes"]
    k = m.rng.randrange(len(routes))
    what = m.rng.choice(["target", "prefix", "add", "drop"] if len(routes) > 1 else ["target", "prefix", "add"])
    if what == "target":
        routes[k] = (routes[k][0], m.rng.choice(visible_clusters(m, scope)))
    elif what == "prefix":
        routes[k] = ("/p%d" % m.rng.randrange(1000), routes[k][1])
    elif what == "add":
        routes.insert(m.rng.randrange(len(routes) + 1), ("/a%d" % m.rng.randrange(1000),
                                                          m.rng.choice(visible_clusters(m, scope))))
    else:
        del routes[k]
    return "route %s %s/%s" % (what, rel, r["name"])


def edit_override(m):
    """Adds a node-local override of a common cluster, CLA, route config or
    listener, or removes one."""
    n = m.rng.choice(TREE_NODES)
    mine = m.scope_resources(n)
    common = m.scope_resources("common")
    overrides = [k for k in mine if k in common]
    if overrides and m.rng.random() < 0.45:
        k = m.rng.choice(sorted(overrides))
        rel, _ = mine[k]
        m.files[rel] = [r for r in m.files[rel] if (r["t"], r["name"]) != k]
        if not m.files[rel]:
            del m.files[rel]
        return "drop override %s %s in %s" % (k[0], k[1], n)
    cands = sorted(k for k in common if k not in mine and k[0] in ("cluster", "cla", "routes", "listener"))
    k = m.rng.choice(cands)
    r = json.loads(json.dumps(common[k][1]))
    for key in ("endpoints", "routes"):
        if key in r:
            r[key] = [tuple(x) for x in r[key]]
    if k[0] == "cluster":
        r["timeout"] = m.rng.choice(["2s", "3s", "0.5s"])
        if r["kind"] == "STATIC" or m.rng.random() < 0.3:
            r["kind"] = "STATIC"  # an EDS cluster turned STATIC here: its CLA goes unused (a warning)
            r["endpoints"] = [ep(m.rng)]
    elif k[0] == "cla":
        r["endpoints"] = [ep(m.rng)]
    elif k[0] == "routes":
        r["routes"] = [("/o%d" % m.rng.randrange(100), m.rng.choice(visible_clusters(m, n)))] + r["routes"]
    else:
        used = set(x["port"] for (t, _), x in m.view(n).items() if t == "listener")
        r["port"] = m.rng.choice([p for p in range(12000, 12100) if p not in used])
    rel = "nodes/%s/override-%s-%s.yaml" % (n, k[0], k[1])
    if rel in m.files:
        m.files[rel].append(r)
    else:
        m.files[rel] = [r]
    return "override %s %s in %s" % (k[0], k[1], n)


def edit_add_file(m):
    scope = m.rng.choice(SCOPES)
    name = m.fresh("f")
    rel = "%s/%s.yaml" % (scope_dir(scope), name)
    m.files[rel] = [r_cluster(name, "STATIC", endpoints=[ep(m.rng) for _ in range(m.rng.randrange(1, 3))])]
    return "add file %s" % rel


def edit_remove_file(m):
    """Removes a file holding only clusters and CLAs (none permanent): its
    clusters go as edit_remove_cluster's do, a CLA's cluster with it."""
    cands = [rel for rel in sorted(m.files)
             if all(r["t"] in ("cluster", "cla") and r["name"] not in PERMANENT for r in m.files[rel])]
    if not cands:
        return None
    rel = m.rng.choice(cands)
    scope = scope_of(rel)
    for name in sorted(set(r["name"] for r in m.files[rel])):
        m.remove_cluster(scope, name)
    m.files.pop(rel, None)
    return "remove file %s" % rel


def edit_rename_file(m):
    rel = m.rng.choice(sorted(m.files))
    scope = scope_of(rel)
    new = "%s/%s/%s.yaml" % (scope_dir(scope), m.rng.choice(["moved", "svc", "z"]), m.fresh("r"))
    m.files[new] = m.files.pop(rel)
    return ("rename", rel, new)


def edit_listener(m):
    n = m.rng.choice(TREE_NODES)
    rel, _, r = m.pick(lambda r: r["t"] == "listener", [n])
    what = m.rng.choice(["port", "stat_prefix", "rds"])
    if what == "port":
        used = set(x["port"] for (t, _), x in m.view(n).items() if t == "listener")
        r["port"] = m.rng.choice([p for p in range(11000, 11100) if p not in used])
    elif what == "stat_prefix":
        r["prefix"] = "sp%d" % m.rng.randrange(1000)
    else:
        rcs = sorted(name for (t, name) in m.view(n) if t == "routes")
        r["rc"] = m.rng.choice(rcs)
    return "listener %s %s/%s" % (what, rel, r["name"])


def edit_secret(m):
    x = m.pick(lambda r: r["t"] == "secret")
    if x and m.rng.random() < 0.5:
        rel, _, r = x
        r["path"] = "/etc/certs/p%d" % m.rng.randrange(1000)
        return "secret path %s/%s" % (rel, r["name"])
    # TLS on or off for a common EDS cluster (cert0 lives in common/)
    x = m.pick(lambda r: r["t"] == "cluster" and r["name"] not in PERMANENT, ["common"])
    if not x or not m.pick(lambda r: r["t"] == "secret" and r["name"] == "cert0", ["common"]):
        return None
    rel, _, r = x
    r["secret"] = None if r["secret"] else "cert0"
    return "tls %s %s/%s" % ("on" if r["secret"] else "off", rel, r["name"])


EDIT_KINDS = [(edit_endpoint, 6), (edit_add_cluster, 3), (edit_remove_cluster, 3), (edit_route, 4),
              (edit_override, 3), (edit_add_file, 2), (edit_remove_file, 2), (edit_rename_file, 2),
              (edit_listener, 2), (edit_secret, 1)]

BREAKS = {
    "syntax": "---\nname: [unclosed\n",
    "range": y_cla("broken_cla", [("10.0.0.9", 70000)]),
    "dangling": y_routes("broken_rc", [("/", "no_such_cluster")]),
}


# ---------------------------------------------------------------- the tree on disk


class Disk:
    """Writes the model to src/ with a random save style per file."""

    def __init__(self, env, rng):
        self.env = env
        self.rng = rng
        self.written = {}  # rel -> text on disk
        self.raw = {}  # rel -> text that replaces the rendering (a deliberate break)

    def text(self, m, rel):
        return self.raw.get(rel, render_file(m.files[rel]) if rel in m.files else None)

    def put(self, rel, text):
        p = self.env.path(rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        style = self.rng.choice(["rename", "rename", "inplace", "recreate", "backup"]) \
            if rel in self.written else self.rng.choice(["rename", "create"])
        if style == "rename":
            tmp = os.path.join(os.path.dirname(p), ".%s.tmp" % os.path.basename(p))
            write(tmp, text)
            os.rename(tmp, p)
        elif style == "recreate":
            os.unlink(p)
            write(p, text)
        elif style == "backup":  # vim with backupcopy=no
            os.rename(p, p + "~")
            write(p, text)
            os.unlink(p + "~")
        else:  # create, inplace: open(O_TRUNC) and write
            write(p, text)
        self.written[rel] = text
        return style

    def sync(self, m):
        """Makes src/ what the model (and the raw overrides) say; returns the
        save styles used."""
        styles = []
        for rel in sorted(set(self.written) - set(m.files) - set(self.raw)):
            os.unlink(self.env.path(rel))
            del self.written[rel]
            styles.append("rm")
        for rel in sorted(set(m.files) | set(self.raw)):
            t = self.text(m, rel)
            if self.written.get(rel) != t:
                styles.append(self.put(rel, t))
        return styles

    def rename(self, old, new):
        p = self.env.path(new)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        os.rename(self.env.path(old), p)
        self.written[new] = self.written.pop(old)


# ---------------------------------------------------------------- comparison

GEN = re.compile(r"\.\.gen-[0-9]+")


def walk(d):
    """{relative path: ("link", target) | ("file", bytes)} of everything
    under d but MANIFEST and MANIFEST.sig at its top (directories only
    through what they hold: the daemon keeps a type directory it emptied,
    a whole build makes none), with the
    ..gen-<N> numbers replaced by N (a whole build numbers them 1); a
    second generation directory where one is expected shows as a
    "..gen-N#2" entry."""
    out = {}
    for root, dirs, files in os.walk(d):
        for name in sorted(dirs) + sorted(files):
            p = os.path.join(root, name)
            rel = os.path.relpath(p, d)
            if rel in ("MANIFEST", "MANIFEST.sig"):
                continue
            key = GEN.sub("..gen-N", rel)
            while key in out:
                key += "#2"
            if os.path.islink(p):
                out[key] = ("link", GEN.sub("..gen-N", os.readlink(p)))
            elif not os.path.isdir(p):
                out[key] = ("file", read(p))
    # a type emptied in watched_directory mode keeps its ..data (to an
    # empty generation): a type a whole build does not make
    for key in [k for k in out if k.endswith("/..data")]:
        t = key.split("/")[0]
        if not any(k.startswith(t + "/") and out[k][0] == "file" for k in out):
            del out[key]
    return out


def manifest(d):
    p = os.path.join(d, "MANIFEST")
    if not os.path.exists(p):
        return None
    with open(p, "rb") as f:
        return json.loads(f.read())


def manifest_diffs(got, want, what):
    """Differences of two parsed MANIFESTs, generation and created_usec
    aside."""
    if got is None or want is None:
        return ["%s: MANIFEST %s" % (what, "missing" if got is None else "missing in the whole build")] \
            if got != want else []
    g = dict(got)
    w = dict(want)
    out = []
    for k in ("generation", "created_usec"):
        g.pop(k, None)
        w.pop(k, None)
    gf = {f["path"]: f for f in g.pop("files", [])}
    wf = {f["path"]: f for f in w.pop("files", [])}
    # (the ..data of a type emptied in watched_directory mode: see walk())
    g["data_links"] = {t: GEN.sub("..gen-N", v) for t, v in g.get("data_links", {}).items()
                       if any(p.startswith(t + "/") for p in gf)}
    w["data_links"] = {t: GEN.sub("..gen-N", v) for t, v in w.get("data_links", {}).items()
                       if any(p.startswith(t + "/") for p in wf)}
    for path in sorted(set(gf) | set(wf)):
        if gf.get(path) != wf.get(path):
            out.append("%s: MANIFEST's entry for %s: %s, whole build's %s" %
                       (what, path, json.dumps(gf.get(path)), json.dumps(wf.get(path))))
    for k in sorted(set(g) | set(w)):
        if g.get(k) != w.get(k):
            out.append("%s: MANIFEST's %s: %s, whole build's %s" %
                       (what, k, json.dumps(g.get(k)), json.dumps(w.get(k))))
    return out


def tree_diffs(got, want, what, other="the whole build"):
    out = []
    for k in sorted(set(got) | set(want)):
        if k not in want:
            out.append("%s/%s: not in %s" % (what, k, other))
        elif k not in got:
            out.append("%s/%s: missing (in %s)" % (what, k, other))
        elif got[k] != want[k]:
            out.append("%s/%s: %s differ" % (what, k, "bytes" if got[k][0] == "file" else got[k][0] + "s"))
    return out


def state_diffs(env, n):
    """The state_dir copy of node n against its live output: the same
    files and bytes (followed through ..data), a MANIFEST listing the
    output's files, for the same generation."""
    out = []
    sd = os.path.join(env.state, "nodes", n)
    nd = env.node_dir(n)
    live = {rel: ("file", read(os.path.join(nd, rel))) for rel in node_files(nd)}
    copy = {k: v for k, v in walk(sd).items() if v[0] == "file"}
    out += tree_diffs(copy, live, "state/nodes/" + n, "the output")
    sm, om = manifest(sd), manifest(nd)
    if sm is None or om is None:
        return out + ["state/nodes/%s: MANIFEST missing in %s" % (n, "the copy" if sm is None else "the output")]
    # (a copy's MANIFEST leaves schema_sha256 empty: statedir_copy_manifest)
    for k in ("files", "generation", "node", "kind", "format"):
        if sm.get(k) != om.get(k):
            out.append("state/nodes/%s: MANIFEST's %s differs from the output's%s" %
                       (n, k, "" if k == "files" else ": %r, %r" % (sm.get(k), om.get(k))))
    return out


def whole_build(env, tag):
    """Runs `fsxdsd --once` of the same config with a fresh state_dir into
    the same output_dir path, in a private mount namespace with a tmpfs
    over that path (and one over its state_dir); returns (exit status, log, the copy of what it made)."""
    ref = os.path.join(env.root, "whole")
    state = os.path.join(env.root, "whole-state")
    shutil.rmtree(ref, ignore_errors=True)
    os.makedirs(ref)
    os.makedirs(state, exist_ok=True)  # a tmpfs is mounted on it (no syncfs)
    cfg = env.write_config(path=os.path.join(env.root, "whole.yaml"), state_dir=state)
    log = os.path.join(env.root, "whole.log")
    script = ('mount -t tmpfs -o mode=0755 fsxds-whole "$1" && mount -t tmpfs -o mode=0755 fsxds-whole "$6" '
              '|| exit 99\n'
              '"$2" --once --config "$3" >"$5" 2>&1\nrc=$?\ncp -a "$1"/. "$4"/ || exit 98\nexit $rc\n')
    argv = (["unshare", "-m"] if os.geteuid() == 0 else ["unshare", "-Urm"]) + \
        ["sh", "-c", script, "sh", env.out, FSXDSD, cfg, ref, log, state]
    p = subprocess.run(argv, capture_output=True, text=True)
    with open(log) as f:
        text = f.read()
    if SANITIZER.search(text):
        raise AssertionError("sanitizer reports in the whole build's log (%s):\n%s" % (tag, text[-3000:]))
    if p.returncode in (98, 99) or p.returncode not in (0, 1):
        raise AssertionError("the whole build (%s) failed: exit %d: %s%s\n%s" %
                             (tag, p.returncode, p.stderr, p.stdout, text[-3000:]))
    return p.returncode, text, ref


def namespaces_problem():
    """None when this test can mount a tmpfs in a private namespace."""
    if not shutil.which("unshare"):
        return "no unshare(1)"
    argv = ["unshare", "-m"] if os.geteuid() == 0 else ["unshare", "-Urm"]
    p = subprocess.run(argv + ["sh", "-c", "mount -t tmpfs x /mnt"], capture_output=True, text=True)
    if p.returncode != 0:
        return "%s cannot mount a tmpfs (needs root or unprivileged user namespaces): %s" % (
            " ".join(argv), p.stderr.strip())
    return None


# ---------------------------------------------------------------- the test


def t_incremental(watch, mode):
    problem = namespaces_problem()
    if problem:
        raise Skip(problem)
    rng = random.Random(SEED)
    m = Model(rng)
    assert not m.problems(), m.problems()
    env = Env(watch, mode, settle="0.02s", settle_max="1s", phase_pause="0s", nodes=CONFIG_NODES,
              max_removal=1.0, verify_interval="0s")
    disk = Disk(env, rng)
    os.makedirs(env.src)
    disk.sync(m)
    write(env.path("common/barrier.yaml"), render(r_cluster("barrier", "STATIC")))  # edits never touch it
    d = env.daemon()
    log = []  # what was done, in order
    compares = [0]

    def fail(i, problems):
        raise AssertionError(
            "incremental output differs from a whole build after edit %d of %d (seed %d, FSXDS_INCR_SEED=%d "
            "reproduces it; %s, %s):\n  %s\nedits so far:\n  %s" %
            (i, EDITS, SEED, SEED, watch, mode, "\n  ".join(problems[:40]), "\n  ".join(log)))

    def check_tree(i):
        if not CHECK:
            return
        p = env.fsxds("check", "--config", env.config_path, "--json", env.src, expect=None)
        errs = [dg for g in json.loads(p.stdout)["groups"] for dg in g["diagnostics"] if dg["level"] == "error"]
        if errs and not disk.raw:
            fail(i, ["generator made an invalid tree: %s" % json.dumps(errs[:3])])

    def compare(i, broken=None):
        """Every node equals the whole build, but those in broken ({node:
        walk() before the break}), which must be unchanged and in error."""
        broken = broken or {}
        d.barrier("common/barrier.yaml")
        compares[0] += 1
        st = env.status()
        rc, text, ref = whole_build(env, "after edit %d" % i)
        problems = []
        if rc != (1 if broken else 0):
            problems.append("fsxdsd --once exited %d%s" % (rc, "" if broken else ": " + text[-1500:]))
        want_nodes = sorted(n for n in os.listdir(ref) if not n.startswith("."))
        got_nodes = sorted(n for n in os.listdir(env.out) if not n.startswith("."))
        if got_nodes != sorted(NODES) or sorted(want_nodes + list(broken)) != sorted(NODES):
            problems.append("node directories: %r, whole build's %r (broken: %r)" % (got_nodes, want_nodes,
                                                                                  sorted(broken)))
        for n in NODES:
            err = st["nodes"].get(n, {}).get("error")
            if (err is not None) != (n in broken):
                problems.append("%s: status.json's error is %r" % (n, err))
            nd = env.node_dir(n)
            if n in broken:
                problems += tree_diffs(walk(nd), broken[n][0], n, "the output before the break")
                now = read(os.path.join(nd, "MANIFEST"))
                if now != broken[n][1]:
                    problems.append("%s/MANIFEST: changed while the node is broken: %s" %
                                    (n, "; ".join(manifest_diffs(json.loads(now), json.loads(broken[n][1]), n))
                                     or "only its generation or created_usec"))
            else:
                problems += tree_diffs(walk(nd), walk(os.path.join(ref, n)), n)
                problems += manifest_diffs(manifest(nd), manifest(os.path.join(ref, n)), n)
            problems += state_diffs(env, n)
        if problems:
            fail(i, problems)

    compare(0)
    i = 0
    while i < EDITS:
        i += 1
        if rng.random() < 0.06 and i + 1 < EDITS:
            # a break (a node's file or, now and then, common/'s) and its fix
            scope = rng.choice(SCOPES + TREE_NODES)
            rel = rng.choice(sorted(r for r in m.files if scope_of(r) == scope))
            kind = rng.choice(sorted(BREAKS))
            hit = NODES if scope == "common" else [scope]
            d.barrier("common/barrier.yaml")  # the edits before it are out
            before = {n: (walk(env.node_dir(n)), read(os.path.join(env.node_dir(n), "MANIFEST"))) for n in hit}
            disk.raw[rel] = render_file(m.files[rel]) + "---\n" + BREAKS[kind]
            mark = d.mark()
            styles = disk.sync(m)
            log.append("%d: break (%s) %s [%s]" % (i, kind, rel, ",".join(styles)))
            d.wait_rebuild(mark)
            check_tree(i)
            compare(i, before)
            if scope != "common" and rng.random() < 0.5:
                # meanwhile a change elsewhere: the others follow, the broken node stays
                i += 1
                desc = edit_endpoint(m)
                mark = d.mark()
                styles = disk.sync(m)
                log.append("%d: %s [%s] (while %s is broken)" % (i, desc, ",".join(styles), scope))
                if styles:  # not when it went to the broken file
                    d.wait_rebuild(mark)
                compare(i, before)
            i += 1
            del disk.raw[rel]
            mark = d.mark()
            styles = disk.sync(m)
            log.append("%d: fix %s [%s]" % (i, rel, ",".join(styles)))
            d.wait_rebuild(mark)
            compare(i)
            continue
        fn = rng.choices([f for f, _ in EDIT_KINDS], [w for _, w in EDIT_KINDS])[0]
        desc = fn(m)
        if desc is None:
            i -= 1
            continue
        probs = m.problems()
        if probs:  # the generator's own bug: say so, not "the daemon differs"
            raise AssertionError("seed %d, edit %d (%s) made the model invalid: %s" % (SEED, i, desc, probs))
        mark = d.mark()
        if isinstance(desc, tuple):
            _, old, new = desc
            disk.rename(old, new)
            desc, styles = "rename %s -> %s" % (old, new), ["mv"]
        else:
            styles = disk.sync(m)
        log.append("%d: %s [%s]" % (i, desc, ",".join(styles)))
        if not styles:
            log[-1] += " (no change on disk)"
            continue
        # one edit in five is not waited for: it lands while the rebuild of
        # the one before may be running
        if rng.random() < 0.8:
            d.wait_rebuild(mark)
        check_tree(i)
        if i % COMPARE_EVERY == 0 or i >= EDITS:
            compare(i)
    if i % COMPARE_EVERY:
        compare(i)
    d.stop()
    print("  seed %d: %d edits, %d comparisons with a whole build, generation %d" %
          (SEED, EDITS, compares[0], env.status()["generation"]), flush=True)


if __name__ == "__main__":
    r = Runner("daemon-incremental")
    # rename mode (the default) with both backends; watched_directory with
    # inotify only, to keep the whole run under a minute
    for w, mo in r.combos():
        if mo == "rename" or w == "inotify":
            r.run("incremental[%s,%s]" % (w, mo), t_incremental, w, mo)
    r.finish()
