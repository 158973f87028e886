"""Smoke tests proving the share kit's shares are real: a FUSE sshfs mount and a Samba server on loopback."""

from __future__ import annotations

import errno
import os
import queue
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import pytest
from kit.shares import (  # noqa: F401  (the fixtures are used by name)
    Checkpoint,
    SambaShare,
    SshfsShare,
    mount_fstype,
    samba_share_fixture,
    sshfs_share_fixture,
    started_samba_share,
    started_sshfs_share,
    wait_for,
)
from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers.inotify import InotifyObserver

# How long "nothing arrived" must hold. inotify delivers a local event within milliseconds, so a
# second of silence while the listing already shows the file is a clear negative.
SILENCE_WINDOW = 1.0
DEADLINE = 15.0

PAYLOAD = bytes(range(1, 256)) * 257  # 65,535 bytes with no zero byte, so a zero tail can only be pre-allocation


class _Collect(FileSystemEventHandler):
    def __init__(self) -> None:
        self.events: queue.Queue[FileSystemEvent] = queue.Queue()

    def on_any_event(self, event: FileSystemEvent) -> None:
        self.events.put(event)


def _names(event: FileSystemEvent) -> set[str]:
    paths = [event.src_path, getattr(event, "dest_path", "")]
    return {os.path.basename(os.fsdecode(p)) for p in paths if p}


def _wait_event_for(events: queue.Queue[FileSystemEvent], name: str, timeout: float) -> FileSystemEvent | None:
    """First event naming `name` within `timeout`, or None; events for other names are dropped."""
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        try:
            event = events.get(timeout=left)
        except queue.Empty:
            return None
        if name in _names(event):
            return event
    return None


@pytest.fixture
def mount_watch(sshfs_share: SshfsShare) -> Iterator[_Collect]:
    handler = _Collect()
    observer = InotifyObserver()
    observer.schedule(handler, str(sshfs_share.mount_dir), recursive=False)
    observer.start()
    try:
        yield handler
    finally:
        observer.stop()
        observer.join(timeout=10)


# -- sshfs -----------------------------------------------------------------------------------------


def test_sshfs_mount_is_fuse_sshfs(sshfs_share: SshfsShare) -> None:
    assert mount_fstype(sshfs_share.mount_dir) == "fuse.sshfs"
    assert sshfs_share.mount_dir.stat().st_dev != sshfs_share.server_dir.stat().st_dev


def test_sshfs_server_side_write_is_listed_but_gives_no_inotify_event(
    sshfs_share: SshfsShare, mount_watch: _Collect
) -> None:
    remote = "from-other-host.pdf"
    (sshfs_share.server_dir / remote).write_bytes(PAYLOAD)

    wait_for(lambda: remote in os.listdir(sshfs_share.mount_dir), DEADLINE, f"{remote} in the mount's listing")
    assert _wait_event_for(mount_watch.events, remote, SILENCE_WINDOW) is None, "a remote write gave an inotify event"
    # Read only now: opening the file through the mount is a local access and does raise an event.
    assert (sshfs_share.mount_dir / remote).read_bytes() == PAYLOAD

    # Control: the same watch does see a write made through the mount, so the silence above means something.
    local = "through-the-mount.pdf"
    (sshfs_share.mount_dir / local).write_bytes(PAYLOAD)
    assert _wait_event_for(mount_watch.events, local, DEADLINE) is not None, "the watch on the mount is deaf"
    assert (sshfs_share.server_dir / local).read_bytes() == PAYLOAD


def test_sshfs_dead_server_fails_with_enotconn_or_eio_then_recovers(
    sshfs_share: SshfsShare, record_property: Callable[[str, object], None]
) -> None:
    (sshfs_share.server_dir / "a.pdf").write_bytes(b"%PDF-1.4\n")
    wait_for(lambda: "a.pdf" in os.listdir(sshfs_share.mount_dir), DEADLINE, "a.pdf in the listing")

    sshfs_share.kill_server()
    seen: dict[str, int] = {}
    for name, call in (
        ("listdir", lambda: os.listdir(sshfs_share.mount_dir)),
        ("stat", lambda: os.stat(sshfs_share.mount_dir / "a.pdf")),
    ):
        with pytest.raises(OSError) as failure:
            call()
        assert failure.value.errno in (errno.ENOTCONN, errno.EIO), failure.value
        seen[name] = failure.value.errno
    record_property("dead_server_errno", {k: errno.errorcode[v] for k, v in seen.items()})
    # A dead server must not look like an unmounted, empty hot folder.
    assert mount_fstype(sshfs_share.mount_dir) == "fuse.sshfs"

    sshfs_share.start_server()
    wait_for(lambda: _lists(sshfs_share.mount_dir, "a.pdf"), DEADLINE, "the mount to reconnect")


def test_sshfs_dead_client_leaves_a_stale_mount_that_remount_repairs(sshfs_share: SshfsShare) -> None:
    sshfs_share.kill_client()
    with pytest.raises(OSError) as failure:
        os.listdir(sshfs_share.mount_dir)
    assert failure.value.errno == errno.ENOTCONN

    sshfs_share.remount()
    (sshfs_share.server_dir / "b.pdf").write_bytes(b"x")
    wait_for(lambda: _lists(sshfs_share.mount_dir, "b.pdf"), DEADLINE, "b.pdf after remount")


