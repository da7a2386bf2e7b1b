# SPDX-License-Identifier: MIT
"""exit_now(code): sys.exit(code) without the interpreter's finalization,
for every test program that has used python3-grpcio.

Debian's python3-grpcio (1.51) can deadlock there: a grpc object's
finalizer, run by Py_FinalizeEx's last garbage collection, waits on a lock
that is never released. Seen in the e2e suite: the xDS client had printed
its result, then hung (one thread, in a futex wait under PyGC_Collect)
until meson's timeout. The atexit handlers still run."""
import atexit
import os
import sys


def exit_now(code):
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
