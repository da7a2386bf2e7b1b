# SPDX-License-Identifier: MIT
"""The fault suite, area "sources": the source tree as hostile input
(issue 12, defects 3 and 12).

A hostile entry in common/ or in a node (a symlink loop, a link out of
source_dir, a dangling link, a FIFO, a socket or a device with a source
name, a name that is not UTF-8, a path longer than PATH_MAX) is an error
of the node whose scope holds it (of every node, in common/), naming the
entry, in status.json and in STATUS=: the daemon stays up, the other nodes
go on (an edit of beta is published), the affected node keeps its last
good output, and once the entry is removed the node recovers with no other
change. A tree with a loop at start publishes beta in full (no tree taken
for empty), `fsxds check` names the same entries, and a link to a secret
file outside the tree is refused without any of its bytes in the journal
or status.json; a file that is not UTF-8 is not quoted at all, and a
garbage file inside the tree is quoted by one short excerpt only.
"""
import os
import shutil
import socket
import stat
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'integration', 'daemon'))
from harness import *  # noqa: E402,F403

SECRET = "SECRETHASHxyzzy"
SHADOW = "".join("user%d:$6$%s%d$abcdefghijklmnopqrstuvwxyz0123456789:19000:0:99999:7:::\n" % (i, SECRET, i)
                 for i in range(5))


def tree():
    t = base_tree()
    # a second file in alpha: the node's own output does not depend on it
    t["nodes/alpha/extra.yaml"] = y_docs(y_cluster("alpha_extra"), y_cla("alpha_extra", [("10.2.0.1", 80)]))
    return t


def hostile(env, kind, where):
    """Creates a hostile entry in where (a dir relative to src); returns its
    path relative to src, as the daemon names it."""
    d = env.path(where)
    if kind == "loop":
        os.symlink(".", os.path.join(d, "self"))
        return where + "/self"
    if kind == "loop-up":
        os.symlink("..", os.path.join(d, "up"))
        return where + "/up"
    if kind == "self-link":
        os.symlink("me.yaml", os.path.join(d, "me.yaml"))
        return where + "/me.yaml"
    if kind == "link-out":
        secret = os.path.join(env.root, "shadow")
        write(secret, SHADOW)
        os.symlink(secret, os.path.join(d, "x.json"))
        return where + "/x.json"
    if kind == "link-out-dotdot":
        os.symlink("../" * (where.count("/") + 2) + "shadow-dir", os.path.join(d, "outdir"))
        os.makedirs(os.path.join(env.root, "shadow-dir"), exist_ok=True)
        write(os.path.join(env.root, "shadow-dir", "s.yaml"), SHADOW)
        return where + "/outdir"
    if kind == "dangling":
        os.symlink("nowhere.yaml", os.path.join(d, "gone.yaml"))
        return where + "/gone.yaml"
    if kind == "fifo":
        os.mkfifo(os.path.join(d, "f.yaml"))
        return where + "/f.yaml"
    if kind == "socket":
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(os.path.join(d, "s.yaml"))
        s.close()
        return where + "/s.yaml"
    if kind == "device":
        os.mknod(os.path.join(d, "dev.yaml"), stat.S_IFCHR | 0o600, os.makedev(1, 3))
        return where + "/dev.yaml"
    if kind == "non-utf8":
        with open(os.path.join(os.fsencode(d), b"bad\xff.yaml"), "w") as f:
            f.write(y_cluster("never_read"))
        return where + "/bad\\xff.yaml"
    if kind == "too-long":
        # a chain of directories whose path passes PATH_MAX (4096)
        fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
        name = "d" * 250
        for _ in range(18):
            os.mkdir(name, dir_fd=fd)
            nfd = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = nfd
        os.close(fd)
        return where + "/" + name
    raise ValueError(kind)


def remove(env, rel):
    p = os.path.join(env.src, rel.replace("\\xff", "\udcff"))
    if os.path.islink(p) or not os.path.isdir(p):
        os.unlink(p)
    else:
        shutil.rmtree(p)


def node_error(st, node):
    return (st["nodes"].get(node) or {}).get("error")


def check_secret_absent(env, d):
    text = d.log_text() + read_bytes(os.path.join(env.out, ".fsxds", "status.json")).decode("utf-8")
    expect(SECRET not in text, "a line of the secret file is in the journal or status.json")


