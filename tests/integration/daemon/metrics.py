# SPDX-License-Identifier: MIT
"""metrics_file: fsxdsd's Prometheus text file (node_exporter's textfile
collector). Off by default; with it, every family is there from the start
and moves when it should: generation and files published after an edit,
errors by rule with the node's error count and failure time, its success
time after the fix, the watch backend (inotify, fanotify), overflow
rescans (the inotify queue shrunk to 16 events for the daemon's instance,
as overflow.py does), the stores' bytes and objects (equal to what is on
disk), MANIFEST verification failures after a published file is deleted,
the temporary name never *.prom (an inotify recorder on the directory),
a missing directory logged once while the daemon goes on publishing,
leftover temporary files removed at start, a reload that renames the file,
and the configuration's checks of the key. Every read of the file is
checked with `promtool check metrics` (from $FSXDS_PROMTOOL, PATH or
/var/cache/fsxds-test/promtool, where scripts/setup unpacks Debian's
prometheus package); without promtool the whole test is skipped (77)."""
import os
import re
import shutil
import signal
import stat
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import *  # noqa: E402,F401,F403

PROMTOOL_CACHE = "/var/cache/fsxds-test/promtool/usr/bin/promtool"
# the queue's sysctl, saved and restored (also at exit or a signal) as overflow.py does
from overflow import SYSCTL, _saved, restore_sysctl  # noqa: E402

FAMILIES = {
    "fsxds_build_info": "gauge",
    "fsxds_up": "gauge",
    "fsxds_start_time_seconds": "gauge",
    "fsxds_generation": "gauge",
    "fsxds_node_generation": "gauge",
    "fsxds_node_last_success_timestamp_seconds": "gauge",
    "fsxds_node_last_failure_timestamp_seconds": "gauge",
    "fsxds_node_errors": "gauge",
    "fsxds_node_files": "gauge",
    "fsxds_rebuild_duration_seconds": "histogram",
    "fsxds_files_published_total": "counter",
    "fsxds_publish_failures_total": "counter",
    "fsxds_errors_total": "counter",
    "fsxds_watch_backend": "gauge",
    "fsxds_watch_overflow_rescans_total": "counter",
    "fsxds_watch_unwatched_directories": "gauge",
    "fsxds_store_bytes": "gauge",
    "fsxds_store_objects": "gauge",
    "fsxds_manifest_verification_failures_total": "counter",
    "fsxds_verify_passes_total": "counter",
}


def find_promtool():
    for p in (os.environ.get("FSXDS_PROMTOOL"), shutil.which("promtool"), PROMTOOL_CACHE):
        if p and os.access(p, os.X_OK):
            return p
    return None


PROMTOOL = find_promtool()

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?')


class Metrics:
    """One read of the file: promtool-checked, then parsed."""

    def __init__(self, text):
        self.text = text
        self.types = {}
        self.helps = set()
        self.samples = {}
        for line in text.splitlines():
            if line.startswith("# TYPE "):
                _, _, name, typ = line.split(" ", 3)
                self.types[name] = typ
            elif line.startswith("# HELP "):
                self.helps.add(line.split(" ", 3)[2])
            elif line and not line.startswith("#"):
                m = SAMPLE.match(line)
                expect(m, "not a sample line: %r", line)
                labels = tuple(sorted(LABEL.findall(m.group(2) or "")))
                self.samples[(m.group(1), labels)] = float(m.group(3))

    def get(self, name, **labels):
        key = (name, tuple(sorted(labels.items())))
        expect(key in self.samples, "no sample %s%r in the metrics file:\n%s", name, labels, self.text)
        return self.samples[key]

    def has(self, name, **labels):
        return (name, tuple(sorted(labels.items()))) in self.samples

    def labels(self, name, label):
        return sorted(dict(k[1])[label] for k in self.samples if k[0] == name)


def read_metrics(path):
    with open(path) as f:
        text = f.read()
    p = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True, text=True)
    expect(p.returncode == 0 and not p.stdout.strip() and not p.stderr.strip(),
           "promtool check metrics: exit %d\n%s%s\nof:\n%s", p.returncode, p.stdout, p.stderr, text)
    return Metrics(text)


def metrics_env(watch="inotify", mode="rename", **config):
    env = Env(watch, mode, tree=base_tree(), **config)
    env.prom_dir = os.path.join(env.root, "textfile")
    os.makedirs(env.prom_dir)
    env.prom = os.path.join(env.prom_dir, "fsxds.prom")
    env.write_config(metrics_file=env.prom)
    return env


