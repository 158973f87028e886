"""One CPU at a time (faxdropd/daemon/onecpu.py): the daemon's threads share one CPU, move together off a CPU
other work crowds, and are left to the kernel when `one_cpu: false` or when pinning is refused.

Real processes and the real kernel: affinities are read back from /proc, the crowding is a real busy process.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from daemonkit import DaemonProcess, write_config

from faxdropd.daemon.onecpu import CROWDED, Times, quieter
from faxdropd.emulator.server import EmulatorServer

ALLOWED = set(os.sched_getaffinity(0))
pytestmark = pytest.mark.skipif(len(ALLOWED) < 2, reason="needs two CPUs to choose between")


def _masks(pid: int) -> set[str]:
    """Each thread's Cpus_allowed_list (e.g. "1" or "0-1")."""
    masks = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        for line in (task / "status").read_text().splitlines():
            if line.startswith("Cpus_allowed_list:"):
                masks.add(line.split(":", 1)[1].strip())
    return masks


def _policies(pid: int) -> set[int]:
    """Each thread's scheduling policy (os.SCHED_OTHER, os.SCHED_BATCH, ...)."""
    return {os.sched_getscheduler(int(task.name)) for task in Path(f"/proc/{pid}/task").iterdir()}


def _cpus(mask: str) -> set[int]:
    cpus: set[int] = set()
    for part in mask.split(","):
        low, _, high = part.partition("-")
        cpus.update(range(int(low), int(high or low) + 1))
    return cpus


@pytest.mark.parametrize("one_cpu", [True, False])
def test_the_daemons_threads_share_one_cpu(
    tmp_path: Path, emulator: EmulatorServer, daemons: list[DaemonProcess], one_cpu: bool
) -> None:
    hot = tmp_path / "hot"
    hot.mkdir()
    extra = {} if one_cpu else {"one_cpu": False}
    d = DaemonProcess(write_config(tmp_path, emulator.url, [{"path": str(hot)}], extra=extra), tmp_path / "d.log")
    daemons.append(d)
    d.start()
    assert d.proc is not None
    masks = _masks(d.proc.pid)
    if one_cpu:
        (mask,) = masks  # every thread the same
        assert len(_cpus(mask)) == 1 and _cpus(mask) <= ALLOWED
        # ...taking turns: no thread preempts another when woken (the threads started later inherit it)
        assert _policies(d.proc.pid) == {os.SCHED_BATCH}
    else:
        assert {frozenset(_cpus(m)) for m in masks} == {frozenset(ALLOWED)}
        assert _policies(d.proc.pid) == {os.SCHED_OTHER}
    assert d.stop() == 0


def _times(busy: dict[int, int], own: float) -> tuple[Times, Times]:
    """Two readings 100 ticks apart on every CPU; `busy` ticks of those on each, `own` seconds ours."""
    tick = os.sysconf("SC_CLK_TCK")
    before = Times(dict.fromkeys(busy, 0), dict.fromkeys(busy, 0), 0.0)
    return before, Times(dict(busy), dict.fromkeys(busy, 100), own * 100 / tick)


def test_a_crowded_cpu_is_left_for_the_quietest() -> None:
    # CPU 0 busy 90 %, of which ours 10 %: others crowd it; CPU 2 is the quietest.
    before, after = _times({0: 90, 1: 50, 2: 5}, own=0.10)
    assert quieter(before, after, 0, {0, 1, 2}) == 2
    # The same 90 % is nearly all our own work: stay (moving would only bring it along).
    before, after = _times({0: 90, 1: 50, 2: 5}, own=0.85)
    assert quieter(before, after, 0, {0, 1, 2}) is None
    # Others' load just under the margin above the quietest: stay.
    busy = round(100 * CROWDED) - 1
    before, after = _times({0: busy, 1: 0}, own=0.0)
    assert quieter(before, after, 0, {0, 1}) is None
    # A CPU outside the allowed set is never chosen.
    before, after = _times({0: 90, 1: 0, 2: 80}, own=0.0)
    assert quieter(before, after, 0, {0, 2}) is None


# The busy neighbour spins until its parent is gone, so a failing or killed test leaves no CPU hog behind.
_HOG = "import os\nparent = os.getppid()\nwhile os.getppid() == parent: pass"
_MOVE = textwrap.dedent(
    f"""
    import os, subprocess, sys, threading, time
    from faxdropd.daemon.onecpu import OneCpu
    waiting = threading.Event()
    threading.Thread(target=waiting.wait, daemon=True).start()  # a thread started before the pinning
    cpu = OneCpu(every=0.5)
    cpu.start()
    first = cpu.cpu
    hog = subprocess.Popen([sys.executable, "-c", {_HOG!r}])
    try:
        os.sched_setaffinity(hog.pid, {{first}})
        deadline = time.monotonic() + 20
        while cpu.cpu == first and time.monotonic() < deadline:
            time.sleep(0.1)
            cpu.review()
    finally:
        hog.kill()
        hog.wait()
    masks = {{tuple(sorted(os.sched_getaffinity(int(t)))) for t in os.listdir("/proc/self/task")}}
    print(first, cpu.cpu, sorted(masks))
    """
)


def test_the_threads_move_together_off_a_busy_cpu() -> None:
    proc = subprocess.run([sys.executable, "-c", _MOVE], capture_output=True, text=True, timeout=60, check=True)
    first, now, masks = proc.stdout.splitlines()[-1].split(" ", 2)
    assert now != "None" and now != first, proc.stdout + proc.stderr
    assert masks.strip() == f"[({now},)]"  # every thread, the one started before the pinning too


_REFUSED = textwrap.dedent(
    """
    import os
    from faxdropd.daemon.onecpu import OneCpu
    cpu = OneCpu()
    cpu.start()
    cpu._pin(4095)  # no such CPU: the kernel refuses (EINVAL), as a sandbox refuses with EPERM
    print(cpu.cpu, sorted(os.sched_getaffinity(0)) == sorted(cpu.allowed))
    """
)


def test_a_refused_pinning_leaves_the_threads_to_the_kernel() -> None:
    proc = subprocess.run([sys.executable, "-c", _REFUSED], capture_output=True, text=True, timeout=60, check=True)
    assert proc.stdout.splitlines()[-1].split() == ["None", "True"], proc.stdout + proc.stderr
    assert "daemon.cpu_unpinned" in proc.stdout + proc.stderr
