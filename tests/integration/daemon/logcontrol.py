# SPDX-License-Identifier: MIT
"""fsxdsd's runtime verbosity: org.freedesktop.LogControl1 on a private
dbus-daemon that stands in for the system bus (default deny, as Debian's
system.conf, plus the shipped policy units/org.fsxds.fsxdsd.conf included
as it is), reached through DBUS_SYSTEM_BUS_ADDRESS, driven with busctl
(what systemctl service-log-level calls) and dbus-send (which shows an
error's name and message); --verbose and FSXDS_LOG_LEVEL in the
foreground; and fsxdsd with no bus at all.

The shipped policy lets the user fsxds own the name: fsxdsd runs as a uid
that the bus knows as fsxds. Where the host has no such user, the
dbus-daemon runs in a mount namespace of its own whose /etc/passwd and
/etc/group (bind-mounted copies) add one; so the file under test is the
shipped one, byte for byte. Needs root (setpriv, unshare) and
dbus-daemon, dbus-send and busctl (scripts/setup installs them)."""
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import *  # noqa: E402,F401,F403

NAME = "org.fsxds.fsxdsd"
PATH = "/org/freedesktop/LogControl1"
IFACE = "org.freedesktop.LogControl1"
NOBODY = 65534

BUS_CONF = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=%(socket)s</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <deny own="*"/>
    <deny send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Introspectable"/>
  </policy>
  <include>%(policy)s</include>
%(extra)s</busconfig>
"""


def shipped_policy():
    return os.path.join(SOURCE_ROOT, "units", NAME + ".conf")


def need_tools():
    if os.geteuid() != 0:
        raise Skip("needs root (setpriv to other uids, a mount namespace for the bus)")
    for t in ("dbus-daemon", "dbus-send", "busctl", "setpriv", "unshare"):
        if not shutil.which(t):
            raise Skip("%s is not installed (scripts/setup installs dbus-daemon and dbus-bin)" % t)


class Bus:
    """A private dbus-daemon with the system bus's default policy and the
    shipped policy file; fsxds_uid is the uid it knows as user fsxds."""

    def __init__(self, env, extra=""):
        self.dir = os.path.join(env.root, "bus")
        os.makedirs(self.dir)
        self.socket = os.path.join(self.dir, "system_bus_socket")
        self.address = "unix:path=" + self.socket
        conf = os.path.join(self.dir, "bus.conf")
        write(conf, BUS_CONF % dict(socket=self.socket, policy=shipped_policy(), extra=extra))
        self.log_path = os.path.join(self.dir, "dbus-daemon.log")
        argv = ["dbus-daemon", "--nofork", "--nopidfile", "--config-file=" + conf, "--print-address=1"]
        try:
            pw = pwd.getpwnam("fsxds")
            self.fsxds_uid, self.fsxds_gid = pw.pw_uid, pw.pw_gid
        except KeyError:
            # a uid no user has, named fsxds in the bus's own /etc
            self.fsxds_uid = next(u for u in range(61000, 62000) if not _uid_taken(u))
            self.fsxds_gid = self.fsxds_uid
            for f, line in (("passwd", "fsxds:x:%d:%d::/nonexistent:/usr/sbin/nologin\n" %
                             (self.fsxds_uid, self.fsxds_gid)),
                            ("group", "fsxds:x:%d:\n" % self.fsxds_gid)):
                copy = os.path.join(self.dir, f)
                with open("/etc/" + f) as src:
                    write(copy, src.read() + line)
            argv = ["unshare", "--mount", "--propagation", "private", "sh", "-c",
                    'mount --bind "$0" /etc/passwd && mount --bind "$1" /etc/group && shift && exec "$@"',
                    os.path.join(self.dir, "passwd"), os.path.join(self.dir, "group")] + argv
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self.log)
        line = self.proc.stdout.readline().decode().strip()
        expect(line.startswith("unix:"), "dbus-daemon did not start (it printed %r): %s", line, self.log_text())
        env.buses = getattr(env, "buses", []) + [self]

    def log_text(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait()
        self.log.close()


def _uid_taken(u):
    try:
        pwd.getpwuid(u)
        return True
    except KeyError:
        return False


class UserDaemon(Daemon):
    """fsxdsd as another uid (setpriv), with extra arguments."""

    def __init__(self, env, uid=None, gid=None, args=(), **kw):
        super().__init__(env, **kw)
        self.uid, self.gid, self.args = uid, gid, list(args)

    def argv(self):
        prefix = []
        if self.uid is not None:
            prefix = ["setpriv", "--reuid=%d" % self.uid, "--regid=%d" % self.gid, "--clear-groups"]
        return prefix + super().argv() + self.args


def run(argv, uid=None):
    if uid is not None:
        argv = ["setpriv", "--reuid=%d" % uid, "--regid=%d" % uid, "--clear-groups"] + argv
    return subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=WAIT)


def get_prop(bus, prop, uid=None):
    """busctl get-property's value ("s \"info\"" -> "info"), or the failure."""
    p = run(["busctl", "--address=" + bus.address, "get-property", NAME, PATH, IFACE, prop], uid)
    expect(p.returncode == 0, "busctl get-property %s: exit %d: %s", prop, p.returncode, p.stderr.strip())
    typ, _, value = p.stdout.strip().partition(" ")
    expect_eq(typ, "s", "the type of %s" % prop)
    return value.strip('"')