def wait_metrics(env, pred, what):
    """Reads (and checks) the file until pred(Metrics) holds."""
    def once():
        if not os.path.exists(env.prom):
            return None
        m = read_metrics(env.prom)
        return m if pred(m) else None
    return wait_until(once, what)


def store_on_disk(store):
    names = [n for n in os.listdir(store) if re.fullmatch(r"[0-9a-f]{64}", n)]
    return len(names), sum(os.lstat(os.path.join(store, n)).st_size for n in names)


def t_off():
    """No metrics_file: no file is written anywhere the test can see."""
    env = Env("inotify", "rename", tree=base_tree())
    d = env.daemon()
    mark = d.mark()
    env.write("common/eds.yaml", y_cla("shared", [("10.0.0.1", 8100)]))
    d.wait_rebuild(mark)
    d.stop()
    found = [os.path.join(dp, f) for dp, _, fs in os.walk(env.root) for f in fs if ".prom" in f]
    expect_eq(found, [], "files named *.prom* without metrics_file")


def t_families(watch):
    """Every family, with HELP and TYPE, right after READY; the values
    follow status.json; an edit moves the generation, the files published
    and the rebuild count; the last file says fsxds_up 0."""
    env = metrics_env(watch)
    d = env.daemon()
    m = read_metrics(env.prom)
    for name, typ in FAMILIES.items():
        expect_eq(m.types.get(name), typ, "TYPE of %s" % name)
        expect(name in m.helps, "no HELP for %s", name)
    st = env.status()
    expect_eq(m.get("fsxds_generation"), st["generation"], "fsxds_generation")
    expect_eq(m.labels("fsxds_node_generation", "node"), ["alpha", "beta"], "nodes")
    for n in ("alpha", "beta"):
        expect_eq(m.get("fsxds_node_generation", node=n), st["nodes"][n]["generation"], "%s's generation" % n)
        expect_eq(m.get("fsxds_node_files", node=n), st["nodes"][n]["files"], "%s's files" % n)
        expect_eq(m.get("fsxds_node_errors", node=n), 0, "%s's errors" % n)
        expect_eq(m.get("fsxds_node_last_failure_timestamp_seconds", node=n), 0, "%s's last failure" % n)
        expect(m.get("fsxds_node_last_success_timestamp_seconds", node=n) > 1e9, "%s's last success", n)
    expect_eq(m.get("fsxds_watch_backend", backend=watch), 1, "the watch backend")
    expect_eq(m.labels("fsxds_watch_backend", "backend"), [watch], "the watch backends")
    expect_eq(m.get("fsxds_up"), 1, "fsxds_up")
    expect(m.has("fsxds_build_info", version=m.labels("fsxds_build_info", "version")[0]), "build_info")
    expect_eq(m.get("fsxds_watch_unwatched_directories"), 0, "unwatched directories")
    expect(m.get("fsxds_files_published_total") > 0, "no files published at start")
    expect(m.get("fsxds_rebuild_duration_seconds_count") >= 1, "no rebuild counted")
    expect_eq(m.get("fsxds_rebuild_duration_seconds_bucket", le="+Inf"), m.get("fsxds_rebuild_duration_seconds_count"),
              "the +Inf bucket")
    mode = stat.S_IMODE(os.stat(env.prom).st_mode)
    expect_eq(oct(mode), oct(0o644), "the file's mode")

    g, files, rebuilds = m.get("fsxds_generation"), m.get("fsxds_files_published_total"), \
        m.get("fsxds_rebuild_duration_seconds_count")
    mark = d.mark()
    env.write("common/eds.yaml", y_cla("shared", [("10.0.0.1", 8101)]))
    d.wait_generation(mark, g + 1)
    m = read_metrics(env.prom)
    expect_eq(m.get("fsxds_generation"), g + 1, "fsxds_generation after an edit")
    expect_eq(m.get("fsxds_node_generation", node="alpha"), g + 1, "alpha's generation after an edit")
    expect_eq(m.get("fsxds_files_published_total"), files + 2, "files published after an edit (eds/shared.pb of 2 nodes)")
    expect(m.get("fsxds_rebuild_duration_seconds_count") >= rebuilds + 1, "no rebuild counted after an edit")
    buckets = [v for (n, l), v in sorted(m.samples.items()) if n == "fsxds_rebuild_duration_seconds_bucket"]
    expect_eq(len(buckets), 14, "histogram buckets (1 ms to 10 s, +Inf)")
    d.stop()
    m = read_metrics(env.prom)
    expect_eq(m.get("fsxds_up"), 0, "fsxds_up after a clean stop")


