"""Child processes that never outlive their owner.

Linux's ``prctl(PR_SET_PDEATHSIG)`` asks the kernel to send a child a signal when its parent goes away, even when
the parent is killed with SIGKILL and has no chance to clean up. :func:`die_with_parent` returns a ``preexec_fn``
for :class:`subprocess.Popen` that sets it.

The kernel sends the signal when the *thread* that forked the child ends, not the process: a child started from a
short-lived thread would be killed as soon as that thread returns. :func:`die_with_parent` therefore returns
``None`` outside the main thread; such callers rely on their other guard (a pipe whose end of input stops the
child, or a process group that the owner kills).
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
from collections.abc import Callable

PR_SET_PDEATHSIG = 1


def die_with_parent(sig: signal.Signals = signal.SIGKILL) -> Callable[[], None] | None:
    """A ``preexec_fn`` that makes the child receive ``sig`` when the calling thread (the main one) ends.

    ``None`` (no hook) outside the main thread and on systems other than Linux.
    """
    if not sys.platform.startswith("linux") or threading.current_thread() is not threading.main_thread():
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl  # resolved here: the child only makes the call
    parent = os.getpid()

    def set_parent_death_signal() -> None:
        prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
        if os.getppid() != parent:  # the parent died between fork and prctl: nobody will send the signal
            os.kill(os.getpid(), sig)

    return set_parent_death_signal


__all__ = ["die_with_parent"]
