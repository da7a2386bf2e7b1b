# SPDX-License-Identifier: MIT
"""What fsxdsd tells the operator matches what is true (issue 14, section 2):

- `fsxds status` says whether the fsxdsd that wrote status.json runs
  (its pid, checked live against /proc), how old the status is, and exits
  3 when it does not run: stopped cleanly, or killed;
- after a restart, PUBLISHED is the time the files in place were
  published (from their MANIFEST), not "-";
- problems of the tree as a whole (source_dir gone, nodes/ replaced by a
  file, a node directory made unreadable, a directory in nodes/ whose name
  is no node id) reach status.json, `fsxds status`, STATUS= and the log,
  naming the path, and clear when fixed; a chmod alone is noticed;
- the log tells a node's story: a line when it recovers, each "published
  generation" line names the changed files in the order of their phases
  and the phases, no line twice at debug level, no negative count, no
  stray ": :".
Both watch backends, rename mode."""
import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import *  # noqa: E402,F401,F403


def status_cli(env, expect_rc):
    return env.fsxds("status", "--config", env.config_path, expect=expect_rc).stdout


def published_cells(text):
    """{node: PUBLISHED cell} of `fsxds status`'s table."""
    cells = {}
    rows = text.splitlines()
    head = [i for i, r in enumerate(rows) if r.startswith("NODE ")]
    expect(head, "no table in fsxds status:\n%s", text)
    for r in rows[head[0] + 1:]:
        f = r.split()
        # NODE GENERATION date time FILES ... or NODE GENERATION - FILES ...
        cells[f[0]] = "-" if f[2] == "-" else f[2] + " " + f[3]
    return cells


def t_running(watch):
    env = Env(watch, tree=base_tree())
    d = env.daemon()
    text = status_cli(env, 0)
    expect_in("fsxdsd running (pid %d," % d.proc.pid, text, "fsxds status while fsxdsd runs")
    st = env.status()
    expect_eq(st["daemon"]["pid"], d.proc.pid, "status.json daemon.pid")
    expect(st["daemon"]["stopped_usec"] is None, "stopped_usec set while running: %r", st["daemon"])
    expect(st["written_usec"] >= st["time_usec"] > 0, "written_usec %r, time_usec %r", st["written_usec"],
           st["time_usec"])
    before = {n: v["published_usec"] for n, v in st["nodes"].items()}
    expect(all(v > 0 for v in before.values()), "published_usec not set: %r", before)
    cells = published_cells(text)

    # ---- a second fsxdsd on the same state_dir is refused, the first runs on
    second = Daemon(env).start(wait_ready=False)
    try:
        rc = second.proc.wait(timeout=WAIT)
    except subprocess.TimeoutExpired:
        second.kill9()
        raise AssertionError("a second fsxdsd on the same state_dir kept running")
    expect(rc != 0, "a second fsxdsd exited %d", rc)
    expect_in("another fsxdsd runs on %s" % env.state, second.log_text(), "the second fsxdsd's log")
    expect_in("fsxdsd running (pid %d," % d.proc.pid, status_cli(env, 0), "fsxds status after the second start")

    # ---- stopped cleanly: the last status says so (--json too, by its exit status)
    d.stop()
    text = status_cli(env, 3)
    expect_in("fsxdsd is NOT running: pid %d stopped at" % d.proc.pid, text, "fsxds status after SIGTERM")
    expect(env.status()["daemon"]["stopped_usec"] > 0, "no stopped_usec after SIGTERM")
    env.fsxds("status", "--config", env.config_path, "--json", expect=3)

    # ---- started again, before its first status: "starting", not "NOT running"
    # (a change while it was down and a long phase_pause keep the first rebuild busy)
    env.write_config(phase_pause="4s")
    mv_write(env, "nodes/beta/config.yaml", y_simple("web", 10001, "beta_backend2", "10.1.0.7", 80))  # 4 phases
    slow = env.daemon(start=False)
    slow.start(wait_ready=False)
    seen = wait_until(lambda: "fsxdsd running, starting: its first status is not written yet" in
                      env.fsxds("status", "--config", env.config_path, expect=None).stdout,
                      "fsxds status to say the restarted fsxdsd is starting")
    expect(seen, "never starting")
    slow.wait_ready()
    slow.stop()
    env.write_config(phase_pause="0.05s")

    # ---- restarted: PUBLISHED is when the files in place were published
    before = {n: v["published_usec"] for n, v in env.status()["nodes"].items()}
    cells = published_cells(status_cli(env, 3))
    d2 = env.daemon()
    st = env.status()
    after = {n: v["published_usec"] for n, v in st["nodes"].items()}
    expect_eq(after, before, "published_usec after a restart that published nothing")
    text = status_cli(env, 0)
    expect_in("fsxdsd running (pid %d," % d2.proc.pid, text, "fsxds status after the restart")
    expect_eq(published_cells(text), cells, "PUBLISHED after a restart")

    # ---- killed: the pid is gone
    d2.kill9()
    text = status_cli(env, 3)
    expect_in("fsxdsd is NOT running: pid %d" % d2.proc.pid, text, "fsxds status after SIGKILL")
    expect_in("is gone", text, "fsxds status after SIGKILL")


