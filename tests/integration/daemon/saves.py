# SPDX-License-Identifier: MIT
"""Editor and tool save patterns against a running fsxdsd: each save
settles into exactly one new generation whose published bytes hold the
final content; edits that are no source change (editor droppings, *.txt,
dotfiles, dot-directories, invalid node ids (an error naming each, nothing built), a rewrite with the same bytes)
change no output byte, no inode, no mtime and no generation (most do not
even cause a rebuild). Both watch backends, both publish modes; at the end
the output is byte-identical to `fsxds compile --node` of the final tree.
Deployments that swap the whole tree (source_dir replaced by rename, a
symlinked source_dir switched, the ..data switch of Kubernetes volumes) and
settle_max under edits that never pause run once per backend."""
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import *  # noqa: E402,F401,F403

NODES = ["alpha", "beta"]
EDS = "common/eds.yaml"


def eds_text(port):
    return y_cla("shared", [("10.0.0.1", port)])


def current_port(env):
    text = open(env.path(EDS)).read()
    return int(text.split("port_value: ")[1].split("}")[0])


def expect_port(env, port):
    for n in NODES:
        text = decode(os.path.join(env.node_dir(n), "eds/shared.pb"))
        expect_in("port_value: %d" % port, text, "%s/eds/shared.pb after the save" % n)


SETTLE = 0.4
STEP = 0.03  # between the steps of one save, as an editor's fsync takes; far below settle


def step():
    time.sleep(STEP)