def t_errors():
    """A broken field: fsxds_errors_total{rule} with the rule status.json
    names, the node's error count and failure time; the fix: no errors,
    its success time after the failure."""
    env = metrics_env()
    d = env.daemon()
    rule = "validate.uint32.lte"
    expect(not read_metrics(env.prom).has("fsxds_errors_total", rule=rule), "an error counted before any")
    mark = d.mark()
    env.write("nodes/alpha/eds.yaml", y_cla("alpha_extra", [("10.0.0.7", 70000)]))
    _, st = d.wait_rebuild(mark)
    expect_eq(st["nodes"]["alpha"]["error"]["rule"], rule, "the rule in status.json")
    m = read_metrics(env.prom)
    expect_eq(m.get("fsxds_errors_total", rule=rule), 1, "errors of rule %s" % rule)
    expect_eq(m.get("fsxds_node_errors", node="alpha"), st["nodes"]["alpha"]["error"]["count"], "alpha's errors")
    expect_eq(m.get("fsxds_node_errors", node="beta"), 0, "beta's errors")
    failed = m.get("fsxds_node_last_failure_timestamp_seconds", node="alpha")
    expect(failed > 1e9, "alpha's last failure is %r", failed)
    expect(m.get("fsxds_node_last_success_timestamp_seconds", node="alpha") < failed, "alpha's success after its failure")
    # the same error again (another file touched): logged once, counted once
    mark = d.mark()
    env.write("common/eds.yaml", y_cla("shared", [("10.0.0.1", 8102)]))
    d.wait_rebuild(mark)
    expect_eq(read_metrics(env.prom).get("fsxds_errors_total", rule=rule), 1, "errors of an unchanged set")
    mark = d.mark()
    os.unlink(env.path("nodes/alpha/eds.yaml"))
    d.wait_rebuild(mark)
    m = read_metrics(env.prom)
    expect_eq(m.get("fsxds_node_errors", node="alpha"), 0, "alpha's errors after the fix")
    expect(m.get("fsxds_node_last_success_timestamp_seconds", node="alpha") >= failed, "alpha's success after the fix")
    expect_eq(m.get("fsxds_errors_total", rule=rule), 1, "errors of rule %s after the fix" % rule)
    d.stop()


def t_overflow():
    """The daemon's inotify queue overflowed (16 events, SIGSTOP while 64
    events come): fsxds_watch_overflow_rescans_total goes up."""
    if not os.access(SYSCTL, os.W_OK):
        raise Skip("%s is not writable (needs root)" % SYSCTL)
    env = metrics_env(settle="0.2s")
    with open(SYSCTL) as f:
        _saved.append(f.read().strip())
    try:
        with open(SYSCTL, "w") as f:
            f.write("16")
        d = env.daemon()  # its inotify instance keeps the limit it was created with
    finally:
        restore_sysctl()
    expect_eq(read_metrics(env.prom).get("fsxds_watch_overflow_rescans_total"), 0, "overflow rescans at start")
    os.kill(d.proc.pid, signal.SIGSTOP)
    try:
        for i in range(64):
            write(env.path("common/.filler%d" % i), "x")
    finally:
        os.kill(d.proc.pid, signal.SIGCONT)
    m = wait_metrics(env, lambda m: m.get("fsxds_watch_overflow_rescans_total") >= 1, "an overflow rescan counted")
    d.stop()


def store_check(env, what):
    """The store gauges are what is on disk, for both stores."""
    m = read_metrics(env.prom)
    for label, path in (("output", os.path.join(env.out, ".store")),
                        ("state", os.path.join(env.state, "nodes", ".store"))):
        expect_eq((m.get("fsxds_store_objects", store=label), m.get("fsxds_store_bytes", store=label)),
                  store_on_disk(path), "%s store's objects and bytes %s" % (label, what))
    return m