def t_tree(watch):
    env = Env(watch, tree=base_tree())
    d = env.daemon()
    good = {n: snapshot(env.node_dir(n)) for n in ("alpha", "beta")}

    def refused(why, where):
        mark = d.mark()
        where()
        _, st = d.wait_rebuild(mark)
        expect(st["source_error"] and env.src in st["source_error"] and why in st["source_error"],
               "status.json source_error %r, expected %r", st["source_error"], why)
        expect_in(why, last_status(d, mark), "STATUS=")
        expect_in("source tree REFUSED, every node keeps its last good output: ", status_cli(env, 0), "fsxds status")
        expect_in("%s: %s" % (env.src, why), d.log_text(), "the log")
        for n in good:
            diff = diff_snapshots(good[n], snapshot(env.node_dir(n)), "all")
            expect(not diff, "%s changed while the tree was refused: %s", n, diff)

    def cleared(fix):
        mark = d.mark()
        fix()
        _, st = d.wait_rebuild(mark)
        expect(st["source_error"] is None, "source_error after the fix: %r", st["source_error"])
        expect("REFUSED" not in status_cli(env, 0), "fsxds status still says REFUSED")

    away = env.src + ".away"
    refused("it does not exist", lambda: os.rename(env.src, away))
    cleared(lambda: os.rename(away, env.src))
    expect_in("the source tree %s can be read again" % env.src, d.log_text(), "the log")

    def nodes_file():
        os.rename(env.path("nodes"), env.path("nodes.away"))
        write(env.path("nodes"), "")

    def nodes_back():
        os.unlink(env.path("nodes"))
        os.rename(env.path("nodes.away"), env.path("nodes"))

    refused("nodes/ is not a directory", nodes_file)
    cleared(nodes_back)

    # ---- a directory in nodes/ whose name is no node id
    mark = d.mark()
    os.mkdir(env.path("nodes/bad name"))
    mv_write(env, "nodes/bad name/config.yaml", y_simple("web", 10009, "x", "10.9.0.1", 80))
    _, st = d.wait_rebuild(mark)
    bad = st["nodes"].get("bad name")
    expect(bad and bad["error"] and bad["error"]["file"] == env.path("nodes/bad name"),
           "status.json of the directory 'bad name': %r", bad)
    expect_in("not a node id", bad["error"]["message"], "its error")
    expect_in("%s: not a node id" % env.path("nodes/bad name"), last_status(d, mark), "STATUS=")
    expect_in("%s: not a node id" % env.path("nodes/bad name"), status_cli(env, 0), "fsxds status")
    expect_in("%s: not a node id" % env.path("nodes/bad name"), d.log_text(), "the log")
    mark = d.mark()
    shutil.rmtree(env.path("nodes/bad name"))
    _, st = d.wait_rebuild(mark)
    expect("bad name" not in st["nodes"], "'bad name' still in status.json")

    # ---- such a name may hold anything: escaped, one line, never raw
    mark = d.mark()
    os.mkdir(env.path("nodes/a\nb\x1b[31m"))
    _, st = d.wait_rebuild(mark)
    expect("a\\nb\\x1b[31m" in st["nodes"], "the escaped name is not in status.json: %r", list(st["nodes"]))
    log = d.log_text()
    expect_in("nodes/a\\nb\\x1b[31m: not a node id", log, "the log")
    expect("\x1b" not in log and not any(ln.startswith("b") for ln in log.splitlines()), "a raw name in the log:\n%s", log)
    os.rmdir(env.path("nodes/a\nb\x1b[31m"))

    # ---- a node that leaves the tree: said once; its output and its counts stay, after a restart too
    mark = d.mark()
    os.rename(env.path("nodes/beta"), os.path.join(env.root, "beta.away"))
    _, st = d.wait_rebuild(mark)
    expect(not st["nodes"]["beta"]["present"], "beta present after it left the tree")
    expect_eq(d.log_text().count("[beta] not in the tree any more: its output stays until fsxds forget beta"), 1,
              "lines saying beta left the tree")
    row = [r for r in status_cli(env, 0).splitlines() if r.startswith("beta ")]
    expect(row and "not in the tree" in row[0], "beta's row: %r", row)
    counts = [st["nodes"]["beta"][k] for k in ("files", "listeners", "clusters")]
    d.stop()
    d = env.daemon()
    st = env.status()
    expect_eq([st["nodes"]["beta"][k] for k in ("files", "listeners", "clusters")], counts,
              "beta's counts after a restart")
    os.rename(os.path.join(env.root, "beta.away"), env.path("nodes/beta"))
    log = d.log_text()
    expect(not re.search(r"-\d+ files", log), "a negative count in the log:\n%s", log)


