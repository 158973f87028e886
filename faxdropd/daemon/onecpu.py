"""The daemon's threads on one CPU at a time (config `one_cpu`, default on).

Only one thread runs Python at a time (the GIL), and a fax's path hands it between threads dozens of times:
around every journal statement, file call and socket call. With the threads spread over several CPUs each
hand-off is a wake-up on another CPU (an inter-processor interrupt; on a virtual machine an exit to the
hypervisor too), which costs more than the parallel C work it allows is worth: on the 2-core benchmark VM a
thread round trip cost 51 µs of CPU across CPUs and 21 µs on one, and the daemon's CPU per fax fell by 15 to 30 %
with its threads kept together (docs/bench/notes.md, round 10).

So the threads share one CPU of those the daemon may use (its affinity mask: systemd's CPUAffinity= narrows
it), and move together to a quieter one when other work crowds theirs: the kernel cannot move them itself.
Pinning is a syscall some sandboxes refuse (the shipped unit allows it); then the kernel keeps placing them.

On one CPU they also take turns without preempting each other (SCHED_BATCH): a thread woken while another
holds the GIL would otherwise take the CPU only to find the GIL taken and sleep again, two context switches
for nothing. Switches per fax fell from 37 to 20 (docs/bench/notes.md, round 11). Other programs' threads
still preempt the daemon's as before; only wake-ups among batch threads wait for the running one's turn.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import structlog

log = structlog.get_logger("faxdropd.daemon.onecpu")

REVIEW_EVERY = 60.0  # seconds between two looks at how busy each CPU was
# Move when others' work on our CPU exceeds the quietest CPU's load by this share of a CPU: enough that
# brief neighbours do not make the threads wander, small enough that a busy neighbour is left within a minute.
CROWDED = 0.25


@dataclass(frozen=True)
class Times:
    """Busy and total time of each CPU (kernel ticks) and the daemon's own CPU time (seconds), at one moment."""

    busy: dict[int, int]
    total: dict[int, int]
    own: float


def read_times() -> Times:
    """Per-CPU busy/total ticks from /proc/stat and this process's own utime + stime."""
    busy: dict[int, int] = {}
    total: dict[int, int] = {}
    with open("/proc/stat", encoding="ascii") as stat:
        for line in stat:
            name, _, rest = line.partition(" ")
            if not name.startswith("cpu") or name == "cpu":
                continue
            ticks = [int(v) for v in rest.split()]
            # user nice system idle iowait irq softirq steal ...: idle and iowait are the CPU's free time.
            total[int(name[3:])] = sum(ticks[:8])
            busy[int(name[3:])] = sum(ticks[:8]) - ticks[3] - ticks[4]
    return Times(busy, total, own_seconds())


def own_seconds() -> float:
    with open("/proc/self/stat", encoding="ascii") as stat:
        fields = stat.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def running_on() -> int:
    """The CPU this thread last ran on (field 39 of /proc/thread-self/stat)."""
    with open("/proc/thread-self/stat", encoding="ascii") as stat:
        return int(stat.read().rpartition(")")[2].split()[36])


def quieter(before: Times, after: Times, here: int, allowed: set[int]) -> int | None:
    """The CPU to move to, or None to stay: others' load on `here` against the quietest allowed CPU's load."""
    tick = os.sysconf("SC_CLK_TCK")

    def load(cpu: int) -> float:
        span = after.total.get(cpu, 0) - before.total.get(cpu, 0)
        return (after.busy.get(cpu, 0) - before.busy.get(cpu, 0)) / span if span > 0 else 0.0

    span = after.total.get(here, 0) - before.total.get(here, 0)
    if span <= 0:
        return None
    # Our own threads' time is charged to `here`: what crowds them is the rest.
    others_here = max(0.0, load(here) - (after.own - before.own) * tick / span)
    best = min(sorted(allowed - {here}), key=load, default=None)
    if best is None or others_here - load(best) <= CROWDED:
        return None
    return best


class OneCpu:
    """Keeps every thread of this process on one CPU; `review()` from the main loop moves them when crowded."""

    def __init__(self, *, every: float = REVIEW_EVERY, clock: Callable[[], float] = time.monotonic) -> None:
        self.every, self.clock = every, clock
        self.allowed: set[int] = set(os.sched_getaffinity(0))
        self.cpu: int | None = None
        self._times: Times | None = None
        self._next = 0.0

    def start(self) -> None:
        _take_turns()
        if len(self.allowed) < 2:
            return  # one CPU already, or the operator's affinity chose it
        here = running_on()
        self._pin(here if here in self.allowed else min(self.allowed))
        self._times, self._next = read_times(), self.clock() + self.every

    def review(self) -> None:
        if self.cpu is None or self._times is None or self.clock() < self._next:
            return
        now = read_times()
        target = quieter(self._times, now, self.cpu, self.allowed)
        self._times, self._next = now, self.clock() + self.every
        if target is not None:
            log.info("daemon.cpu_moved", from_cpu=self.cpu, to_cpu=target, reason="other work on the CPU")
            self._pin(target)

    def _pin(self, cpu: int) -> None:
        try:
            self._apply({cpu})
        except OSError as exc:
            # A sandbox without sched_setaffinity (EPERM), a CPU gone offline (EINVAL): the kernel places them.
            with contextlib.suppress(OSError):
                self._apply(self.allowed)  # undo a part-way pinning
            log.warning("daemon.cpu_unpinned", error=str(exc), action="threads run where the kernel puts them")
            self.cpu = None
            return
        self.cpu = cpu

    def _apply(self, cpus: set[int]) -> None:
        _each_thread(lambda tid: os.sched_setaffinity(tid, cpus))


def _take_turns() -> None:
    """SCHED_BATCH for every thread, unless a policy other than the default was chosen for the daemon."""
    if os.sched_getscheduler(0) != os.SCHED_OTHER:
        return  # an operator's choice (systemd's CPUSchedulingPolicy=, chrt): kept
    # Refused (a sandbox without sched_setscheduler): the threads preempt each other as before, which costs
    # CPU but nothing else; the pinning's own warning already tells of a sandbox stricter than the unit.
    with contextlib.suppress(OSError):
        _each_thread(lambda tid: os.sched_setscheduler(tid, os.SCHED_BATCH, os.sched_param(0)))


def _each_thread(apply: Callable[[int], None]) -> None:
    # Every thread there is now; threads started later inherit the mask and policy of the one that starts them.
    for task in Path("/proc/self/task").iterdir():
        try:
            apply(int(task.name))
        except ProcessLookupError:
            continue  # the thread ended meanwhile