def t_store():
    """The stores' objects and bytes are what is on disk, and follow a new
    file and its removal (collected; history: 0, since history keeps the
    objects of the generations it holds: see t_store_history)."""
    env = metrics_env(history=0)
    d = env.daemon()

    def check(what):
        return store_check(env, what)

    m0 = check("at start")
    mark = d.mark()
    g = env.status()["generation"]
    env.write("nodes/alpha/extra.yaml", y_docs(y_cluster("extra"), y_cla("extra", [("10.9.0.1", 9000)])))
    d.wait_generation(mark, g + 1)
    m1 = check("after a new cluster")
    expect(m1.get("fsxds_store_objects", store="output") > m0.get("fsxds_store_objects", store="output"),
           "the output store did not grow")
    mark = d.mark()
    os.unlink(env.path("nodes/alpha/extra.yaml"))
    d.wait_generation(mark, g + 2)
    m2 = check("after its removal")
    expect(m2.get("fsxds_store_objects", store="output") < m1.get("fsxds_store_objects", store="output"),
           "the output store did not shrink")
    expect(m2.get("fsxds_store_bytes", store="state") < m1.get("fsxds_store_bytes", store="state"),
           "the state store did not shrink")
    d.stop()


def t_store_history():
    """With history (the default, 10), a file a generation removes stays in
    the state store, which its history entry links, and leaves the output
    store; the gauges are still what is on disk."""
    env = metrics_env()
    d = env.daemon()

    def check(what):
        return store_check(env, what)

    mark = d.mark()
    g = env.status()["generation"]
    env.write("nodes/alpha/extra.yaml", y_docs(y_cluster("extra"), y_cla("extra", [("10.9.0.1", 9000)])))
    d.wait_generation(mark, g + 1)
    m1 = check("after a new cluster")
    mark = d.mark()
    os.unlink(env.path("nodes/alpha/extra.yaml"))
    d.wait_generation(mark, g + 2)
    m2 = check("after its removal")
    expect(m2.get("fsxds_store_objects", store="output") < m1.get("fsxds_store_objects", store="output"),
           "the output store did not shrink")
    expect(m2.get("fsxds_store_objects", store="state") >= m1.get("fsxds_store_objects", store="state"),
           "the state store dropped objects history holds")
    d.stop()


def t_verification():
    """A published file deleted: the next verification pass counts the node
    in fsxds_manifest_verification_failures_total and publishes it again."""
    env = metrics_env(verify_interval="0.5s")
    d = env.daemon()
    m = read_metrics(env.prom)
    expect_eq(m.get("fsxds_manifest_verification_failures_total"), 0, "verification failures at start")
    passes = m.get("fsxds_verify_passes_total")
    lds = os.path.join(env.node_dir("alpha"), "lds", "lds.pb")
    os.unlink(lds)
    m = wait_metrics(env, lambda m: m.get("fsxds_manifest_verification_failures_total") >= 1 and
                     m.get("fsxds_verify_passes_total") >= passes + 2, "a verification failure counted")
    expect_eq(m.get("fsxds_manifest_verification_failures_total"), 1, "verification failures of one altered node")
    expect(os.path.exists(lds), "alpha's lds.pb not published again")
    d.stop()


def t_tmpname():
    """Rewrites go through a temporary name that is not *.prom, renamed
    over fsxds.prom; a leftover temporary file of ours is removed at
    start, another one's is not."""
    env = metrics_env()
    ours = os.path.join(env.prom_dir, ".fsxds.prom.0123456789abcdef.tmp")
    theirs = os.path.join(env.prom_dir, ".other.prom.0123456789abcdef.tmp")
    write(ours, "x")
    write(theirs, "x")
    rec = InotifyRecorder(IN_CREATE | IN_MOVED_FROM | IN_MOVED_TO | IN_DELETE)
    rec.add(env.prom_dir, "textfile")
    try:
        d = env.daemon()
        for port in (8103, 8104):
            mark = d.mark()
            env.write("common/eds.yaml", y_cla("shared", [("10.0.0.1", port)]))
            d.wait_rebuild(mark)
        read_metrics(env.prom)
        d.stop()
        rec.wait(lambda e: e[2] & IN_MOVED_TO and e[3] == "fsxds.prom", what="fsxds.prom renamed into place")
        events = rec.snapshot()
    finally:
        rec.close()
    made = [e[3] for e in events if e[2] & (IN_CREATE | IN_MOVED_FROM)]
    expect(len(made) >= 4, "fewer writes than expected: %r", events)
    for name in made:
        expect(not name.endswith(".prom"), "temporary name %r ends in .prom", name)
        expect(name.startswith(".fsxds.prom.") and name.endswith(".tmp"), "temporary name %r", name)
    expect_eq({e[3] for e in events if e[2] & IN_MOVED_TO}, {"fsxds.prom"}, "names renamed to")
    expect(not os.path.exists(ours), "our leftover temporary file not removed")
    expect(os.path.exists(theirs), "another program's temporary file removed")
    expect_eq(sorted(os.listdir(env.prom_dir)), sorted(["fsxds.prom", os.path.basename(theirs)]), "the directory")


