# SPDX-License-Identifier: MIT
"""Nodes: an id listed only in the config's nodes: gets common/ only
(byte-identical to `fsxds compile --node` of it); a node directory removed
from the tree keeps its output untouched until `fsxds forget` removes it
(refused while the node is still in the tree or in nodes:), and comes back
when its directory does; many nodes on the first start and nodes appearing
while the daemon runs are all published. Both watch backends, both publish
modes."""
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import *  # noqa: E402,F401,F403


def t_config_and_removed_nodes(watch, mode):
    env = Env(watch, mode, tree=base_tree(), nodes=["gamma"])
    d = env.daemon()
    st = env.status()
    expect_eq(sorted(st["nodes"]), ["alpha", "beta", "gamma"], "status.json nodes")
    expect_eq(node_files(env.node_dir("gamma")), ["cds/cds.pb", "eds/shared.pb", "lds/lds.pb"], "gamma's files")
    expect_eq(response_names(read(os.path.join(env.node_dir("gamma"), "cds/cds.pb"))), ["shared"], "gamma's clusters")
    expect_eq(response_names(read(os.path.join(env.node_dir("gamma"), "lds/lds.pb"))), [], "gamma's listeners")
    expect_eq(st["nodes"]["gamma"]["listeners"], 0, "gamma's listener count")

    # forget is refused while a node is in the tree or in nodes:
    p = env.fsxds("forget", "beta", "--config", env.config_path, expect=1)
    expect_in("nodes/beta", p.stderr, "fsxds forget beta while nodes/beta exists")
    env.fsxds("forget", "gamma", "--config", env.config_path, expect=1)
    expect(os.path.isdir(env.node_dir("beta")) and os.path.isdir(env.node_dir("gamma")), "a refused forget removed output")

    # beta leaves the tree: its output stays as it was
    beta = snapshot(env.node_dir("beta"))
    g0 = st["generation"]
    mark = d.mark()
    shutil.rmtree(env.path("nodes/beta"))
    _, st = d.wait_rebuild(mark)
    expect_eq(st["nodes"]["beta"]["present"], False, "beta's present in status.json")
    expect_eq(st["generation"], g0, "generation after a node left")
    diff = diff_snapshots(beta, snapshot(env.node_dir("beta")), "all")
    expect(not diff, "beta's output changed after it left the tree: %s", diff)
    # a common/ change reaches the others, not beta
    mark = d.mark()
    env.write("common/eds.yaml", y_cla("shared", [("10.0.0.1", 8333)]))
    st = d.wait_generation(mark, g0 + 1)
    expect_in("port_value: 8333", decode(os.path.join(env.node_dir("gamma"), "eds/shared.pb")), "gamma's endpoints")
    diff = diff_snapshots(beta, snapshot(env.node_dir("beta")), "all")
    expect(not diff, "a common/ change reached beta after it left the tree: %s", diff)
    d.stop()
    env.assert_equals_compile(["alpha", "gamma"])

    # fsxds forget removes its output and its state; beta coming back is built afresh
    d = env.daemon()
    p = env.fsxds("forget", "beta", "--config", env.config_path)
    expect(not os.path.exists(env.node_dir("beta")), "out/beta still exists after fsxds forget")
    expect(not os.path.exists(os.path.join(env.state, "nodes", "beta")), "state/nodes/beta exists after forget")
    mark = d.mark()
    tree = base_tree()
    env.write("nodes/beta/config.yaml", tree["nodes/beta/config.yaml"])
    st = d.wait_generation(mark, env.status()["generation"] + 1)
    expect(st["nodes"]["beta"]["present"] and st["nodes"]["beta"]["error"] is None, "beta: %r", st["nodes"]["beta"])
    d.stop()
    env.assert_equals_compile(["alpha", "beta", "gamma"])


def node_tree(ids, port=8000):
    t = {"common/cds.yaml": y_cluster("shared"), "common/eds.yaml": y_cla("shared", [("10.0.0.1", port)])}
    for i, n in enumerate(ids):
        t["nodes/%s/lds.yaml" % n] = y_docs(y_listener("l_" + n, 20000 + i, "r_" + n), y_routes("r_" + n, [("/", "shared")]))
    return t


def t_many_nodes(watch, mode):
    first = ["n%02d" % i for i in range(12)]
    env = Env(watch, mode, tree=node_tree(first), nodes=["cfg1", "cfg2"])
    d = env.daemon()
    st = env.status()
    expect_eq(sorted(st["nodes"]), sorted(first + ["cfg1", "cfg2"]), "nodes on the first start")
    for n in first:
        expect_eq(st["nodes"][n]["generation"], 1, "%s's generation" % n)
    # twelve more appear while it runs, one directory at a time
    more = ["m%02d" % i for i in range(12)]
    mark = d.mark()
    for rel, text in node_tree(more).items():
        if rel.startswith("nodes/"):
            env.write(rel, text)
    st = d.wait_generation(mark, 2)
    st = d.barrier("common/cds.yaml")
    expect_eq(sorted(st["nodes"]), sorted(first + more + ["cfg1", "cfg2"]), "nodes after more appeared")
    for n in st["nodes"]:
        expect(st["nodes"][n]["error"] is None, "%s: %r", n, st["nodes"][n]["error"])
    d.stop()
    env.assert_equals_compile(first + more + ["cfg1", "cfg2"])


def t_host_address(watch, mode):
    """Two nodes whose listeners bind one address: each node is valid on
    its own, so both publish, and the daemon warns (with both ends) that
    one of the two Envoys will fail to bind it."""
    env = Env(watch, mode, tree=base_tree())
    d = env.daemon()
    g0 = env.status()["generation"]
    mark = d.mark()
    # alpha's listener l0 binds 127.0.0.1:10000
    env.write("nodes/beta/dup.yaml", y_docs(y_listener("dup", 10000, "rb"), y_routes("rb", [("/", "beta_backend")])))
    st = d.wait_generation(mark, g0 + 1)
    expect(st["nodes"]["beta"]["error"] is None, "beta: %r", st["nodes"]["beta"])
    text = d.log_text()
    expect_in("[graph.host-address]", text, "the daemon's log")
    expect_in("node beta's listener \"dup\" binds tcp 127.0.0.1:10000, which node alpha's listener \"l0\" binds too", text,
              "the daemon's log")
    expect_in("nodes/alpha/lds.yaml:4:19)", text, "the other end's location")
    d.stop()


if __name__ == "__main__":
    r = Runner("daemon-nodes")
    for w, m in r.combos():
        r.run("config-and-removed-nodes[%s,%s]" % (w, m), t_config_and_removed_nodes, w, m)
        r.run("many-nodes[%s,%s]" % (w, m), t_many_nodes, w, m)
    r.run("host-address[inotify,rename]", t_host_address, "inotify", "rename")
    r.finish()
