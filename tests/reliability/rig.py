"""A test rig for the reliability suite: one real emulator, one hot folder, one daemon subprocess.

Usable from fixtures and from a hypothesis state machine (which builds a fresh rig per example).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
from pathlib import Path
from typing import Any

import requests
from daemonkit import PASSWORD, DaemonProcess, drop, wait_for, write_config

from faxdropd.document.sample import make_sample_pdf
from faxdropd.emulator.server import EmulatorServer
from reliability.invariants import Report, check, filed_count, quiescent, settled

# Generous: 2 shared cores, other engineers' suites running beside ours.
QUIESCE_TIMEOUT = float(os.environ.get("FAXDROPD_QUIESCE_TIMEOUT", "600"))
SETTLED_LOOKS = 10


def make_emulator(store: Path, status_delay: float = 0.2) -> EmulatorServer:
    # The query limit is raised on both sides only so tracking keeps pace with hundreds of jobs; the 6/min
    # budget itself is proven elsewhere (T5), not here.
    return EmulatorServer(
        username="demo", password=PASSWORD, store=store, status_delay=status_delay, query_limit=600, query_window=60.0
    ).start()


def content(kind: str, tag: str, rng: random.Random) -> bytes:
    """Distinct content per tag: tiny text, a ~100 KB PDF (inline) or a 400 KB-2 MB PDF (chunked)."""
    if kind == "tiny":
        return f"fax {tag}\n".encode() * rng.randint(1, 20)
    if kind == "inline":
        return make_sample_pdf(pages=rng.randint(1, 3), text=f"inline {tag}", pad_to=rng.randint(80_000, 120_000))
    return make_sample_pdf(pages=rng.randint(1, 5), text=f"chunked {tag}", pad_to=rng.randint(400_000, 2_000_000))


class Rig:
    def __init__(
        self,
        root: Path,
        emulator: EmulatorServer,
        *,
        track: bool = True,
        extra: dict[str, Any] | None = None,
        defaults: dict[str, Any] | None = None,
        hot: Path | None = None,
        state_dir: Path | None = None,
        folders: list[dict[str, Any]] | None = None,
    ) -> None:
        self.root = root
        self.emulator = emulator
        self.hot = hot or root / "hot"
        self.hot.mkdir(exist_ok=True)
        # More hot folders (their config entries, `path` included) for paths one folder cannot take: a broadcast
        # folder with several numbers, a folder with a cover page. Every check covers all of them.
        self.hots = [self.hot] + [Path(f["path"]) for f in folders or []]
        for extra_hot in self.hots[1:]:
            extra_hot.mkdir(exist_ok=True)
        self.state_dir = state_dir or root / "state"
        self.inputs: list[bytes] = []
        self.kills = 0
        self._settled_looks: list[frozenset[str] | None] = []
        cfg_extra: dict[str, Any] = {
            "state_dir": str(self.state_dir),
            "delivery": {"track": track, "poll_interval": 0.5, "reconcile_grace": 0.5, "query_limit_per_minute": 600},
            "limits": {"faxes_per_hour": None, "duplicate_window": 0},
            **(extra or {}),
        }
        self.config = write_config(
            root,
            emulator.url,
            [{"path": str(self.hot), "to": "+99999990"}, *(folders or [])],
            extra=cfg_extra,
            defaults={"stable_seconds": 0.3, **(defaults or {})},
        )
        self.daemon = DaemonProcess(self.config, root / "daemon.log")

    # -- the daemon ---------------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self.daemon.proc is not None and self.daemon.proc.poll() is None

    def start(self, env: dict[str, str] | None = None, wait: bool = True) -> None:
        self.daemon.start(wait=wait, extra_env=env)

    def start_armed(self, crash_at: str, timeout: float = 30.0) -> None:
        """Start with FAXDROPD_CRASH_AT=crash_at; return at `daemon.ready` or when the hook already killed it (a job
        recovered at start may reach the point before the daemon reports ready)."""
        log = self.daemon.log_path
        offset = log.stat().st_size if log.exists() else 0

        def ready() -> bool:
            with log.open("rb") as f:
                f.seek(offset)
                return b'"daemon.ready"' in f.read()

        self.start(env={"FAXDROPD_CRASH_AT": crash_at}, wait=False)
        wait_for(lambda: not self.running or ready(), timeout, what=f"daemon.ready or {crash_at}")

    def died_by_hook(self, within: float) -> bool:
        """Wait up to `within` seconds for an armed daemon to die; True when its crash point killed it (counted)."""
        assert self.daemon.proc is not None
        try:
            code = self.daemon.proc.wait(within)
        except subprocess.TimeoutExpired:
            return False
        # The hook dies by SIGKILL; any other end is the daemon failing on its own.
        assert code == -signal.SIGKILL, f"armed daemon exited with {code}:\n{self.daemon.log_text()[-3000:]}"
        self.kills += 1
        return True

    def kill(self) -> None:
        if self.running:
            assert self.daemon.proc is not None
            self.daemon.proc.send_signal(signal.SIGKILL)
            self.daemon.proc.wait(30)
            self.kills += 1

    def wait_exit(self, timeout: float = 120.0) -> int:
        assert self.daemon.proc is not None
        try:
            return self.daemon.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"daemon still running after {timeout}s:\n{self.daemon.log_text()[-3000:]}") from None

    def stop(self) -> None:
        if self.running:
            assert self.daemon.stop(120) == 0

    # -- inputs -------------------------------------------------------------------------------------------

    def drop(self, name: str, data: bytes, hot: Path | None = None) -> None:
        drop(hot or self.hot, name, data)
        self.inputs.append(data)

    def fault(self, **spec: Any) -> None:
        r = requests.post(self.emulator.url.rsplit("/", 1)[0] + "/_emulator/faults", json=spec, timeout=10)
        r.raise_for_status()

    def clear_faults(self) -> None:
        self.emulator.emulator.clear_faults()

    # -- the end ------------------------------------------------------------------------------------------

    def quiesce(self, timeout: float = QUIESCE_TIMEOUT) -> None:
        """Run the daemon (without crash hooks) until every input is filed and every job is final."""
        if not self.running:
            self.start()
        expected = len(self.inputs)
        try:
            wait_for(
                lambda: quiescent(self.hots, self.state_dir, expected) or self._settled() or not self.running,
                timeout,
                interval=0.5,
                what=f"{expected} inputs filed",
            )
        except AssertionError:
            raise AssertionError(
                f"not quiescent: {filed_count(self.hots)}/{expected} filed\n{self.daemon.log_text()[-4000:]}"
            ) from None
        assert self.running, f"daemon died while quiescing:\n{self.daemon.log_text()[-4000:]}"

    def _settled(self) -> bool:
        """Nothing in flight and the same jobs unfinished for SETTLED_LOOKS looks in a row (0.5 s apart): a healthy
        daemon finishes a job within one commit of filing it, so only a stuck one stays."""
        now = settled(self.hots, self.state_dir)
        self._settled_looks = [*self._settled_looks[-(SETTLED_LOOKS - 1) :], now]
        return len(self._settled_looks) == SETTLED_LOOKS and now is not None and len(set(self._settled_looks)) == 1

    def check(self, *, all_sent: bool = False) -> Report:
        return check(self.hots, self.state_dir, self.inputs, self.emulator, all_sent=all_sent)


def hosts(tmp: Path, emulator: EmulatorServer, n: int, **extra: Any) -> list[Rig]:
    """N hosts on one share: each its own root, state_dir and instance name, all watching tmp/hot.

    `extra` is each host's config on top of the Rig's (a shared journal's URL, limits, a lease): what the
    several-host suites (test_multihost.py on their own journals, test_pg_failover.py on one) differ in.
    """
    hot = tmp / "hot"
    hot.mkdir(exist_ok=True)
    rigs = []
    for i in range(n):
        root = tmp / f"host{i}"
        root.mkdir()
        config = {"instance": f"h{i}", **extra}
        rigs.append(
            Rig(root, emulator, hot=hot, state_dir=root / "state", extra=config, defaults={"rescan_interval": 0.5})
        )
    return rigs


def debug_config(root: Path, url: str) -> tuple[Path, Path]:
    """(config, hot folder) for a redaction run: JSON logs at DEBUG, and a limit that makes 300 KB a chunked
    upload, so both send paths (and every log line they can write) meet the scan."""
    root.mkdir()
    hot = root / "hot"
    hot.mkdir()
    cfg = write_config(
        root,
        url,
        [{"path": str(hot), "to": "+99999990"}],
        extra={
            "log": {"format": "json", "level": "debug"},
            "interfax": {"inline_max_bytes": 4096, "chunk_size": 65_536},
        },
    )
    return cfg, hot