def t_unwritable():
    """metrics_file in a directory that is missing: logged once while it
    lasts, the daemon starts and publishes; once the directory is there,
    the next write makes the file and says so."""
    env = metrics_env()
    os.rmdir(env.prom_dir)
    d = env.daemon()
    for port in (8105, 8106):
        mark = d.mark()
        g = env.status()["generation"]
        env.write("common/eds.yaml", y_cla("shared", [("10.0.0.1", port)]))
        d.wait_generation(mark, g + 1)
    expect_in("port_value: 8106", decode(os.path.join(env.node_dir("beta"), "eds/shared.pb")), "beta's endpoints")
    expect_eq(d.log_text().count("cannot write metrics_file %s" % env.prom), 1, "failures logged")
    os.makedirs(env.prom_dir)
    mark = d.mark()
    env.write("common/eds.yaml", y_cla("shared", [("10.0.0.1", 8107)]))
    d.wait_rebuild(mark)
    m = read_metrics(env.prom)
    expect_eq(m.get("fsxds_generation"), env.status()["generation"], "fsxds_generation once written")
    expect_in("metrics_file %s is written again" % env.prom, d.log_text(), "the log")
    d.stop()


def t_reload():
    """SIGHUP with metrics_file renamed: the old file is removed, the new
    one written; without the key, no file."""
    env = metrics_env()
    d = env.daemon()
    old = env.prom
    env.prom = os.path.join(env.prom_dir, "renamed.prom")
    env.write_config(metrics_file=env.prom)
    mark = d.mark()
    d.sighup()
    d.wait_ready(mark)
    wait_until(lambda: os.path.exists(env.prom), "the renamed metrics_file")
    read_metrics(env.prom)
    expect(not os.path.exists(old), "the former metrics_file is still there")
    env.write_config(metrics_file=None)
    mark = d.mark()
    d.sighup()
    d.wait_ready(mark)
    d.barrier("common/cds.yaml", single=True)
    expect_eq(os.listdir(env.prom_dir), [], "the directory after metrics_file was removed")
    d.stop()


def t_config():
    """The key's checks: an absolute path whose name ends in .prom; each
    error at its line and column."""
    env = Env("inotify", "rename")
    cases = [
        ("metrics.txt", '"%s/metrics.txt"' % env.root, "expected a file name ending in .prom"),
        ("relative", '"textfile/fsxds.prom"', 'expected an absolute path, got "textfile/fsxds.prom"'),
        ("empty", '""', "expected a non-empty string"),
    ]
    for what, value, message in cases:
        env.write_config()
        with open(env.config_path, "a") as f:
            f.write("metrics_file: %s\n" % value)
        line = len(open(env.config_path).read().splitlines())
        p = subprocess.run([FSXDSD, "--config", env.config_path, "--check-config"], capture_output=True, text=True)
        expect(p.returncode != 0, "%s: --check-config exit 0", what)
        expect_in("%s:%d:15: error: metrics_file: %s" % (env.config_path, line, message), p.stderr, what)
    env.write_config(metrics_file=os.path.join(env.root, "x.prom"))
    p = subprocess.run([FSXDSD, "--config", env.config_path, "--check-config"], capture_output=True, text=True)
    expect_eq(p.returncode, 0, "--check-config with a good metrics_file: %s" % p.stderr)


if __name__ == "__main__":
    if not PROMTOOL:
        print("SKIP: no promtool (FSXDS_PROMTOOL, PATH, %s): scripts/setup unpacks it from Debian's prometheus package"
              % PROMTOOL_CACHE, flush=True)
        sys.exit(77)
    r = Runner("daemon-metrics")
    r.run("off-by-default", t_off)
    for w in BACKENDS:
        r.run("families[%s]" % w, t_families, w)
    r.run("errors-by-rule", t_errors)
    r.run("overflow-rescans", t_overflow)
    r.run("store-size", t_store)
    r.run("store-size-history", t_store_history)
    r.run("verification-failures", t_verification)
    r.run("temporary-name", t_tmpname)
    r.run("unwritable-directory", t_unwritable)
    r.run("reload", t_reload)
    r.run("config", t_config)
    r.finish()