def set_prop(bus, prop, value):
    p = run(["busctl", "--address=" + bus.address, "set-property", NAME, PATH, IFACE, prop, "s", value])
    expect(p.returncode == 0, "busctl set-property %s %s: exit %d: %s", prop, value, p.returncode, p.stderr.strip())


def set_refused(bus, prop, value, uid=None):
    """A Set that must fail: dbus-send's "Error NAME: MESSAGE"."""
    p = run(["dbus-send", "--bus=" + bus.address, "--print-reply", "--dest=" + NAME, PATH,
             "org.freedesktop.DBus.Properties.Set", "string:" + IFACE, "string:" + prop, "variant:string:" + value],
            uid)
    expect(p.returncode != 0, "Set %s=%s as uid %s was accepted", prop, value, uid if uid is not None else 0)
    return p.stderr.strip()


def wait_owned(bus, d):
    """Until the name answers (fsxdsd asks for it once it is up)."""
    def owned():
        expect(d.alive(), "fsxdsd %s", d.exit_text())
        p = run(["busctl", "--address=" + bus.address, "get-property", NAME, PATH, IFACE, "SyslogIdentifier"])
        return p.returncode == 0
    wait_until(owned, "fsxdsd to own %s on the bus" % NAME)


def change(env, d, n):
    """A source change, rebuilt; returns the log written from the change on."""
    start = len(d.log_text())
    mark = d.mark()
    mv_write(env, "common/cds.yaml", y_cluster("shared", timeout="%ds" % n))
    d.wait_rebuild(mark)
    return d.log_text()[start:]


def log_after(d, start, needle):
    wait_until(lambda: needle in d.log_text()[start:] or not d.alive(), "%r in fsxdsd's log" % needle)
    expect(d.alive(), "fsxdsd %s while waiting for %r in its log", d.exit_text(), needle)