def scenario(env, d, kind, where, affected, others, beta_port):
    """One hostile entry in where: affected nodes fail naming it and keep
    their output; the others go on; removed, everything recovers."""
    before = {n: contents(snapshot(env.node_dir(n))) for n in affected}
    mark = d.mark()
    rel = hostile(env, kind, where)
    path = os.path.join(env.src, rel)
    d.wait_rebuild(mark)  # every kind wakes a rebuild of its own, loops included
    # a rebuild may have come from a part of the change; wait for the error
    st = wait_until(lambda: all(node_error(env.status(), n) for n in affected) and env.status(),
                    "an error of %s for %s" % (", ".join(affected), kind))
    for n in affected:
        err = node_error(st, n)
        # (a path past PATH_MAX is named where it first fails, below the entry)
        expect(err["file"] == path or err["file"].startswith(path + "/"),
               "%s: node %s's error names %r, not the entry %r (%s)", kind, n, err["file"][:300], path[:300],
               err["message"])
        expect_eq(contents(snapshot(env.node_dir(n))), before[n], "%s: node %s's last good output" % (kind, n))
    expect(d.alive(), "fsxdsd %s after %s", d.exit_text(), kind)
    for n in others:
        expect(node_error(st, n) is None, "%s in %s: node %s has an error: %s", kind, where, n, node_error(st, n))
    # the rest of the tree goes on: an edit of beta is published (or, when
    # beta is affected, not published but named)
    lds_path = os.path.join(env.node_dir("beta"), "lds", "lds.pb")
    lds_before = read_bytes(lds_path)
    mark = d.mark()
    env.write("nodes/beta/config.yaml", y_simple("web", beta_port, "beta_backend", "10.1.0.1", 80))
    st = d.wait_rebuild(mark)[1]
    if "beta" not in affected:
        expect(node_error(st, "beta") is None, "%s: beta fails: %s", kind, node_error(st, "beta"))
        expect(read_bytes(lds_path) != lds_before, "%s in %s: an edit of beta is not published", kind, where)
    else:
        expect(node_error(st, "beta") is not None, "%s: beta's error is gone while the entry is there", kind)
        expect(read_bytes(lds_path) == lds_before, "%s: beta published while common/ has a bad entry", kind)
    check_secret_absent(env, d)
    mark = d.mark()
    remove(env, rel)
    # its removal wakes a rebuild of its own too (a link whose name is no
    # source name: the watch noted it as a second path to a directory)
    d.wait_rebuild(mark)
    st = wait_until(lambda: not any(node_error(env.status(), n) for n in affected + others) and env.status(),
                    "recovery after removing %s" % kind)
    expect(d.alive(), "fsxdsd %s", d.exit_text())
    return st


KINDS_NODE = ["loop", "loop-up", "self-link", "link-out", "link-out-dotdot", "dangling", "fifo", "socket",
              "device", "non-utf8", "too-long"]
KINDS_COMMON = ["loop", "link-out", "fifo", "non-utf8"]


def t_entries(watch, mode, kinds_node, kinds_common):
    env = Env(watch=watch, mode=mode, tree=tree(), settle="0.1s")
    d = env.daemon()
    port = 11000
    for kind in kinds_node:
        if kind == "device" and os.geteuid() != 0:
            print("  (device node: skipped, mknod needs root)")
            continue
        port += 1
        scenario(env, d, kind, "nodes/alpha", ["alpha"], ["beta"], port)
    for kind in kinds_common:
        port += 1
        scenario(env, d, kind, "common", ["alpha", "beta"], [], port)
    d.stop()
    env.assert_equals_compile(["alpha", "beta"])


