"""Who is asking: HTTP Basic against a users file of scrypt hashes, or a header set by a trusted reverse proxy.

The users file holds `name:scrypt$N$r$p$salt$hash` lines (salt and hash in base64): the parameters travel
with each hash, so raising N later leaves existing lines valid. Checks compare in constant time, and a name
that is not in the file still costs one scrypt run, so timing does not tell which names exist.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import threading
import time
from collections import deque
from pathlib import Path

SCHEME = "scrypt"
N_DEFAULT = 2**15
N_MIN, N_MAX = 2**14, 2**17
R, P = 8, 1
DKLEN = 32
# hashlib.scrypt needs 128 * N * r bytes; its default cap (32 MiB) refuses N=2**17.
MAXMEM = 2**28
VERIFIED_FOR = 300.0  # seconds a verified name and password are taken without another scrypt run


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def hash_password(password: str, n: int = N_DEFAULT) -> str:
    if not N_MIN <= n <= N_MAX or n & (n - 1):
        raise ValueError(f"scrypt N must be a power of two from {N_MIN} to {N_MAX}")
    salt = os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=n, r=R, p=P, dklen=DKLEN, maxmem=MAXMEM)
    return f"{SCHEME}${n}${R}${P}${_b64(salt)}${_b64(digest)}"


# A well-formed hash of a random password: checked against when the name is unknown (equal work, no match).
_DECOY = f"{SCHEME}${N_MIN}${R}${P}${_b64(b'0' * 16)}${_b64(b'1' * DKLEN)}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n_text, r_text, p_text, salt_text, digest_text = stored.split("$")
        n, r, p = int(n_text), int(r_text), int(p_text)
        salt, digest = base64.b64decode(salt_text, validate=True), base64.b64decode(digest_text, validate=True)
    except (ValueError, binascii.Error):
        return False
    if scheme != SCHEME or not N_MIN <= n <= N_MAX or r != R or p != P or not digest:
        return False  # refuse parameters an attacker who can write the file could use to exhaust memory
    found = hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, dklen=len(digest), maxmem=MAXMEM)
    return hmac.compare_digest(found, digest)


def valid_name(name: str) -> bool:
    return bool(name) and ":" not in name and name.isprintable() and name == name.strip() and len(name) <= 64


def read_users(path: Path) -> dict[str, str]:
    users: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        name, sep, stored = line.strip().partition(":")
        if sep and not line.lstrip().startswith("#"):
            users[name] = stored
    return users


def write_user(path: Path, name: str, password: str, n: int = N_DEFAULT) -> bool:
    """Add or replace `name`'s line (0600, replaced atomically); True when the name was new."""
    if not valid_name(name):
        raise ValueError("a user name must be printable, without ':' or surrounding spaces, at most 64 characters")
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    kept = [line for line in lines if line.partition(":")[0] != name]
    kept.append(f"{name}:{hash_password(password, n)}")
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write("\n".join(kept) + "\n")
        out.flush()
        os.fsync(out.fileno())
    tmp.replace(path)
    return len(kept) > len(lines)


class Users:
    """The users file, re-read when it changes (a `web-user` run needs no daemon restart)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stamp: tuple[int, int] | None = None
        self._users: dict[str, str] = {}
        self._lock = threading.Lock()
        # Basic auth sends the password with every request (the dashboard polls every few seconds); a scrypt
        # run each time would cost the daemon ~50 ms of CPU per view. A pair that verified is remembered for
        # a while under an HMAC with a key that never leaves this process, never as the password itself.
        self._key = os.urandom(32)
        self._verified: dict[bytes, float] = {}

    def check(self, name: str, password: str) -> bool:
        token = hmac.new(self._key, f"{name}\0{password}".encode(), hashlib.sha256).digest()
        now = time.monotonic()
        with self._lock:
            try:
                st = self.path.stat()
                if (st.st_mtime_ns, st.st_size) != self._stamp:
                    self._users, self._stamp = read_users(self.path), (st.st_mtime_ns, st.st_size)
                    self._verified.clear()  # a changed or removed line takes effect at once
            except OSError:
                self._users, self._stamp = {}, None
                self._verified.clear()
            if now - self._verified.get(token, -VERIFIED_FOR) < VERIFIED_FOR:
                return True
            stored = self._users.get(name)
        ok = verify_password(password, stored if stored is not None else _DECOY) and stored is not None
        if ok:
            with self._lock:
                if len(self._verified) > 1000:
                    self._verified.clear()
                self._verified[token] = now
        return ok


class FailureLimit:
    """At most `limit` failed logins per client address in `window` seconds; further attempts wait it out."""

    def __init__(self, limit: int = 5, window: float = 60.0) -> None:
        self.limit, self.window = limit, window
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, client: str, now: float) -> deque[float]:
        times = self._failures.setdefault(client, deque())
        while times and now - times[0] > self.window:
            times.popleft()
        return times

    def blocked(self, client: str) -> bool:
        with self._lock:
            blocked = len(self._recent(client, time.monotonic())) >= self.limit
            if not self._failures.get(client):
                self._failures.pop(client, None)
            return blocked

    def failed(self, client: str) -> None:
        with self._lock:
            if len(self._failures) > 10_000:  # many addresses: forget the idle ones rather than grow
                self._failures = {k: v for k, v in self._failures.items() if v}
            self._recent(client, time.monotonic()).append(time.monotonic())