def t_logcontrol():
    need_tools()
    env = Env("inotify", "rename", tree=base_tree())
    bus = None
    try:
        # test-only: the daemon's own uid may send too, to reach the
        # daemon's own check behind the policy (the shipped file denies it)
        bus = Bus(env, extra='  <policy user="fsxds"><allow send_destination="%s"/></policy>\n' % NAME)
        # the test tree (and the notify socket) belong to the daemon's uid;
        # the bus's directory stays root's, reachable by every uid
        for dirpath, dirnames, filenames in os.walk(env.root):
            if dirpath.startswith(bus.dir):
                continue
            for n in dirnames + filenames:
                if os.path.join(dirpath, n) != bus.dir:
                    os.lchown(os.path.join(dirpath, n), bus.fsxds_uid, bus.fsxds_gid)
        os.chown(env.root, bus.fsxds_uid, bus.fsxds_gid)
        os.chmod(env.root, 0o711)
        os.chmod(bus.dir, 0o755)
        d = UserDaemon(env, uid=bus.fsxds_uid, gid=bus.fsxds_gid,
                       extra_env={"DBUS_SYSTEM_BUS_ADDRESS": bus.address, "FSXDS_LOG_LEVEL": ""}).start()
        wait_owned(bus, d)
        expect_eq(get_prop(bus, "LogLevel"), "info", "LogLevel at start")
        expect_eq(get_prop(bus, "LogTarget"), "console", "LogTarget at start (no JOURNAL_STREAM)")
        expect_eq(get_prop(bus, "SyslogIdentifier"), "fsxdsd", "SyslogIdentifier")

        # at info, a change logs no debug line
        text = change(env, d, 2)
        expect("change: " not in text, "a debug line at level info:\n%s", text)

        # PropertiesChanged, seen by a subscriber (dbus-monitor, root)
        mon_path = os.path.join(env.root, "monitor.log")
        with open(mon_path, "wb") as mon_out:
            mon = subprocess.Popen(["dbus-monitor", "--address", bus.address,
                                    "type='signal',interface='org.freedesktop.DBus.Properties',"
                                    "member='PropertiesChanged',path='%s'" % PATH],
                                   stdin=subprocess.DEVNULL, stdout=mon_out, stderr=subprocess.STDOUT)
        try:
            # subscribed once it printed its own NameAcquired/NameLost
            wait_until(lambda: os.path.getsize(mon_path) > 0 or mon.poll() is not None, "dbus-monitor to start")
            start = len(d.log_text())
            set_prop(bus, "LogLevel", "debug")
            expect_eq(get_prop(bus, "LogLevel"), "debug", "LogLevel after setting debug")
            log_after(d, start, "log level debug (was info), set through LogControl1")
            wait_until(lambda: "LogLevel" in read(mon_path).decode("utf-8", "replace") or mon.poll() is not None,
                       "PropertiesChanged of LogLevel")
            mon_text = read(mon_path).decode("utf-8", "replace")
            expect("LogLevel" in mon_text and '"debug"' in mon_text,
                   "no PropertiesChanged with LogLevel \"debug\":\n%s", mon_text)
        finally:
            mon.terminate()
            mon.wait()

        text = change(env, d, 3)
        expect_in("change: common/", text, "fsxdsd's log after LogLevel=debug and a change")

        # SIGHUP reads the configuration again; the log level is no part of it
        start = len(d.log_text())
        d.sighup()
        log_after(d, start, "configuration reloaded")
        expect_eq(get_prop(bus, "LogLevel"), "debug", "LogLevel after SIGHUP")
        text = change(env, d, 4)
        expect_in("change: common/", text, "fsxdsd's log after SIGHUP and a change")

        set_prop(bus, "LogLevel", "info")
        expect_eq(get_prop(bus, "LogLevel"), "info", "LogLevel set back")
        text = change(env, d, 5)
        expect("change: " not in text, "a debug line after LogLevel=info:\n%s", text)

        # refused: a level or target fsxdsd does not know, or cannot do
        err = set_refused(bus, "LogLevel", "verbose")
        expect_in("org.freedesktop.DBus.Error.InvalidArgs: Invalid log level 'verbose'", err, "dbus-send's error")
        for t in ("kmsg", "syslog", "journal-or-kmsg", "syslog-or-kmsg"):
            err = set_refused(bus, "LogTarget", t)
            expect_in("org.freedesktop.DBus.Error.InvalidArgs: Log target '%s' is not supported by fsxdsd" % t, err,
                      "dbus-send's error")
        err = set_refused(bus, "LogTarget", "file")
        expect_in("org.freedesktop.DBus.Error.InvalidArgs: Invalid log target 'file'", err, "dbus-send's error")
        err = set_refused(bus, "SyslogIdentifier", "other")
        expect_in("org.freedesktop.DBus.Error.PropertyReadOnly", err, "dbus-send's error")
        expect_eq(get_prop(bus, "LogLevel"), "info", "LogLevel after the refusals")
        expect_eq(get_prop(bus, "LogTarget"), "console", "LogTarget after the refusals")

        # LogTarget null: nothing at all; console: back; auto: console here
        set_prop(bus, "LogTarget", "null")
        expect_eq(get_prop(bus, "LogTarget"), "null", "LogTarget after setting null")
        start = len(d.log_text())
        mark = d.mark()
        write(env.path("common/bad.yaml"), "resources: [\n")  # an error, logged at err
        d.wait_rebuild(mark)
        expect_eq(d.log_text()[start:], "", "fsxdsd's log with LogTarget=null")
        set_prop(bus, "LogTarget", "auto")
        expect_eq(get_prop(bus, "LogTarget"), "console", "LogTarget after setting auto (no JOURNAL_STREAM)")
        log_after(d, start, "log target console (was null), set through LogControl1")
        os.unlink(env.path("common/bad.yaml"))

        # not root: the shipped policy refuses nobody, reading or writing
        err = set_refused(bus, "LogLevel", "debug", uid=NOBODY)
        expect_in("org.freedesktop.DBus.Error.AccessDenied: Rejected send message", err, "nobody's Set")
        p = run(["busctl", "--address=" + bus.address, "get-property", NAME, PATH, IFACE, "LogLevel"], NOBODY)
        expect(p.returncode != 0, "nobody may read LogLevel: %s", p.stdout)
        # the daemon's own uid gets past the (test-only) policy, not past fsxdsd's check
        err = set_refused(bus, "LogLevel", "debug", uid=bus.fsxds_uid)
        expect_in("org.freedesktop.DBus.Error.AccessDenied: only root may change fsxdsd's LogLevel", err,
                  "the fsxds user's Set")
        expect_eq(get_prop(bus, "LogLevel"), "info", "LogLevel after the refused Sets")

        # the bus goes away: fsxdsd says so once and goes on publishing
        start = len(d.log_text())
        bus.stop()
        log_after(d, start, "the system bus connection is closed")
        change(env, d, 6)
        expect_eq(d.log_text().count("the system bus connection is closed"), 1, "lines on the lost bus")
        d.stop()
    finally:
        if bus:
            bus.stop()


