"""Shared machinery of the benchmarks: the emulator and the daemon as real subprocesses, documents, /proc
readings (RSS, CPU) and the result record every benchmark returns.

Everything runs as separate processes on loopback so that the daemon, the wire baseline and the emulator
never share a GIL: a ratio measured inside one interpreter would mostly measure lock contention.
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import requests
import yaml

REPO = Path(__file__).resolve().parent.parent
PASSWORD = "bench-Pa55word!"  # the emulator's account for every benchmark; never a real credential
NUMBER = "+12125550100"
CLK_TCK = os.sysconf("SC_CLK_TCK")


# -- results -------------------------------------------------------------------------------------------------


@dataclass
class Result:
    """One measured figure. `baseline` is the same quantity for the raw-wire run where there is one."""

    bench: str
    metric: str
    value: float
    unit: str
    target: str = ""
    met: bool | None = None  # None: informational, no target
    baseline: float | None = None
    note: str = ""
    samples: list[float] = field(default_factory=list)  # every repeat; `value` is their median

    def as_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def of(
        cls, bench: str, metric: str, samples: list[float], unit: str, *, target: str = "", better: str = "",
        bound: float | None = None, baseline: float | None = None, note: str = "", digits: int = 3,
    ) -> Result:  # fmt: skip
        """A figure from repeats: the median is the value, every repeat is kept for the min-max."""
        value = round(statistics.median(samples), digits)
        met = None
        if bound is not None:
            met = value <= bound if better == "lower" else value >= bound
        return cls(bench, metric, value, unit, target, met, baseline, note, [round(x, digits) for x in samples])


@dataclass
class Context:
    quick: bool
    workdir: Path
    repeats: int = 3
    log: Callable[[str], None] = field(default=lambda text: print(text, file=sys.stderr, flush=True))

    def dir(self, name: str) -> Path:
        """A fresh directory per benchmark run; removed by the runner at the end."""
        path = self.workdir / name
        if path.exists():
            shutil.rmtree(path)
        path.mkdir(parents=True)
        return path


def at_least(ctx: Context, times: int) -> int:
    """Repeats for a cheap figure that a noisy moment sways: `times` or more, but a smoke run (--quick) keeps
    its own count."""
    return ctx.repeats if ctx.quick else max(ctx.repeats, times)


def repeated(ctx: Context, fn: Callable[[int], float], times: int | None = None) -> list[float]:
    """`fn(i)` for each repeat (fresh processes every time: nothing warm carries over)."""
    out = []
    for i in range(times or ctx.repeats):
        out.append(fn(i))
        ctx.log(f"  repeat {i + 1}: {out[-1]:g}")
    return out


def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile: with 50 samples p99 is the largest, which is what we want to report."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-q * len(ordered) // 100))))
    return ordered[rank - 1]


# -- /proc readings ------------------------------------------------------------------------------------------


def proc_status_kb(pid: int, key: str) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise KeyError(key)


def cpu_seconds(pid: int) -> float:
    """utime + stime of the whole process (all threads), from /proc/<pid>/stat."""
    with open(f"/proc/{pid}/stat") as f:
        text = f.read()
    fields = text[text.rindex(")") + 2 :].split()  # the command name may contain spaces; skip past it
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


class RssSampler:
    """Samples VmRSS every `interval` seconds in a thread; VmHWM is read at the end as the authoritative peak
    (sampling can miss a short spike, the kernel's high-water mark cannot)."""

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        self.pid, self.interval = pid, interval
        self.max_kb = 0
        self.hwm_kb = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def sample(self) -> None:
        with contextlib.suppress(OSError, KeyError, ValueError):
            self.max_kb = max(self.max_kb, proc_status_kb(self.pid, "VmRSS"))
            self.hwm_kb = max(self.hwm_kb, proc_status_kb(self.pid, "VmHWM"))

    def stop(self) -> None:
        if not self._stop.is_set():
            self.sample()
            self._stop.set()
            self._thread.join(2)

    @property
    def peak_mb(self) -> float:
        return max(self.max_kb, self.hwm_kb) / 1024


# -- documents -----------------------------------------------------------------------------------------------


def make_pdf(size: int, text: str) -> bytes:
    """A valid one-page PDF of at least `size` bytes; `text` makes each document's content unique."""
    from faxdropd.document.sample import make_sample_pdf

    return make_sample_pdf(pages=1, text=text, pad_to=size)


def stage(directory: Path, count: int, size: int, prefix: str = "doc") -> list[Path]:
    """Write `count` documents into a staging directory on the same filesystem as the hot folder, so that
    dropping them is one rename each and "dropped at once" really is at once."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    big: bytes | None = None
    for i in range(count):
        path = directory / f"{prefix}-{i:05d}.pdf"
        if size > 1_000_000:
            # Big documents: one padded body, the unique text only matters for small ones (duplicate check
            # is off in every benchmark config anyway). Avoids building 20 MB in Python per file.
            big = big or make_pdf(size, f"{prefix} big")
            path.write_bytes(big)
        else:
            path.write_bytes(make_pdf(size, f"{prefix} {i}"))
        paths.append(path)
    return paths


def drop_all(paths: list[Path], hot: Path) -> float:
    """Rename every staged file into the hot folder; returns the wall time right after the last rename."""
    for path in paths:
        path.rename(hot / path.name)
    return time.time()


# -- the emulator --------------------------------------------------------------------------------------------


_EMULATOR_CODE = """
import sys, threading
from faxdropd import log
from faxdropd.emulator.server import EmulatorServer
log.configure("json", "info")
server = EmulatorServer(password=sys.argv[1], status_delay=float(sys.argv[2]), query_limit=int(sys.argv[3])).start()
print(f"InterFAX emulator listening on {server.url}", flush=True)
threading.Event().wait()
"""


class EmulatorProc:
    """`python -m faxdropd emulator --port 0` in its own process; the URL comes from its first line."""

    def __init__(self, status_delay: float = 0.5, query_limit: int | None = None) -> None:
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the process; closed in stop()
        if query_limit is None:
            cmd = [sys.executable, "-m", "faxdropd", "emulator", "--port", "0", "--password", PASSWORD,
                   "--status-delay", str(status_delay)]  # fmt: skip
        else:
            # The command line keeps InterFAX's 6 status queries a minute; a run that must not wait out the
            # budget's minute (its CPU figure would count a minute of idling) starts the same server itself.
            cmd = [sys.executable, "-c", _EMULATOR_CODE, PASSWORD, str(status_delay), str(query_limit)]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self._stderr, text=True, cwd=REPO)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if "listening on " not in line:
            self.proc.kill()
            self.proc.wait(5)
            self._stderr.seek(0)
            raise RuntimeError(f"emulator did not start: {line!r}\n{self._stderr.read()[-2000:].decode()}")
        # Whatever it prints later is read and dropped: a full pipe would stop the emulator mid-answer.
        threading.Thread(target=self.proc.stdout.read, name="emulator-stdout", daemon=True).start()
        self.url = line.split("listening on ", 1)[1].split()[0]
        self.base = self.url.rsplit("/", 1)[0]
        self.pid = self.proc.pid

    def fault(self, **spec: Any) -> None:
        requests.post(f"{self.base}/_emulator/faults", json=spec, timeout=10).raise_for_status()

    def ledger(self) -> Any:
        return requests.get(f"{self.base}/_emulator/ledger", timeout=30).json()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self._stderr.close()

    def __enter__(self) -> EmulatorProc:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# -- the daemon ----------------------------------------------------------------------------------------------


def write_config(
    base: Path, url: str, folders: list[dict[str, Any]], *, workers: int = 4, stable: float = 0.5,
    watch: str = "events", poll_interval: float = 2.0, rescan_interval: float = 60.0,
    delivery: dict[str, Any] | None = None, extra: dict[str, Any] | None = None,
) -> Path:  # fmt: skip
    data: dict[str, Any] = {
        "interfax": {
            "url": url,
            "username": "demo",
            "password_env": "FAXDROPD_BENCH_PASSWORD",
            "timeout": 120,
            "connect_timeout": 5,
        },
        "state_dir": str(base / "state"),
        "workers": workers,
        "log": {"format": "json", "level": "info"},
        # track false: a document is filed as "accepted" at submission, so we time submission, not delivery.
        "delivery": delivery or {"track": False},
        "retry": {"initial": 1, "factor": 2, "cap": 5, "lifetime": "1h"},
        # No hourly cap and no duplicate check: the benchmarks send thousands of faxes, some identical.
        "limits": {"faxes_per_hour": None, "duplicate_window": 0},
        "defaults": {
            "stable_seconds": stable,
            "watch": watch,
            "poll_interval": poll_interval,
            "rescan_interval": rescan_interval,
            "allow": ["+1*"],
            "to": NUMBER,
        },
        "folders": folders,
        **(extra or {}),
    }
    path = base / "faxdropd.yaml"
    path.write_text(yaml.safe_dump(data))
    path.chmod(0o600)
    return path


class DaemonProc:
    """`python -m faxdropd -c CFG run` with JSON logs in a file; events are read back from that file."""

    def __init__(self, config: Path, log_path: Path) -> None:
        self.config, self.log_path = config, log_path
        self.proc: subprocess.Popen[bytes] | None = None
        self._offset = 0
        self._events: list[dict[str, Any]] = []
        self._partial = b""
        self._profiler: subprocess.Popen[bytes] | None = None
        self._counts: collections.Counter[str] = collections.Counter()

    def start(self, timeout: float = 60.0) -> DaemonProc:
        env = {**os.environ, "FAXDROPD_BENCH_PASSWORD": PASSWORD}
        for key in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "JOURNAL_STREAM", "INVOCATION_ID"):
            env.pop(key, None)
        with self.log_path.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "faxdropd", "-c", str(self.config), "run"],
                stdout=out, stderr=subprocess.STDOUT, env=env, cwd=REPO,
            )  # fmt: skip
        self.wait_event("daemon.ready", 1, timeout)
        profile_dir = os.environ.get("BENCH_PROFILE_DIR")
        if profile_dir:
            # Profiling run (BENCH_PROFILE_DIR=dir): py-spy attaches after start-up and samples every thread,
            # idle ones left out; it writes the collapsed stacks when stop() interrupts it. Timings of such a
            # run are disturbed by the sampling and should not be reported.
            out_file = Path(profile_dir) / f"{self.log_path.parent.name}.txt"
            self._profiler = subprocess.Popen(
                ["py-spy", "record", "-r", "200", "-f", "raw", "-o", str(out_file), "--pid", str(self.pid),
                 # BENCH_PROFILE_GIL=1: only the thread holding the GIL, i.e. where the daemon's Python CPU goes.
                 *(["--gil"] if os.environ.get("BENCH_PROFILE_GIL") else [])],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            time.sleep(0.5)
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def events(self) -> list[dict[str, Any]]:
        """All JSON log records so far; reads only what was appended since the last call."""
        with self.log_path.open("rb") as f:
            f.seek(self._offset)
            data = f.read()
        self._offset += len(data)
        data = self._partial + data
        lines = data.split(b"\n")
        self._partial = lines.pop()
        for line in lines:
            with contextlib.suppress(ValueError):
                record = json.loads(line)
                self._events.append(record)
                self._counts[record.get("event", "")] += 1
        return self._events

    def count(self, *names: str) -> int:
        # Counted as records are read: the scale run has 60,000 records, and the waiting loop must not
        # take CPU from the daemon on a 2-core machine.
        self.events()
        return sum(self._counts[name] for name in names)

    def wait_event(self, name: str, count: int, timeout: float, *, also: tuple[str, ...] = ()) -> float:
        """Wait until `count` records named `name` (or `also`) exist; returns the seconds waited."""
        started = time.monotonic()
        deadline = started + timeout
        while True:
            if self.count(name, *also) >= count:
                return time.monotonic() - started
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"daemon exited ({self.proc.returncode}):\n{self.tail()}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.count(name, *also)}/{count} {name} after {timeout:.0f} s\n{self.tail()}")
            time.sleep(0.1 if count < 100 else 0.5)

    def tail(self, lines: int = 15) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def times(self, name: str) -> list[tuple[float, dict[str, Any]]]:
        """(epoch seconds, record) of every record named `name`, from the structlog ISO timestamps."""
        return [(datetime.fromisoformat(e["timestamp"]).timestamp(), e) for e in self.events()
                if e.get("event") == name]  # fmt: skip

    def problems(self) -> list[dict[str, Any]]:
        return [e for e in self.events() if e.get("level") in ("warning", "error", "critical")]

    def stop(self) -> None:
        if self._profiler is not None:
            self._profiler.send_signal(signal.SIGINT)
            self._profiler.wait(60)
            self._profiler = None
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)

    def __enter__(self) -> DaemonProc:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.contextmanager
def daemon_on(
    base: Path, emulator: EmulatorProc | str, folders: list[dict[str, Any]], **options: Any
) -> Iterator[DaemonProc]:
    """A configured daemon, started and ready, stopped on exit. `emulator` may be a bare URL for runs that
    never send (the daemon connects only when it has something to send)."""
    base.mkdir(parents=True, exist_ok=True)
    for folder in folders:
        Path(folder["path"]).mkdir(parents=True, exist_ok=True)
    url = emulator if isinstance(emulator, str) else emulator.url
    config = write_config(base, url, folders, **options)
    daemon = DaemonProc(config, base / "daemon.log")
    with daemon:
        yield daemon


def free_port() -> int:
    """A loopback port free right now (the daemon binds it a moment later; nothing else here takes ports)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def fmt(value: float, digits: int = 3) -> str:
    return f"{value:.{digits}g}" if abs(value) < 1000 else f"{value:.0f}"