class Undac(Daemon):
    """fsxdsd as root without CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH, as
    the packaged unit runs it (user fsxds): a mode of 000 keeps it out."""

    def argv(self):
        if os.geteuid() != 0:
            return super().argv()
        return ["setpriv", "--bounding-set=-dac_override,-dac_read_search"] + super().argv()


def t_unreadable(watch):
    env = Env(watch, tree=base_tree())
    d = Undac(env, debug=True).start()
    beta = env.path("nodes/beta")
    # ---- chmod alone (no other change in the tree) is noticed
    mark = d.mark()
    os.chmod(beta, 0)
    try:
        _, st = d.wait_rebuild(mark)
        err = st["nodes"]["beta"]["error"]
        expect(err and err["file"].rstrip("/") == beta and "Permission denied" in err["message"],
               "beta's error after chmod 000: %r", err)
        expect(st["nodes"]["alpha"]["error"] is None, "alpha has an error: %r", st["nodes"]["alpha"]["error"])
        expect_in(beta, last_status(d, mark), "STATUS=")
        text = status_cli(env, 0)
        row = [r for r in text.splitlines() if r.startswith("beta ")]
        expect(row and beta in row[0] and "Permission denied" in row[0], "beta's row in fsxds status:\n%s", text)
    finally:
        mark = d.mark()
        os.chmod(beta, 0o755)
    _, st = d.wait_rebuild(mark)
    expect(st["nodes"]["beta"]["error"] is None, "beta's error after chmod 755: %r", st["nodes"]["beta"]["error"])
    expect(re.search(r"\[beta\] recovered: ", d.log_text()), "no recovery line for beta:\n%s", d.log_text())