def t_policy_parses():
    """The real dbus-daemon reads the shipped file (no warning); a
    misspelt element would be a warning, an XML error a failure."""
    need_tools()
    env = Env("inotify", "rename", tree={})
    bus = Bus(env)
    try:
        get = run(["busctl", "--address=" + bus.address, "list", "--no-pager"])
        expect(get.returncode == 0, "busctl list on the bus: %s", get.stderr)
    finally:
        bus.stop()
    # (a container may not let it raise its fd limit: not about the policy)
    said = [line for line in bus.log_text().splitlines() if "fd limit" not in line]
    expect(not said, "dbus-daemon on the shipped policy said:\n%s", "\n".join(said))


def t_no_bus():
    """DBUS_SYSTEM_BUS_ADDRESS leads nowhere: said once at info, and
    fsxdsd publishes and stops as ever."""
    env = Env("inotify", "rename", tree=base_tree())
    nowhere = os.path.join(env.root, "no-bus-here")
    d = env.daemon(extra_env={"DBUS_SYSTEM_BUS_ADDRESS": "unix:path=" + nowhere})
    st = env.status()
    expect_eq(st["nodes"]["alpha"]["generation"], 1, "alpha's generation")
    change(env, d, 2)
    d.stop()
    expect_eq(d.log_text().count("no system bus ("), 1, "lines on the missing bus")


def t_once_and_check_never_connect():
    """--once and --check-config never connect: a listening socket as the
    system bus sees no connection."""
    env = Env("inotify", "rename", tree=base_tree())
    path = os.path.join(env.root, "bus.sock")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(path)
    s.listen(16)
    s.setblocking(False)
    e = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS="unix:path=" + path)
    e.pop("NOTIFY_SOCKET", None)
    try:
        for args in (["--once"], ["--check-config"]):
            p = subprocess.run([FSXDSD, "--config", env.config_path] + args, capture_output=True, text=True,
                               env=e, stdin=subprocess.DEVNULL, timeout=WAIT * 4)
            expect_eq(p.returncode, 0, "fsxdsd %s's exit status (%s)" % (args[0], p.stderr))
            try:
                c, _ = s.accept()
                c.close()
                raise AssertionError("fsxdsd %s connected to the system bus" % args[0])
            except BlockingIOError:
                pass
            expect("system bus" not in p.stderr, "fsxdsd %s spoke of the bus: %s", args[0], p.stderr)
    finally:
        s.close()


def t_verbose():
    """--verbose: debug lines in the foreground without FSXDS_LOG_LEVEL,
    and over it; FSXDS_LOG_LEVEL alone still sets the level."""
    env = Env("inotify", "rename", tree=base_tree())
    nowhere = {"DBUS_SYSTEM_BUS_ADDRESS": "unix:path=" + os.path.join(env.root, "none")}
    for args, level, want_debug, want_info in (
            (["--verbose"], None, True, True),
            (["-v"], "warning", True, True),
            ([], "warning", False, False),
            ([], None, False, True)):
        e = dict(nowhere)
        if level:
            e["FSXDS_LOG_LEVEL"] = level
        else:
            e["FSXDS_LOG_LEVEL"] = ""
        d = UserDaemon(env, args=args, extra_env=e).start()
        text = change(env, d, 2 + len(env.daemons))
        what = "fsxdsd %s with FSXDS_LOG_LEVEL=%s" % (" ".join(args) or "(no option)", level or "(unset)")
        expect_eq("change: common/" in text, want_debug, "%s: a debug line after a change" % what)
        expect_eq("watching " in d.log_text(), want_info, "%s: the info line 'watching ...'" % what)
        d.stop()
    # an unknown level is said, and ignored
    d = UserDaemon(env, extra_env=dict(nowhere, FSXDS_LOG_LEVEL="loud")).start()
    d.stop()
    expect_in("FSXDS_LOG_LEVEL=loud is not a log level", d.log_text(), "fsxdsd's log")
    expect_in("watching ", d.log_text(), "fsxdsd's log (info, the default)")


if __name__ == "__main__":
    r = Runner("daemon-logcontrol")
    r.run("logcontrol-bus", t_logcontrol)
    r.run("logcontrol-policy-parses", t_policy_parses)
    r.run("logcontrol-no-bus", t_no_bus)
    r.run("logcontrol-once-check-config", t_once_and_check_never_connect)
    r.run("logcontrol-verbose", t_verbose)
    r.finish()