class Saves:
    """One daemon per backend × mode; each save is one test. The steps of a
    save are STEP apart (what an fsync costs an editor), so a daemon that
    does not wait for the settle time publishes the steps in between."""

    def __init__(self, watch, mode):
        self.env = Env(watch, mode, tree=base_tree(), settle="%gs" % SETTLE)
        self.d = self.env.daemon()
        self.gen = self.env.status()["generation"]
        self.scratch = os.path.join(self.env.root, "scratch")
        os.makedirs(self.scratch)

    def one_save(self, save, check):
        """save() is one save; check() looks at the result. Exactly one new
        generation, and none since the previous save settled."""
        env, d = self.env, self.d
        g0 = env.status()["generation"]
        if g0 != self.gen:
            late, self.gen = self.gen, g0
            raise AssertionError("generation %d before this save, %d after the previous one settled (a late "
                                 "generation of the previous save?)" % (g0, late))
        mark = d.mark()
        save()
        st = d.wait_generation(mark, g0 + 1)
        self.gen = st["generation"]
        check()
        expect_eq(st["generation"], g0 + 1, "generation after one save (one rebuild)")
        for n in NODES:
            expect(st["nodes"][n]["error"] is None, "%s: error %r", n, st["nodes"][n]["error"])

    def port_save(self, save):
        port = current_port(self.env) + 1
        self.one_save(lambda: save(self.env.path(EDS), eds_text(port)), lambda: expect_port(self.env, port))

    # ---- the patterns: save(path, new_text)

    def mv_tmp(self, path, text):
        tmp = os.path.join(os.path.dirname(path), ".eds.yaml.tmp")
        write(tmp, text)
        subprocess.run(["mv", tmp, path], check=True)

    def mv_from_elsewhere(self, path, text):
        tmp = os.path.join(self.scratch, "eds.yaml")
        write(tmp, text)
        subprocess.run(["mv", tmp, path], check=True)

    def cp_over(self, path, text):
        tmp = os.path.join(self.scratch, "new.yaml")
        write(tmp, text)
        subprocess.run(["cp", tmp, path], check=True)

    def sed_i(self, path, text):
        old = current_port(self.env)
        new = int(text.split("port_value: ")[1].split("}")[0])
        subprocess.run(["sed", "-i", "s/port_value: %d}/port_value: %d}/" % (old, new), path], check=True)

    def vim_backup(self, path, text):
        # vim's default on Linux (backupcopy=auto → "no" for a plain file):
        # probe 4913, swap file, rename to the backup, write anew, drop the backup
        dirname, base = os.path.split(path)
        swp = os.path.join(dirname, "." + base + ".swp")
        write(swp, "swap")
        probe = os.path.join(dirname, "4913")
        write(probe, "")
        os.unlink(probe)
        os.rename(path, path + "~")
        step()
        write(path, text)
        step()
        os.unlink(path + "~")
        os.unlink(swp)

    def vim_nobackup(self, path, text):
        # backupcopy=yes / nowritebackup: truncate and rewrite in place
        dirname, base = os.path.split(path)
        swp = os.path.join(dirname, "." + base + ".swp")
        write(swp, "swap")
        probe = os.path.join(dirname, "4913")
        write(probe, "")
        os.unlink(probe)
        with open(path, "w") as f:
            f.flush()
            step()
            f.write(text[:20])
            f.flush()
            step()
            f.write(text[20:])
        os.unlink(swp)

    def emacs(self, path, text):
        dirname, base = os.path.split(path)
        lock = os.path.join(dirname, ".#" + base)
        os.symlink("user@host.1234:1700000000", lock)
        auto = os.path.join(dirname, "#" + base + "#")
        write(auto, text)
        os.rename(path, path + "~")
        step()
        write(path, text)
        os.unlink(auto)
        os.unlink(lock)
        os.unlink(path + "~")

    def truncate_then_write(self, path, text):
        os.truncate(path, 0)
        step()
        with open(path, "r+") as f:
            f.write(text)

    def truncate_close_write(self, path, text):
        # two opens: an empty file is closed (a valid, empty source) before the write
        open(path, "w").close()
        step()
        with open(path, "a") as f:
            f.write(text)

    def delete_then_create(self, path, text):
        os.unlink(path)
        step()
        write(path, text)

    # ---- directory-level saves

    def dir_rename(self):
        env = self.env
        a, tmp = env.path("nodes/alpha"), env.path("nodes/alpha.tmp")

        def save():
            os.rename(a, tmp)
            step()
            write(os.path.join(tmp, "rds.yaml"), y_routes("r0", [("/renamed", "shared")]))
            step()
            os.rename(tmp, a)

        def check():
            text = decode(os.path.join(env.node_dir("alpha"), "rds/r0.pb"))
            expect_in('prefix: "/renamed"', text, "alpha/rds/r0.pb")
            expect(not os.path.exists(env.node_dir("alpha.tmp")), "a node alpha.tmp was published")
        self.one_save(save, check)

    def common_replaced(self):
        env = self.env
        port = current_port(env) + 1
        new, old = env.path("common.new"), env.path("common.old")

        def save():
            shutil.copytree(env.path("common"), new)
            write(os.path.join(new, "eds.yaml"), eds_text(port))
            os.rename(env.path("common"), old)
            step()
            os.rename(new, env.path("common"))
            shutil.rmtree(old)
        self.one_save(save, lambda: expect_port(env, port))

    def common_exchanged(self):
        env = self.env
        port = current_port(env) + 1
        new = env.path(".common.next")

        def save():
            shutil.copytree(env.path("common"), new)
            write(os.path.join(new, "eds.yaml"), eds_text(port))
            renameat2_exchange(new, env.path("common"))
            shutil.rmtree(new)
        self.one_save(save, lambda: expect_port(env, port))

    def new_subdirectory(self):
        env = self.env

        def save():
            write(env.path("common/deep/er/extra.yaml"),
                  y_docs(y_cluster("extra"), y_cla("extra", [("10.9.9.9", 9)])))

        def check():
            for n in NODES:
                names = response_names(read(os.path.join(env.node_dir(n), "cds/cds.pb")))
                expect_in("extra", names, "%s's clusters" % n)
                expect_in("eds/extra.pb", node_files(env.node_dir(n)), "%s's files" % n)
        self.one_save(save, check)

    def subdirectory_removed(self):
        env = self.env

        def check():
            for n in NODES:
                names = response_names(read(os.path.join(env.node_dir(n), "cds/cds.pb")))
                expect("extra" not in names, "%s still has cluster extra", n)
                expect("eds/extra.pb" not in node_files(env.node_dir(n)), "%s still has eds/extra.pb", n)
        self.one_save(lambda: shutil.rmtree(env.path("common/deep")), check)

    # ---- edits that are no source change

    def unrelated(self, name, edit, quiet=False):
        """quiet: the edit must not even cause a rebuild (the watch ignores
        it): after twice the settle time only the barrier's rebuild comes."""
        env, d = self.env, self.d
        before = {n: snapshot(env.node_dir(n)) for n in NODES}
        g0 = env.status()["generation"]
        mark = d.mark()
        edit()
        if quiet:
            time.sleep(2 * SETTLE)
        st = d.barrier("common/cds.yaml", single=True)  # the previous save has settled
        if quiet:
            rebuilds = [m["STATUS"] for m in d.notify.since(mark) if "STATUS" in m]
            expect_eq(len(rebuilds), 1, "rebuilds after %s and the barrier (%r)" % (name, rebuilds))
        for n in NODES:
            diff = diff_snapshots(before[n], snapshot(env.node_dir(n)), "all")
            expect(not diff, "%s changed %s's output: %s", name, n, diff)
        expect_eq(st["generation"], g0, "generation after %s" % name)
        # directories in nodes/ that are no node id: not built, an error
        # naming each (issue 12, defect 7)
        bad = [".hidden", "bad id"] if name == "invalid_node_dirs" else []
        expect_eq(sorted(st["nodes"]), sorted(NODES + bad), "nodes after %s" % name)
        for b in bad:
            err = st["nodes"][b]["error"]
            expect(err is not None and err["file"] == env.path("nodes/" + b) and "not a node id" in err["message"],
                   "no error naming nodes/%s after %s: %r", b, name, err)
        expect_eq(sorted(os.listdir(env.out)), sorted([".fsxds", ".store"] + NODES),
                  "output_dir entries after %s" % name)

    def droppings(self):
        env = self.env
        c = env.path("common")
        write(os.path.join(c, "eds.yaml~"), "garbage: [")
        write(os.path.join(c, ".eds.yaml.swp"), "garbage: [")
        write(os.path.join(c, ".eds.yaml.swx"), "garbage: [")
        write(os.path.join(c, "4913"), "")
        write(os.path.join(c, "#eds.yaml#"), "garbage: [")
        os.symlink("user@host.1:1", os.path.join(c, ".#eds.yaml"))
        write(os.path.join(c, "notes.txt"), "garbage: [")
        write(os.path.join(c, "eds.yaml.orig"), "garbage: [")
        write(os.path.join(c, ".hidden.yaml"), "garbage: [")
        write(os.path.join(c, ".git", "objects", "x.yaml"), "garbage: [")
        write(env.path("nodes/alpha/README"), "garbage: [")
        write(env.path(".hidden-dir/nodes/x.yaml"), "garbage: [")

    def droppings_removed(self):
        c = self.env.path("common")
        for n in ("eds.yaml~", ".eds.yaml.swp", ".eds.yaml.swx", "4913", "#eds.yaml#", ".#eds.yaml", "notes.txt",
                  "eds.yaml.orig", ".hidden.yaml"):
            os.unlink(os.path.join(c, n))
        shutil.rmtree(os.path.join(c, ".git"))
        os.unlink(self.env.path("nodes/alpha/README"))
        shutil.rmtree(self.env.path(".hidden-dir"))

    def outside_tree(self):
        # the same layout beside the tree (fanotify sees the whole filesystem)
        other = os.path.join(self.env.root, "other")
        write(os.path.join(other, "common", "eds.yaml"), eds_text(1))
        write(os.path.join(other, "nodes", "alpha", "lds.yaml"), "x: [")
        write(os.path.join(self.env.root, "eds.yaml"), eds_text(2))
        os.rename(os.path.join(other, "common", "eds.yaml"), os.path.join(other, "eds.yaml"))

    def invalid_node_dirs(self):
        write(self.env.path("nodes/.hidden/lds.yaml"), y_listener("lx", 10005, "r0"))
        write(self.env.path("nodes/bad id/lds.yaml"), y_listener("ly", 10006, "r0"))
        write(self.env.path("nodes/README.yaml"), "not a node: [")

    def invalid_node_dirs_removed(self):
        shutil.rmtree(self.env.path("nodes/.hidden"))
        shutil.rmtree(self.env.path("nodes/bad id"))
        os.unlink(self.env.path("nodes/README.yaml"))

    def mtime_only(self):
        os.utime(self.env.path(EDS))
        os.chmod(self.env.path("nodes/alpha/lds.yaml"), 0o600)


