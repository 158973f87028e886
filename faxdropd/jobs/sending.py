"""How many faxes go to InterFAX at once: `workers` of them, while the next ones are checked.

A worker used to check its next document (the claim's commit, reading and hashing it, routing) only after
InterFAX had answered for the previous one, so each of the `workers` sending slots stood idle for that time
between two sends: at 50 ms per InterFAX call about a seventh of every slot's time (docs/bench/notes.md, round 8).
The pool now runs twice as many threads as `workers`; a thread checks its document first and then waits here
for a slot, which it holds from the admission checks until InterFAX has answered, and no longer.

The daemon's stop closes the slots: a thread still waiting gives up, so nothing new is sent after SIGTERM; its
job stays in the journal and resumes on the next start.
"""

from __future__ import annotations

import threading

# How often a waiting thread looks at whether the daemon is stopping.
WAIT_SLICE = 0.1


class Slot:
    """One taken slot; giving it back twice is harmless (the send's end and the job's end both do)."""

    def __init__(self, free: threading.BoundedSemaphore) -> None:
        self._free: threading.BoundedSemaphore | None = free

    def give_back(self) -> None:
        free, self._free = self._free, None
        if free is not None:
            free.release()


class SendSlots:
    def __init__(self, count: int) -> None:
        # The worker pool's size: one thread checking the next document for each one sending.
        self.threads = count * 2
        self._free = threading.BoundedSemaphore(count)
        self._closed = threading.Event()

    def take(self) -> Slot | None:
        """Wait for a free slot; None once the daemon is stopping (no send may start then)."""
        while not self._closed.is_set():
            if self._free.acquire(timeout=WAIT_SLICE):
                if self._closed.is_set():
                    self._free.release()
                    return None
                return Slot(self._free)
        return None

    def close(self) -> None:
        """No slot is handed out any more; the sends under way keep theirs until they end."""
        self._closed.set()