def test_sshfs_close_leaves_no_mount_even_with_the_server_dead() -> None:
    share = SshfsShare()
    try:
        share.start()
    except Exception:
        share.close()
        raise
    mount_dir = share.mount_dir
    share.kill_server()
    share.close()
    assert mount_fstype(mount_dir) is None
    assert not share.root.exists()


def _lists(directory: Path, name: str) -> bool:
    try:
        return name in os.listdir(directory)
    except OSError:
        return False


# -- Samba -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("style", "kwargs"),
    [
        ("write_once", {}),
        ("write_chunked", {"chunk_size": 8192, "pause": 0.01}),
        ("write_via_temp", {}),
        ("write_via_temp", {"temp_name": "~scan.tmp", "chunk_size": 4096, "pause": 0.01}),
        ("write_preallocated", {"chunk_size": 16384, "pause": 0.01}),
        ("write_preallocated", {"chunk_size": 16384, "how": "zero_byte"}),
    ],
)
@pytest.mark.parametrize("background", [False, True], ids=["blocking", "background"])
def test_smb_style_leaves_exact_bytes(
    samba_share: SambaShare, style: str, kwargs: dict[str, object], background: bool
) -> None:
    with samba_share.client() as client:
        drop = getattr(client, style)("scan-0001.pdf", PAYLOAD, background=background, **kwargs)
        drop.wait(DEADLINE)
    assert drop.done
    assert os.listdir(samba_share.server_dir) == ["scan-0001.pdf"]
    assert (samba_share.server_dir / "scan-0001.pdf").read_bytes() == PAYLOAD


@pytest.mark.parametrize("chunks_before_look", [0, 1])
def test_smb_preallocated_sits_at_final_size_with_a_zero_tail(samba_share: SambaShare, chunks_before_look: int) -> None:
    target = samba_share.server_dir / "copy.pdf"
    checkpoint = Checkpoint(after_chunks=chunks_before_look)
    filled = 4096 * chunks_before_look
    with samba_share.client() as client:
        drop = client.write_preallocated("copy.pdf", PAYLOAD, chunk_size=4096, checkpoint=checkpoint, background=True)
        try:
            assert checkpoint.reached.wait(DEADLINE), "writer never reached the checkpoint"
            midway = target.read_bytes()
        finally:
            checkpoint.resume.set()
        drop.wait(DEADLINE)
    assert len(midway) == len(PAYLOAD)
    assert midway[:filled] == PAYLOAD[:filled]
    assert midway[filled:] == bytes(len(PAYLOAD) - filled)
    assert target.read_bytes() == PAYLOAD


def test_smb_chunked_and_temp_styles_are_observable_midway(samba_share: SambaShare) -> None:
    growing = Checkpoint(after_chunks=2)
    renamed = Checkpoint(after_chunks=1)
    with samba_share.client() as client:
        slow = client.write_chunked("slow.pdf", PAYLOAD, chunk_size=1000, pause=0, checkpoint=growing, background=True)
        temp = client.write_via_temp(
            "final.pdf", PAYLOAD, temp_name="~scan.tmp", chunk_size=1000, checkpoint=renamed, background=True
        )
        try:
            assert growing.reached.wait(DEADLINE) and renamed.reached.wait(DEADLINE)
            assert (samba_share.server_dir / "slow.pdf").read_bytes() == PAYLOAD[:2000]
            assert sorted(os.listdir(samba_share.server_dir)) == ["slow.pdf", "~scan.tmp"]
        finally:
            growing.resume.set()
            renamed.resume.set()
        slow.wait(DEADLINE)
        temp.wait(DEADLINE)
    assert sorted(os.listdir(samba_share.server_dir)) == ["final.pdf", "slow.pdf"]
    assert (samba_share.server_dir / "final.pdf").read_bytes() == PAYLOAD


def test_smb_drop_errors_surface_from_a_background_thread(samba_share: SambaShare) -> None:
    with samba_share.client() as client:
        client.write_once("exists.pdf", b"1")
        # Windows' rename does not replace: a second temp-style drop of the same name must fail, visibly.
        drop = client.write_via_temp("exists.pdf", b"2", background=True)
        with pytest.raises(OSError):
            drop.wait(DEADLINE)
    assert (samba_share.server_dir / "exists.pdf").read_bytes() == b"1"


def test_samba_listens_on_loopback_only(samba_share: SambaShare) -> None:
    listening: list[str] = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table, encoding="ascii") as f:
            for line in list(f)[1:]:
                local, state = line.split()[1], line.split()[3]
                if state == "0A" and int(local.split(":")[1], 16) == samba_share.port:
                    listening.append(local.split(":")[0])
    # 127.0.0.1 and ::1 as the kernel prints them (little-endian hex words).
    loopback = {"0100007F", "00000000000000000000000001000000"}
    assert listening, "smbd is not listening on its port"
    assert set(listening) <= loopback, listening


# -- missing tools ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("ci", "outcome"), [("", pytest.skip.Exception), ("true", pytest.fail.Exception)])
@pytest.mark.parametrize("opener", [started_sshfs_share, started_samba_share], ids=["sshfs", "samba"])
def test_missing_tool_skips_locally_but_fails_under_ci(
    monkeypatch: pytest.MonkeyPatch,
    ci: str,
    outcome: type[BaseException],
    opener: Callable[[], AbstractContextManager[object]],
) -> None:
    monkeypatch.setenv("CI", ci)
    monkeypatch.setattr(shutil, "which", lambda *args, **kwargs: None)
    with pytest.raises(outcome, match="not found"), opener():
        pytest.fail("the share started without its tools")