def write_tree(root, tree):
    for rel, text in tree.items():
        write(os.path.join(root, rel), text)


def one_generation(env, d, change, port, barrier="common/cds.yaml"):
    """change() is one deployment: one new generation, every node gets port."""
    g0 = env.status()["generation"]
    mark = d.mark()
    change()
    st = d.wait_generation(mark, g0 + 1)
    expect_port(env, port)
    expect_eq(st["generation"], g0 + 1, "generation after one deployment")
    st = d.barrier(barrier, single=True)  # after the generation, nothing runs
    expect_eq(st["generation"], g0 + 1, "generation once settled")


def t_root_replaced(watch, mode):
    """The whole source_dir replaced by rename (a deploy tool's swap)."""
    env = Env(watch, mode, tree=base_tree(), settle="%gs" % SETTLE)
    d = env.daemon()

    def swap():
        new, old = env.src + ".new", env.src + ".old"
        write_tree(new, base_tree(8401))
        os.rename(env.src, old)
        step()
        os.rename(new, env.src)
        shutil.rmtree(old)
    one_generation(env, d, swap, 8401)
    # the new tree is the one watched
    one_generation(env, d, lambda: env.write(EDS, eds_text(8402)), 8402)
    d.stop()
    env.assert_equals_compile(NODES)