def t_loop_at_start(watch, mode):
    """Defect 3: a loop present at start is alpha's error; beta is built
    from its own files (its listener), not from a tree taken for empty."""
    env = Env(watch=watch, mode=mode, tree=tree(), settle="0.1s")
    os.symlink(".", env.path("nodes/alpha/self"))
    d = env.daemon()
    st = env.status()
    expect(node_error(st, "alpha") is not None, "alpha has no error with a loop in it")
    expect_in("nodes/alpha/self", node_error(st, "alpha")["file"], "alpha's error")
    expect(node_error(st, "beta") is None, "beta fails: %s", node_error(st, "beta"))
    expect_eq(st["nodes"]["beta"]["listeners"], 1, "beta's listeners")
    names = response_names(read_bytes(os.path.join(env.node_dir("beta"), "lds", "lds.pb")))
    expect_eq(names, ["web"], "beta's lds.pb")
    # later edits of nodes sorted after alpha are published
    lds_path = os.path.join(env.node_dir("beta"), "lds", "lds.pb")
    lds_before = read_bytes(lds_path)
    mark = d.mark()
    env.write("nodes/beta/config.yaml", y_simple("web", 10009, "beta_backend", "10.1.0.1", 80))
    st = d.wait_rebuild(mark)[1]
    expect(node_error(st, "beta") is None, "beta fails after an edit: %s", node_error(st, "beta"))
    expect(read_bytes(lds_path) != lds_before, "an edit of beta is not published")
    mark = d.mark()
    os.unlink(env.path("nodes/alpha/self"))  # a loop present at start: its removal wakes a rebuild
    d.wait_rebuild(mark)
    wait_until(lambda: node_error(env.status(), "alpha") is None, "alpha's recovery")
    d.stop()
    env.assert_equals_compile(["alpha", "beta"])


def read_bytes(p):
    with open(p, "rb") as f:
        return f.read()


def t_check_cli():
    """fsxds check names the same entries as errors, in the node or common."""
    env = Env(tree=tree())
    rels = [hostile(env, k, "nodes/alpha") for k in ("loop", "link-out", "dangling", "fifo", "non-utf8")]
    rels.append(hostile(env, "loop-up", "common"))
    p = env.fsxds("check", env.src, expect=1)
    for rel in rels:
        expect_in("%s/%s: error:" % (env.src, rel), p.stdout, "fsxds check's output")
    expect(SECRET not in p.stdout + p.stderr, "fsxds check quotes the secret file")
    expect_in("common: 1 error", p.stdout, "fsxds check's common group")


def t_quotes():
    """Defect 12: what a diagnostic may quote of a file."""
    env = Env(tree=tree(), settle="0.1s")
    d = env.daemon()
    mark = d.mark()
    # a garbage file inside the tree: one short excerpt of its first line
    env.write("common/garbage.json", SHADOW)
    d.wait_rebuild(mark)
    st = wait_until(lambda: node_error(env.status(), "alpha") and env.status(), "garbage's error")
    err = node_error(st, "alpha")
    expect_in("garbage.json", err["file"], "the error's file")
    for i in range(1, 5):
        expect("%s%d" % (SECRET, i) not in d.log_text() + read_bytes(os.path.join(env.out, ".fsxds", "status.json")).decode("utf-8"),
               "line %d of a garbage file is quoted", i + 1)
    expect(len(err["message"]) < 300, "the error quotes too much: %r", err["message"])
    # a file that is not UTF-8: nothing of it quoted
    mark = d.mark()
    os.unlink(env.path("common/garbage.json"))
    with open(env.path("common/bin.yaml"), "wb") as f:
        f.write(b"resources:\n- \"@type\": NOTUTF8SECRET_a\n- \"@type\": NOTUTF8SECRET_b\n" + b"x" * 5000 + b"\xff\n")
    d.wait_rebuild(mark)
    st = wait_until(lambda: node_error(env.status(), "alpha") and "bin.yaml" in node_error(env.status(), "alpha")["file"]
                    and env.status(), "bin.yaml's error")
    expect_in("UTF-8", node_error(st, "alpha")["message"], "the error of a file that is not UTF-8")
    expect("NOTUTF8SECRET" not in d.log_text() + read_bytes(os.path.join(env.out, ".fsxds", "status.json")).decode("utf-8"),
           "a file that is not UTF-8 is quoted")
    d.stop()


def main():
    r = Runner("sources")
    first = True
    for w, m in r.combos():
        if first:
            r.run("hostile entries (%s, %s)" % (w, m), t_entries, w, m, KINDS_NODE, KINDS_COMMON)
            first = False
        else:
            r.run("hostile entries (%s, %s)" % (w, m), t_entries, w, m, ["loop", "link-out", "fifo"], ["loop"])
    for w in BACKENDS:
        r.run("a loop at start empties no node (%s)" % w, t_loop_at_start, w, "rename")
    r.run("fsxds check names the entries", t_check_cli)
    r.run("diagnostics quote excerpts only", t_quotes)
    r.finish()


main()
