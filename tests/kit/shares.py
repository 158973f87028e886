"""Real network shares on loopback for tests: an sshfs mount of a private sshd, and a private smbd.

Hot folders of faxdropd often live on network shares, where files written by another host give no
inotify events and where the server can vanish under the daemon. Mocks cannot show that, so these
helpers run the real servers (on 127.0.0.1 only) and the real FUSE client.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import pytest

LOOPBACK = "127.0.0.1"

# Debian keeps daemons in /usr/sbin, which a non-login PATH may lack.
_EXTRA_PATH = ("/usr/sbin", "/sbin", "/usr/bin", "/bin")


class ShareUnavailable(RuntimeError):
    """A tool or kernel feature that a share needs is missing on this machine."""


def find_tool(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path=os.pathsep.join(_EXTRA_PATH))
    if found is None:
        raise ShareUnavailable(f"{name!r} not found (see tests/kit/SHARES_REQUIREMENTS.txt)")
    return found


def wait_for(condition: Callable[[], bool], timeout: float, what: str, interval: float = 0.02) -> None:
    """Poll until condition() is true; raise TimeoutError naming `what` once the deadline passes."""
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout:.1f}s waiting for {what}")
        time.sleep(interval)


def free_port() -> int:
    # The port is released before the server binds it; callers retry on a bind failure.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return int(s.getsockname()[1])


def port_accepts(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex((LOOPBACK, port)) == 0


def _exited_or_listening(proc: subprocess.Popen[bytes], port: int) -> bool:
    return proc.poll() is not None or port_accepts(port)


def _unescape_mount_field(value: str) -> str:
    # /proc/self/mounts octal-escapes space, tab, newline and backslash.
    for code, char in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
        value = value.replace(code, char)
    return value


def mount_fstype(path: str | os.PathLike[str]) -> str | None:
    """fstype of the mount whose mount point is exactly `path`, per /proc/self/mounts (last one wins)."""
    target = os.path.realpath(path)
    fstype: str | None = None
    with open("/proc/self/mounts", encoding="utf-8", errors="replace") as f:
        for line in f:
            fields = line.split()
            if len(fields) >= 3 and _unescape_mount_field(fields[1]) == target:
                fstype = fields[2]
    return fstype


def _descendants(root_pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="utf-8", errors="replace") as f:
                stat = f.read()
        except OSError:
            continue
        # The command name may contain spaces and parentheses; fields after the last ')' are fixed.
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    found: list[int] = []
    stack = [root_pid]
    while stack:
        for child in children.get(stack.pop(), []):
            found.append(child)
            stack.append(child)
    return found


def _kill_tree(proc: subprocess.Popen[bytes] | None, timeout: float = 10.0) -> None:
    """SIGKILL a process and all its descendants, also those that left its session (sshd's connection children)."""
    if proc is None:
        return
    if proc.poll() is None:
        victims = [*_descendants(proc.pid), proc.pid]
        for pid in victims:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        # Children still in the process group are reaped by init; ours we reap here.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=timeout)


def _ssh_keygen(path: Path) -> None:
    subprocess.run(
        [find_tool("ssh-keygen"), "-q", "-t", "ed25519", "-N", "", "-C", "faxdropd-test", "-f", str(path)],
        check=True,
        capture_output=True,
    )


class SshfsShare:
    """A private sshd on 127.0.0.1 serving a temp directory, mounted with sshfs on a temp mount point.

    `server_dir` is the directory as the server sees it: writing there is "another host" writing,
    which the mount sees only by listing (no inotify events). `mount_dir` is the FUSE mount.

    With `reconnect` (the default, as in most fstab entries) a dead server makes every call on the mount
    fail with EIO until the server is back, and the mount then recovers by itself. Without it sshfs exits
    on the lost connection and unmounts, so the hot folder silently turns into an empty local directory.
    `kill_client()` gives the third failure: sshfs dies, the mount stays and answers ENOTCONN.
    """

    def __init__(self, base: Path | None = None, *, reconnect: bool = True, start_timeout: float = 20.0) -> None:
        if not os.path.exists("/dev/fuse"):
            raise ShareUnavailable("/dev/fuse missing: FUSE is not available in this environment")
        self._sshd = find_tool("sshd")
        self._sshfs = find_tool("sshfs")
        self._fusermount = find_tool("fusermount3")
        find_tool("ssh")
        find_tool("ssh-keygen")
        self.reconnect = reconnect
        self.start_timeout = start_timeout
        self.root = Path(tempfile.mkdtemp(prefix="faxdropd-sshfs-", dir=base))
        self._server_dir = self.root / "server"
        self._mount_dir = self.root / "mnt"
        self._etc = self.root / "etc"
        for d in (self._server_dir, self._mount_dir, self._etc):
            d.mkdir()
        self.port = 0
        self._sshd_proc: subprocess.Popen[bytes] | None = None
        self._sshfs_proc: subprocess.Popen[bytes] | None = None
        self._sshd_log = self._etc / "sshd.log"
        self._sshfs_log = self._etc / "sshfs.log"

    @property
    def server_dir(self) -> Path:
        return self._server_dir

    @property
    def mount_dir(self) -> Path:
        return self._mount_dir

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> SshfsShare:
        self._make_keys()
        self.start_server()
        self.mount()
        return self

    def __enter__(self) -> SshfsShare:
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _make_keys(self) -> None:
        self._host_key = self._etc / "ssh_host_ed25519_key"
        self._client_key = self._etc / "id_ed25519"
        _ssh_keygen(self._host_key)
        _ssh_keygen(self._client_key)
        authorized = self._etc / "authorized_keys"
        authorized.write_text((self._etc / "id_ed25519.pub").read_text())
        authorized.chmod(0o600)

    def _write_sshd_config(self) -> Path:
        config = self._etc / "sshd_config"
        config.write_text(
            "\n".join(
                [
                    f"Port {self.port}",
                    f"ListenAddress {LOOPBACK}",
                    f"HostKey {self._host_key}",
                    f"PidFile {self._etc / 'sshd.pid'}",
                    f"AuthorizedKeysFile {self._etc / 'authorized_keys'}",
                    "PermitRootLogin prohibit-password",
                    "PubkeyAuthentication yes",
                    "PasswordAuthentication no",
                    "KbdInteractiveAuthentication no",
                    # No PAM: the test machine's PAM stack (and its logins) must play no part.
                    "UsePAM no",
                    # The temp tree's ownership and modes are whatever tempfile gives; don't let sshd judge them.
                    "StrictModes no",
                    "UseDNS no",
                    "PrintMotd no",
                    "AcceptEnv none",
                    # In-process sftp: no dependency on where the distribution keeps sftp-server.
                    "Subsystem sftp internal-sftp",
                    "LogLevel VERBOSE",
                    "",
                ]
            )
        )
        return config

    def start_server(self) -> None:
        """Start sshd; keeps the port of an earlier start so an existing mount can reconnect to it."""
        if self._sshd_proc is not None and self._sshd_proc.poll() is None:
            return
        # Debian's sshd refuses to start without its privilege separation directory (systemd normally makes it).
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        # A restart must reuse the old port (the mount reconnects there); a first start may retry on a new one.
        keep_port = self.port != 0
        last_error = ""
        for _ in range(1 if keep_port else 5):
            if not keep_port:
                self.port = free_port()
            config = self._write_sshd_config()
            with open(self._sshd_log, "ab") as log:
                # sshd must be started by absolute path: it re-executes itself for each connection.
                proc = subprocess.Popen(
                    [self._sshd, "-D", "-e", "-f", str(config)],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=log,
                    start_new_session=True,
                )
            self._sshd_proc = proc
            try:
                started = functools.partial(_exited_or_listening, proc, self.port)
                wait_for(started, self.start_timeout, f"sshd on port {self.port}")
            except TimeoutError:
                _kill_tree(proc)
                raise
            if proc.poll() is None:
                return
            last_error = self._sshd_log.read_text(errors="replace")[-2000:]
            self._sshd_proc = None
        raise RuntimeError(f"sshd did not start: {last_error}")

    def kill_server(self) -> None:
        """SIGKILL sshd and its per-connection processes, as if the file server lost power.

        The sftp session lives in sshd's per-connection child (internal-sftp), which has its own session
        id, so the whole process tree is killed, not only the process group.
        """
        _kill_tree(self._sshd_proc)
        self._sshd_proc = None
        wait_for(lambda: not port_accepts(self.port), 10.0, "sshd port to close")

    def kill_client(self) -> None:
        """SIGKILL the sshfs process (OOM killer, crash): the mount is left stale and answers ENOTCONN."""
        _kill_tree(self._sshfs_proc)
        self._sshfs_proc = None

    def restart_server(self) -> None:
        self.kill_server()
        self.start_server()

    def _sshfs_options(self) -> str:
        options = [
            f"IdentityFile={self._client_key}",
            "StrictHostKeyChecking=no",
            "UserKnownHostsFile=/dev/null",
            "BatchMode=yes",
            "LogLevel=ERROR",
            f"port={self.port}",
            # Server-side writes must show up in listings at once: no attribute, directory or data cache.
            "cache=no",
            "dir_cache=no",
            "entry_timeout=0",
            "attr_timeout=0",
            "negative_timeout=0",
            # A dead server must surface as an error promptly instead of a hung syscall.
            "ServerAliveInterval=2",
            "ServerAliveCountMax=2",
            "ConnectTimeout=5",
        ]
        if self.reconnect:
            options.append("reconnect")
        return ",".join(options)

    def mount(self) -> None:
        if self.is_mounted():
            return
        with open(self._sshfs_log, "ab") as log:
            # -f keeps sshfs as our child, so unmount/cleanup can see it exit instead of guessing.
            self._sshfs_proc = subprocess.Popen(
                [
                    self._sshfs,
                    "-f",
                    f"root@{LOOPBACK}:{self._server_dir}",
                    str(self._mount_dir),
                    "-o",
                    self._sshfs_options(),
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        proc = self._sshfs_proc
        try:
            wait_for(
                lambda: proc.poll() is not None or self.is_mounted(), self.start_timeout, "the sshfs mount to appear"
            )
        except TimeoutError:
            _kill_tree(proc)
            self._force_unmount()
            raise
        if not self.is_mounted():
            raise RuntimeError(f"sshfs exited with {proc.returncode}: {self._sshfs_log.read_text(errors='replace')}")
        if self.fstype() != "fuse.sshfs":
            raise RuntimeError(f"mount at {self._mount_dir} is {self.fstype()!r}, not fuse.sshfs")

    def remount(self) -> None:
        """Drop the mount (stale or not) and mount again; starts the server if it is down."""
        self.unmount()
        self.start_server()
        self.mount()

    def fstype(self) -> str | None:
        return mount_fstype(self._mount_dir)

    def is_mounted(self) -> bool:
        return self.fstype() is not None

    def _force_unmount(self) -> None:
        # Lazy: a dead server must never make the unmount hang or fail with EBUSY.
        for _ in range(5):
            if not self.is_mounted():
                return
            subprocess.run([self._fusermount, "-uz", str(self._mount_dir)], capture_output=True, check=False)
            if self.is_mounted():
                subprocess.run(["umount", "-l", str(self._mount_dir)], capture_output=True, check=False)

    def unmount(self) -> None:
        self._force_unmount()
        proc = self._sshfs_proc
        if proc is not None:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                _kill_tree(proc)
            self._sshfs_proc = None
        if self.is_mounted():
            raise RuntimeError(f"{self._mount_dir} is still mounted")

    def close(self) -> None:
        """Unmount, stop sshd, remove the temp tree; never leaves a stale mount behind."""
        try:
            self._force_unmount()
            _kill_tree(self._sshfs_proc)
            self._sshfs_proc = None
            self._force_unmount()
        finally:
            _kill_tree(self._sshd_proc)
            self._sshd_proc = None
            # Removing the tree through a live mount would delete through it (or fail); only remove when gone.
            if not self.is_mounted():
                shutil.rmtree(self.root, ignore_errors=True)

    def logs(self) -> str:
        parts = []
        for log in (self._sshd_log, self._sshfs_log):
            if log.exists():
                parts.append(f"--- {log.name}\n{log.read_text(errors='replace')[-4000:]}")
        return "\n".join(parts)


# -- Samba -----------------------------------------------------------------------------------------


class SambaShare:
    """A private smbd on 127.0.0.1 with one writable share over a temp directory and one user.

    The Unix user behind the SMB user is root (the test's own user), so files smbd writes are readable
    and writable by the test without chmod games.
    """

    share_name = "faxin"

    def __init__(
        self,
        base: Path | None = None,
        *,
        username: str = "root",
        password: str = "Fax-Drop-Test-1",
        start_timeout: float = 30.0,
    ) -> None:
        self._smbd = find_tool("smbd")
        self._smbpasswd = find_tool("smbpasswd")
        try:
            import smbclient  # noqa: F401
        except ImportError as exc:
            raise ShareUnavailable(f"python package smbprotocol missing ({exc})") from exc
        self.username = username
        self.password = password
        self.start_timeout = start_timeout
        self.root = Path(tempfile.mkdtemp(prefix="faxdropd-smb-", dir=base))
        self._server_dir = self.root / "share"
        self._server_dir.mkdir()
        self._state = self.root / "state"
        self.port = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_dir = self._state / "log"
        self._conf = self.root / "smb.conf"

    @property
    def server_dir(self) -> Path:
        return self._server_dir

    @property
    def host(self) -> str:
        return LOOPBACK

    def unc(self, name: str = "") -> str:
        """UNC path of `name` inside the share, as a Windows PC would write it."""
        base = rf"\\{LOOPBACK}\{self.share_name}"
        return base + ("\\" + name.replace("/", "\\") if name else "")

    def _write_conf(self) -> None:
        dirs = {
            "lock directory": "lock",
            "state directory": "statedir",
            "cache directory": "cache",
            "pid directory": "pid",
            "private dir": "private",
            "ncalrpc dir": "ncalrpc",
            "binddns dir": "binddns",
        }
        lines = ["[global]"]
        for key, sub in dirs.items():
            path = self._state / sub
            path.mkdir(parents=True, exist_ok=True)
            lines.append(f"  {key} = {path}")
        self._log_dir.mkdir(parents=True, exist_ok=True)
        passwd = self._state / "private" / "smbpasswd"
        lines += [
            "  server role = standalone server",
            "  workgroup = FAXTEST",
            "  netbios name = FAXTEST",
            "  security = user",
            f"  smb ports = {self.port}",
            "  bind interfaces only = yes",
            "  interfaces = lo",
            "  disable netbios = yes",
            f"  log file = {self._log_dir}/log.%m",
            "  max log size = 0",
            "  log level = 1",
            f"  smb passwd file = {passwd}",
            f"  passdb backend = smbpasswd:{passwd}",
            "  disable spoolss = yes",
            "  load printers = no",
            "  printing = bsd",
            "  printcap name = /dev/null",
            "  map to guest = never",
            "  usershare max shares = 0",
            # Kernel oplocks/leases need capabilities that containers often lack; they add nothing here.
            "  kernel oplocks = no",
            "  kernel share modes = no",
            "  posix locking = no",
            "",
            f"[{self.share_name}]",
            f"  path = {self._server_dir}",
            "  read only = no",
            "  browseable = yes",
            f"  valid users = {self.username}",
            "  create mask = 0666",
            "  directory mask = 0777",
            "",
        ]
        self._conf.write_text("\n".join(lines))

    def _add_user(self) -> None:
        subprocess.run(
            [self._smbpasswd, "-c", str(self._conf), "-a", "-s", self.username],
            input=f"{self.password}\n{self.password}\n".encode(),
            check=True,
            capture_output=True,
        )

    def start(self) -> SambaShare:
        last_error = ""
        for _ in range(5):
            self.port = free_port()
            self._write_conf()
            if not (self._state / "private" / "smbpasswd").exists():
                self._add_user()
            with open(self._log_dir / "smbd.out", "ab") as log:
                # Own session, and --no-process-group keeps smbd's helpers (notifyd, cleanupd...) in it,
                # so killing the group leaves nothing behind.
                proc = subprocess.Popen(
                    [self._smbd, "--foreground", "--no-process-group", "--debug-stdout", "-s", str(self._conf)],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=log,
                    start_new_session=True,
                )
            self._proc = proc
            try:
                started = functools.partial(_exited_or_listening, proc, self.port)
                wait_for(started, self.start_timeout, f"smbd on port {self.port}")
            except TimeoutError:
                self.stop()
                raise
            if proc.poll() is None:
                return self
            last_error = (self._log_dir / "smbd.out").read_text(errors="replace")[-3000:]
            self._proc = None
        raise RuntimeError(f"smbd did not start: {last_error}")

    def stop(self) -> None:
        proc = self._proc
        if proc is not None and proc.poll() is None:
            # SIGTERM first: smbd then stops and reaps its own helpers; SIGKILL of the tree is the fallback.
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)
        _kill_tree(proc)
        self._proc = None

    def close(self) -> None:
        try:
            self.stop()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> SambaShare:
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def __exit__(self, *exc: object) -> None:
        self.close()

    def client(self) -> SmbDropClient:
        return SmbDropClient(self.host, self.share_name, self.username, self.password, port=self.port)

    def logs(self) -> str:
        parts = []
        if self._log_dir.exists():
            for log in sorted(self._log_dir.iterdir()):
                parts.append(f"--- {log.name}\n{log.read_text(errors='replace')[-3000:]}")
        return "\n".join(parts)


@dataclass
class Checkpoint:
    """A point inside a chunked drop where the writer stops until the test lets it go on.

    After `after_chunks` chunks are on the server the writer sets `reached` and waits for `resume`, so
    a test can look at the half-written file without racing a sleep. For `write_preallocated`,
    `after_chunks=0` stops right after the file was sized, before any content.
    """

    after_chunks: int = 1
    reached: threading.Event = field(default_factory=threading.Event)
    resume: threading.Event = field(default_factory=threading.Event)
    timeout: float = 30.0

    def hit(self, chunks_done: int) -> None:
        if chunks_done != self.after_chunks:
            return
        self.reached.set()
        if not self.resume.wait(self.timeout):
            raise TimeoutError(f"checkpoint after {self.after_chunks} chunk(s) was never resumed")


class Drop:
    """One file drop, done in this thread or a background one; `wait()` returns when it is complete."""

    def __init__(self, name: str, work: Callable[[], None], background: bool) -> None:
        self.name = name
        self.error: BaseException | None = None
        self._done = threading.Event()
        self._thread: threading.Thread | None = None
        if background:
            self._thread = threading.Thread(target=self._run, args=(work,), name=f"smb-drop-{name}", daemon=True)
            self._thread.start()
        else:
            work()
            self._done.set()

    def _run(self, work: Callable[[], None]) -> None:
        try:
            work()
        except BaseException as exc:
            self.error = exc
        finally:
            self._done.set()

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def wait(self, timeout: float = 60.0) -> Drop:
        """Block until the drop is finished; re-raise whatever the writer raised."""
        if not self._done.wait(timeout):
            raise TimeoutError(f"drop of {self.name!r} not finished after {timeout:.1f}s")
        if self.error is not None:
            raise self.error
        return self


def _chunks(data: bytes, chunk_size: int) -> Iterator[bytes]:
    if chunk_size <= 0:
        raise ValueError("chunk_size must be positive")
    for offset in range(0, len(data), chunk_size):
        yield data[offset : offset + chunk_size]


class SmbDropClient:
    """Writes files into an SMB share the ways scanners and Windows PCs do, via smbprotocol's smbclient.

    Each client keeps its own connection cache, so shares on different ports (or a restarted server)
    never share a stale connection.
    """

    def __init__(self, host: str, share: str, username: str, password: str, *, port: int = 445) -> None:
        import smbclient

        self._smb = smbclient
        self.host = host
        self.share = share
        self.port = port
        self._cache: dict[str, Any] = {}
        self._session_kwargs: dict[str, Any] = {
            "username": username,
            "password": password,
            "port": port,
            "connection_cache": self._cache,
        }
        # Explicit NTLM: negotiate would try Kerberos first, which has no KDC here.
        smbclient.register_session(host, auth_protocol="ntlm", connection_timeout=10, **self._session_kwargs)

    def path(self, name: str) -> str:
        return rf"\\{self.host}\{self.share}\{name}"

    def close(self) -> None:
        self._smb.reset_connection_cache(fail_on_error=False, connection_cache=self._cache)

    def __enter__(self) -> SmbDropClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _open(self, name: str, mode: str) -> Any:
        # Unbuffered: every write() is one SMB WRITE, so what the server holds is exactly what was sent so far.
        return self._smb.open_file(self.path(name), mode=mode, buffering=0, **self._session_kwargs)

    def _write_chunks(self, f: Any, data: bytes, chunk_size: int, pause: float, checkpoint: Checkpoint | None) -> None:
        for done, chunk in enumerate(_chunks(data, chunk_size), start=1):
            f.write(chunk)
            if checkpoint is not None:
                checkpoint.hit(done)
            if pause > 0 and done * chunk_size < len(data):
                # The pause is the behaviour under test (a slow scanner), not a wait for a condition.
                time.sleep(pause)

    # -- writing styles ----------------------------------------------------------------------------

    def write_once(self, name: str, data: bytes, *, background: bool = False) -> Drop:
        """(a) The whole file in one create/write/close."""

        def work() -> None:
            with self._open(name, "wb") as f:
                f.write(data)

        return Drop(name, work, background)

    def write_chunked(
        self,
        name: str,
        data: bytes,
        *,
        chunk_size: int,
        pause: float,
        checkpoint: Checkpoint | None = None,
        background: bool = False,
    ) -> Drop:
        """(b) A slow scanner: the final name from the start, growing chunk by chunk with pauses."""

        def work() -> None:
            with self._open(name, "wb") as f:
                self._write_chunks(f, data, chunk_size, pause, checkpoint)

        return Drop(name, work, background)

    def write_via_temp(
        self,
        name: str,
        data: bytes,
        *,
        temp_name: str | None = None,
        chunk_size: int | None = None,
        pause: float = 0.0,
        checkpoint: Checkpoint | None = None,
        background: bool = False,
    ) -> Drop:
        """(c) Write under a temp name (default `name.part`; scanners often use `~scan.tmp`), then rename.

        The rename is an SMB rename without replace, as Windows' MoveFile does: it fails if `name` exists.
        """
        temp = temp_name if temp_name is not None else f"{name}.part"

        def work() -> None:
            with self._open(temp, "wb") as f:
                self._write_chunks(f, data, chunk_size or max(len(data), 1), pause, checkpoint)
            self._smb.rename(self.path(temp), self.path(name), **self._session_kwargs)

        return Drop(name, work, background)

    def write_preallocated(
        self,
        name: str,
        data: bytes,
        *,
        chunk_size: int,
        pause: float = 0.0,
        how: str = "set_eof",
        checkpoint: Checkpoint | None = None,
        background: bool = False,
    ) -> Drop:
        """(d) A Windows copy: size the file to its final length first, then fill it in chunks.

        `how="set_eof"` sets the end of file (SetEndOfFile, an SMB SET_INFO FileEndOfFileInformation);
        `how="zero_byte"` seeks to the last byte and writes a zero there. Either way the file sits at its
        final size with a zero tail until the last chunk lands.
        """
        if how not in ("set_eof", "zero_byte"):
            raise ValueError(f"unknown pre-allocation {how!r}")

        def work() -> None:
            with self._open(name, "wb") as f:
                if data:
                    if how == "set_eof":
                        f.truncate(len(data))
                    else:
                        f.seek(len(data) - 1)
                        f.write(b"\0")
                    f.seek(0)
                    if checkpoint is not None and checkpoint.after_chunks == 0:
                        checkpoint.hit(0)
                self._write_chunks(f, data, chunk_size, pause, checkpoint)

        return Drop(name, work, background)


# -- pytest fixtures -------------------------------------------------------------------------------


def unavailable(reason: str) -> NoReturn:
    """Skip a test whose share cannot exist here; under CI a missing tool is a broken setup, so fail."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"share kit unavailable under CI: {reason}", pytrace=False)
    pytest.skip(reason)


@contextlib.contextmanager
def started_sshfs_share(**kwargs: Any) -> Iterator[SshfsShare]:
    """A mounted SshfsShare for the duration of the block; skips (fails under CI) when it cannot exist here."""
    try:
        share = SshfsShare(**kwargs)
    except ShareUnavailable as exc:
        unavailable(str(exc))
    try:
        share.start()
    except Exception as exc:
        logs = share.logs()
        share.close()
        raise RuntimeError(f"sshfs share failed to start\n{logs}") from exc
    try:
        yield share
    finally:
        share.close()


@contextlib.contextmanager
def started_samba_share(**kwargs: Any) -> Iterator[SambaShare]:
    """A running SambaShare for the duration of the block; skips (fails under CI) when it cannot exist here."""
    try:
        share = SambaShare(**kwargs)
    except ShareUnavailable as exc:
        unavailable(str(exc))
    try:
        share.start()
    except Exception as exc:
        logs = share.logs()
        share.close()
        raise RuntimeError(f"samba share failed to start\n{logs}") from exc
    try:
        yield share
    finally:
        share.close()


@pytest.fixture(name="sshfs_share")
def sshfs_share_fixture() -> Iterator[SshfsShare]:
    """A mounted sshfs share of a private sshd; always unmounted and stopped afterwards."""
    with started_sshfs_share() as share:
        yield share


@pytest.fixture(name="samba_share")
def samba_share_fixture() -> Iterator[SambaShare]:
    """A running private smbd with one share; always stopped and removed afterwards."""
    with started_samba_share() as share:
        yield share


__all__ = [
    "Checkpoint",
    "Drop",
    "SambaShare",
    "ShareUnavailable",
    "SmbDropClient",
    "SshfsShare",
    "mount_fstype",
    "samba_share_fixture",
    "sshfs_share_fixture",
    "started_samba_share",
    "started_sshfs_share",
    "wait_for",
]