def t_root_symlink(watch, mode):
    """source_dir is a symlink to a release directory, switched atomically
    (ln -s release src.tmp && mv -T src.tmp src)."""
    env = Env(watch, mode, settle="%gs" % SETTLE)
    releases = os.path.join(env.root, "releases")
    write_tree(os.path.join(releases, "r1"), base_tree())
    os.symlink(os.path.join(releases, "r1"), env.src)
    d = env.daemon()
    expect_eq(sorted(env.status()["nodes"]), NODES, "nodes through a symlinked source_dir")

    def release(name, port):
        def deploy():
            write_tree(os.path.join(releases, name), base_tree(port))
            os.symlink(os.path.join(releases, name), env.src + ".tmp")
            os.rename(env.src + ".tmp", env.src)
        return deploy
    one_generation(env, d, release("r2", 8501), 8501)
    # the old release is not watched any more
    g = env.status()["generation"]
    write(os.path.join(releases, "r1", EDS), eds_text(1))
    st = d.barrier("common/cds.yaml")
    expect_eq(st["generation"], g, "generation after an edit of the old release")
    expect_port(env, 8501)
    one_generation(env, d, lambda: env.write(EDS, eds_text(8502)), 8502)
    one_generation(env, d, release("r3", 8503), 8503)
    d.stop()
    env.assert_equals_compile(NODES)


def t_configmap(watch, mode):
    """The atomic-writer layout of Kubernetes ConfigMap/projected volumes
    (also used by sync tools): common and nodes are symlinks through ..data,
    which is switched to a new timestamped directory by rename. Each switch
    is one generation; afterwards the tree behind the new ..data is the one
    watched, so an edit of a file there (through common/) is published."""
    env = Env(watch, mode, settle="%gs" % SETTLE)
    os.makedirs(env.src)
    write_tree(os.path.join(env.src, "..2024_01_01"), base_tree())
    os.symlink("..2024_01_01", os.path.join(env.src, "..data"))
    os.symlink("..data/common", os.path.join(env.src, "common"))
    os.symlink("..data/nodes", os.path.join(env.src, "nodes"))
    write(env.path("barrier.yaml"), "# not under common/ or nodes/: watched, never built\n")
    d = env.daemon()
    expect_eq(sorted(env.status()["nodes"]), NODES, "nodes in a ConfigMap layout")

    def update(old, new, port):
        def atomic_writer():
            write_tree(os.path.join(env.src, new), base_tree(port))
            os.symlink(new, os.path.join(env.src, "..data_tmp"))
            os.rename(os.path.join(env.src, "..data_tmp"), os.path.join(env.src, "..data"))
            shutil.rmtree(os.path.join(env.src, old))
        return atomic_writer
    one_generation(env, d, update("..2024_01_01", "..2024_01_02", 8601), 8601, barrier="barrier.yaml")
    one_generation(env, d, update("..2024_01_02", "..2024_01_03", 8602), 8602, barrier="barrier.yaml")
    # an edit behind the switched ..data: its own event must cause the
    # rebuild (any other event would make a rebuild read it anyway)
    g = env.status()["generation"]
    mark = d.mark()
    env.write(EDS, eds_text(8603))
    try:
        d.wait_generation(mark, g + 1, timeout=10 * SETTLE)
    except AssertionError:
        raise AssertionError("an edit of %s behind the switched ..data (common -> ..data/common) caused no "
                             "rebuild within %gs (settle %gs): the watch still watches the directories of the "
                             "old ..data target" % (EDS, 10 * SETTLE, SETTLE))
    expect_port(env, 8603)
    d.stop()
    env.assert_equals_compile(NODES)