def t_journal(watch):
    env = Env(watch, tree=base_tree())
    d = env.daemon(debug=True)
    g = env.status()["generation"]

    # ---- one node, three types: named in the order of their phases
    mark = d.mark()
    write(env.path("nodes/alpha/.extra.tmp"), y_docs(y_cluster("c2"), y_cla("c2", [("10.2.0.1", 80)])))
    mv_write(env, "nodes/alpha/rds.yaml", y_routes("r0", [("/", "c2")]))
    os.rename(env.path("nodes/alpha/.extra.tmp"), env.path("nodes/alpha/extra.yaml"))
    st = d.wait_generation(mark, g + 1)
    g = st["generation"]
    line = [ln for ln in d.log_text().splitlines() if "published generation %d " % g in ln]
    expect_eq(len(line), 1, "'published generation %d' lines (debug level)" % g)
    m = re.search(r"\[alpha\] published generation %d \((\d+) changed files: (.*); phases (.*)\)$" % g, line[0])
    expect(m, "the line does not name files and phases: %s", line[0])
    files = m.group(2).split(", ")
    expect_eq(files, ["eds/c2.pb", "cds/cds.pb", "rds/r0.pb"], "files named, in phase order")
    expect_eq(m.group(3), "eds → cds → rds", "phases named")

    # ---- two nodes: one line naming each node's files, plus one per node at debug level
    mark = d.mark()
    mv_write(env, "common/eds.yaml", y_cla("shared", [("10.0.0.7", 8000)]))
    mv_write(env, "nodes/beta/config.yaml", y_simple("web", 10001, "beta_backend", "10.1.0.9", 80))
    st = d.wait_generation(mark, g + 1)
    g = st["generation"]
    lines = [ln for ln in d.log_text().splitlines() if "published generation %d " % g in ln]
    summary = [ln for ln in lines if " to 2 nodes " in ln]
    expect_eq(len(summary), 1, "summary lines of generation %d: %r" % (g, lines))
    expect_in("alpha/eds/shared.pb", summary[0], "the summary line")
    expect_in("beta/eds/beta_backend.pb", summary[0], "the summary line")
    expect_eq(sorted(re.findall(r"\[(\w+)\] published generation", "\n".join(lines))), ["alpha", "beta"],
              "per-node debug lines of generation %d" % g)

    # ---- the same error moved to another file is logged again, with its file
    mark = d.mark()
    mv_write(env, "nodes/alpha/broken.yaml", "virtual_hostz: []\n")
    d.wait_rebuild(mark)
    mark = d.mark()
    os.rename(env.path("nodes/alpha/broken.yaml"), env.path("nodes/alpha/broken2.yaml"))
    d.wait_rebuild(mark)
    expect_in(env.path("nodes/alpha/broken2.yaml"), d.log_text(), "the log after the broken file was renamed")
    mark = d.mark()
    os.unlink(env.path("nodes/alpha/broken2.yaml"))
    d.wait_rebuild(mark)

    # ---- an error, then the recovery
    mark = d.mark()
    mv_write(env, "nodes/alpha/rds.yaml", "virtual_hostz: []\n")
    _, st = d.wait_rebuild(mark)
    expect(st["nodes"]["alpha"]["error"], "alpha has no error")
    mark = d.mark()
    mv_write(env, "nodes/alpha/rds.yaml", y_routes("r0", [("/", "shared")]))
    d.wait_rebuild(mark)
    log = d.log_text()
    expect(re.search(r"\[alpha\] recovered: it builds without errors again; its build is published \(it had: .*"
                     r"virtual_hostz", log), "no recovery line:\n%s", log)

    # ---- a save of several events (create, write, close) is one "change:" line
    mark = d.mark()
    with open(env.path("nodes/alpha/extra2.yaml"), "w") as f:
        f.write(y_cluster("c3"))
        f.flush()
        os.fsync(f.fileno())
        f.write("\n")
    d.wait_rebuild(mark)
    log = d.log_text()
    expect_eq(log.count("change: nodes/alpha/extra2.yaml"), 1, "'change:' lines of one save")

    # ---- no line twice in a row, no negative count, no ": :"
    lines = log.splitlines()
    twice = [a for a, b in zip(lines, lines[1:]) if a == b]
    expect(not twice, "lines logged twice: %r", twice)
    expect(": :" not in log, "': :' in the log:\n%s", log)
    expect(": :" not in status_cli(env, 0), "': :' in fsxds status")


def main():
    r = Runner("truth")
    for w, _ in r.combos(modes=("rename",)):
        r.run("running-%s" % w, t_running, w)
        r.run("tree-%s" % w, t_tree, w)
        r.run("unreadable-%s" % w, t_unreadable, w)
        r.run("journal-%s" % w, t_journal, w)
    r.finish()


if __name__ == "__main__":
    main()
