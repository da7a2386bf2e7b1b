# SPDX-License-Identifier: MIT
"""Review of issue 15's history, rollback and pin: cases that fail today.
- a pin file that does not parse, found at start: fsxdsd holds the node's
  tree changes, so status must show the node pinned;
- a rollback of a node whose tree has an error: the error is still the
  tree's and must stay reported (fsxds.1: "its errors reported as usual");
- a second fsxds rollback written while fsxdsd publishes the first must
  not be dropped with the first's request (its fsxds waits, then says
  "did not roll back ... see its journal", and the journal has nothing).
inotify, rename mode."""
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import *  # noqa: E402,F401,F403
import history as h  # noqa: E402

NODE = h.NODE


def t_garbage_pin_shown():
    env = Env(tree=h.tree())
    d = env.daemon()
    d.stop()
    os.makedirs(os.path.join(env.state, "pin"), exist_ok=True)
    with open(os.path.join(env.state, "pin", NODE), "w") as f:
        f.write("garbage{\n")
    d = env.daemon()
    gp = h.alpha_gen(env)
    st = h.edit_a1(d, env, 99)
    expect_eq(st["nodes"][NODE]["generation"], gp, "the generation of a node held by its pin")
    expect(st["nodes"][NODE].get("pinned"), "fsxdsd holds alpha's tree changes (its pin), but status.json "
           "does not show it pinned: %r" % st["nodes"][NODE])
    d.stop()


def t_broken_tree_rollback_keeps_error():
    env = Env(tree=h.tree())
    d = env.daemon()
    g1 = h.alpha_gen(env)
    h.bump(d, env, 81)
    env.write("nodes/alpha/cds.yaml", "name: [unclosed\n")
    st = d.barrier("nodes/alpha/cds.yaml")
    expect(st["nodes"][NODE]["error"] is not None, "no error for a broken tree: %r", st["nodes"][NODE])
    h.rollback(env, g1)
    st = env.status()
    expect(st["nodes"][NODE].get("pinned"), "not pinned: %r", st["nodes"][NODE])
    expect(st["nodes"][NODE]["error"] is not None, "after the rollback, the tree is still broken but status "
           "shows no error: %r" % st["nodes"][NODE])
    d.stop()


def t_second_rollback_not_lost():
    # a long phase_pause: the first rollback is mid-publish for seconds
    env = Env(tree=h.tree(), phase_pause="3s", max_removal=1.0)
    d = env.daemon()
    ga = h.alpha_gen(env)
    h.publish_tree(d, env, h.added_tree(h.tree(), 2))
    gb = h.alpha_gen(env)
    expect(gb > ga, "no generation b")
    first = subprocess.Popen([FSXDS, "rollback", "--config", env.config_path, NODE, str(ga)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_until(lambda: "rolling back to generation %d" % ga in d.log_text(), "fsxdsd to take the first rollback")
    second = env.fsxds("rollback", "--config", env.config_path, NODE, str(gb), expect=None)
    out, err = first.communicate(timeout=WAIT)
    # the first one's request was replaced: it says so, and does not claim the pin
    expect_eq(first.returncode, 3, "the first fsxds rollback (stderr %s)" % err)
    expect_in("superseded", err, "the first fsxds rollback's message")
    expect_eq(second.returncode, 0, "the second fsxds rollback, asked while the first was being published "
              "(stderr %s; journal has: %s)" % (second.stderr.strip(),
                                                [l for l in d.log_text().splitlines() if "roll" in l]))
    st = env.status()
    expect_eq(st["nodes"][NODE]["pinned"]["rollback_of"], gb, "the pin after two rollbacks in a row")
    d.stop()


if __name__ == "__main__":
    r = Runner("history-review")
    r.run("garbage-pin-shown", t_garbage_pin_shown)
    r.run("broken-tree-rollback-keeps-error", t_broken_tree_rollback_keeps_error)
    r.run("second-rollback-not-lost", t_second_rollback_not_lost)
    r.finish()