def t_dir_moved(watch):
    """A node directory moved into the tree from outside (its files bring no
    events of their own) is published in one generation; moved out again,
    its output stays and edits in its new place are not watched any more."""
    env = Env(watch, "rename", tree=base_tree(), settle="%gs" % SETTLE)
    d = env.daemon()
    outside = os.path.join(env.root, "staging", "gamma")
    write(os.path.join(outside, "lds.yaml"), y_listener("lg", 10003, "rg"))
    write(os.path.join(outside, "sub", "rds.yaml"), y_routes("rg", [("/g", "shared")]))
    g0 = env.status()["generation"]
    mark = d.mark()
    os.rename(outside, env.path("nodes/gamma"))
    st = d.wait_generation(mark, g0 + 1)
    expect_eq(st["generation"], g0 + 1, "generation after a node directory moved in")
    expect_eq(node_files(env.node_dir("gamma")), ["cds/cds.pb", "eds/shared.pb", "lds/lds.pb", "rds/rg.pb"],
              "gamma's files")
    # an edit in the moved-in directory's subdirectory is seen
    mark = d.mark()
    env.write("nodes/gamma/sub/rds.yaml", y_routes("rg", [("/g2", "shared")]))
    d.wait_generation(mark, g0 + 2)
    expect_in('prefix: "/g2"', decode(os.path.join(env.node_dir("gamma"), "rds/rg.pb")), "gamma's routes")
    gamma = snapshot(env.node_dir("gamma"))
    # moved out: kept, and no longer watched
    mark = d.mark()
    os.rename(env.path("nodes/gamma"), outside)
    _, st = d.wait_rebuild(mark)
    expect_eq(st["nodes"]["gamma"]["present"], False, "gamma's present after it moved out")
    mark = d.mark()
    write(os.path.join(outside, "sub", "rds.yaml"), y_routes("rg", [("/g3", "shared")]))
    time.sleep(2 * SETTLE)
    st = d.barrier("common/cds.yaml", single=True)
    rebuilds = [m["STATUS"] for m in d.notify.since(mark) if "STATUS" in m]
    expect_eq(len(rebuilds), 1, "rebuilds after an edit in the moved-out directory and the barrier (%r)" % rebuilds)
    expect(not diff_snapshots(gamma, snapshot(env.node_dir("gamma")), "all"), "gamma's output changed")
    d.stop()
    env.assert_equals_compile(NODES)


def t_settle_max(watch):
    """Edits that never pause for the settle time are published at the
    latest settle_max after the first one."""
    env = Env(watch, "rename", tree=base_tree(), settle="0.4s", settle_max="1s")
    d = env.daemon()
    g0 = env.status()["generation"]
    seen = None
    deadline = time.monotonic() + 10  # ten times settle_max
    i = 0
    while time.monotonic() < deadline:
        env.write(EDS, eds_text(9000 + i))
        i += 1
        time.sleep(0.05)
        if env.status()["generation"] > g0:
            seen = i
            break
    expect(seen is not None, "no generation during %d edits 0.05s apart over 10s (settle 0.4s, settle_max 1s)", i)
    d.stop()


def run_combo(r, watch, mode):
    tag = "[%s,%s]" % (watch, mode)
    if watch == "fanotify" and r.fanotify_problem:
        r.skip("saves" + tag, r.fanotify_problem)
        return
    s = None

    def setup():
        nonlocal s
        s = Saves(watch, mode)
    if not r.run("saves-start" + tag, setup, keep_envs=True):
        return
    env = s.env  # lives across the tests below
    try:
        for name in ("mv_tmp", "mv_from_elsewhere", "cp_over", "sed_i", "vim_backup", "vim_nobackup", "emacs",
                     "truncate_then_write", "truncate_close_write", "delete_then_create"):
            r.run("save-%s%s" % (name.replace("_", "-"), tag), s.port_save, getattr(s, name), logs=[env])
        for name in ("dir_rename", "common_replaced", "common_exchanged", "new_subdirectory", "subdirectory_removed"):
            r.run("save-%s%s" % (name.replace("_", "-"), tag), getattr(s, name), logs=[env])
        for name, quiet in (("droppings", True), ("droppings_removed", True), ("outside_tree", True),
                            ("invalid_node_dirs", False), ("invalid_node_dirs_removed", False), ("mtime_only", True)):
            r.run("unrelated-%s%s" % (name.replace("_", "-"), tag), s.unrelated, name, getattr(s, name), quiet,
                  logs=[env])

        def final():
            s.d.stop()
            env.assert_equals_compile(NODES)
        r.run("saves-final-equals-compile" + tag, final, logs=[env])
    finally:
        env.cleanup()


if __name__ == "__main__":
    r = Runner("daemon-saves")
    for w, m in r.combos():
        run_combo(r, w, m)
    # the watch is what these exercise, not the publish mode: one mode each
    for w in BACKENDS:
        tag = "[%s,rename]" % w
        r.run("deploy-root-replaced" + tag, t_root_replaced, w, "rename")
        r.run("deploy-root-symlink-switched" + tag, t_root_symlink, w, "rename")
        r.run("deploy-configmap-data-switched" + tag, t_configmap, w, "rename")
        r.run("node-dir-moved-in-and-out[%s]" % w, t_dir_moved, w)
        r.run("settle-max[%s]" % w, t_settle_max, w)
    r.finish()
