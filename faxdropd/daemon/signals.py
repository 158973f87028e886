"""What the daemon's signals mean, as flags: the handlers only record, the main loop acts (as uvicorn does).

A handler runs between two bytecodes of the main thread, wherever that thread is, even inside a lock it
holds: so it takes no lock, logs nothing and touches nothing but these attributes.
"""

from __future__ import annotations

import signal
from types import FrameType


class SignalFlags:
    """SIGTERM/SIGINT set `should_exit` (a second one sets `force_exit`); SIGHUP sets `reload_requested`."""

    def __init__(self) -> None:
        self.should_exit = False
        self.force_exit = False
        self.reload_requested = False
        self.last_signal = ""  # the name of the signal that asked to stop, for the log

    def install(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, self.handle)

    def handle(self, signum: int, _frame: FrameType | None) -> None:
        if signum == signal.SIGHUP:
            self.reload_requested = True
            return
        self.last_signal = signal.Signals(signum).name
        if self.should_exit:
            # The operator wants out now: every step is committed before its effect, so whatever is cut
            # short resumes (or is reconciled) at the next start, as after a crash.
            self.force_exit = True
        self.should_exit = True

    def take_reload(self) -> bool:
        """True once per SIGHUP (several before the loop looks count as one)."""
        requested, self.reload_requested = self.reload_requested, False
        return requested
