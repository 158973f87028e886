"""powerfs: a FUSE filesystem that forgets, at a "power cut", everything that was never made durable.

Like LazyFS for file data, and unlike LazyFS also for directory entries:

* file data (and size, mode, times) become durable when the file is fsync'd or fdatasync'd;
* a directory's entry list (create, mkdir, unlink, rmdir, rename, link, symlink) becomes durable when that directory
  is fsync'd; a rename needs both the source and the destination directory synced. A new inode reached only through
  a durable entry comes back with whatever data of it was durable (empty if it was never fsync'd).

Every process sees the volatile state at once, as on a real kernel. `cut` replaces the volatile state by the durable
one; handles opened before the cut fail with EIO from then on, since a power cut also ends every process.

The server keeps both states in memory (inodes, so hard links and rename keep identity) and writes the durable state
to STORAGE (`image.json` and one blob per file inode) at every durable point, so that a new server started over the
same STORAGE after a cut sees exactly what survived. `--seed DIR` imports a directory tree as the first durable state.

Run as `python powerfs.py STORAGE MOUNTPOINT [--seed DIR] [--cut-after-ops N] [--allow-other]`. It serves in the
foreground and listens for JSON-line commands (`cut`, `stats`, `ping`) on a UNIX socket: `--control PATH`,
STORAGE/control.sock by default; a name starting with `@` is an abstract socket (no path, so no 108-byte limit on deep
test directories). `PowerFs` below starts and drives such a server from a test.

mfusepy (ctypes over Debian's libfuse3-3) rather than pyfuse3: it needs no compiler, no libfuse3-dev and no trio, and
the path-based high-level API is all this model needs.

Limits of the model, on purpose or by the high-level FUSE API:

* stricter than ext4/xfs, whose journal commits a rename as one transaction: here a rename synced on one side only
  leaves the file under both names (destination synced) or under neither (source synced), the outcomes a program
  must not depend on either way; a directory can so end up with two names;
* metadata (mode, owner, times) is durable with the file's fsync, or as it was when a synced entry first made the
  inode durable; nothing becomes durable by itself after a while (no periodic writeback, no auto_da_alloc);
* a cut is all-or-nothing per durable point: no torn writes or reordering inside one fsync'd file;
* fstat/fchmod/futimens on a file that is open but no longer has a name fail with ESTALE (the kernel asks libfuse by
  node, and a hard-removed node has no path); read, write, ftruncate and fsync on it work;
* locks (flock, fcntl) are the kernel's local ones: right for processes of this machine, and a cut does not drop them
  (the test kills their holders);
* no xattrs, no devices or sockets, no permission checks of its own (see --allow-other); memory-resident, so for
  test-sized data only.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import errno
import functools
import json
import logging
import os
import random
import shutil
import socket
import stat
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CONTROL_SOCKET = "control.sock"
IMAGE = "image.json"
BLOBS = "blobs"
ROOT_INO = 1
RENAME_NOREPLACE = 1
UTIME_NOW = (1 << 30) - 1
UTIME_OMIT = (1 << 30) - 2


@dataclass
class Inode:
    ino: int
    mode: int
    uid: int = 0
    gid: int = 0
    atime: int = 0
    mtime: int = 0
    ctime: int = 0
    data: bytearray = field(default_factory=bytearray)
    entries: dict[str, int] = field(default_factory=dict)
    target: str = ""
    nlink: int = 0
    # Bytes written since the last durable point of this inode: what a cut throws away, for the report.
    dirty: int = 0

    @property
    def is_dir(self) -> bool:
        return stat.S_ISDIR(self.mode)

    def meta(self) -> dict[str, Any]:
        return {"mode": self.mode, "uid": self.uid, "gid": self.gid, "atime": self.atime, "mtime": self.mtime,
                "ctime": self.ctime, "entries": self.entries, "target": self.target}  # fmt: skip


@dataclass
class Handle:
    ino: int
    epoch: int


@dataclass
class Stats:
    fsyncs: int = 0
    fdatasyncs: int = 0
    fsyncdirs: int = 0
    cuts: int = 0
    ops: int = 0
    last_cut_bytes_dropped: int = 0
    last_cut_inodes_dropped: int = 0
    last_cut_dirs_reverted: int = 0


def _now() -> int:
    return time.time_ns()


def fs_error(code: int) -> OSError:
    return OSError(code, os.strerror(code))


class Model:
    """The two states and the operations on them; no FUSE here, so the semantics can be read (and tested) alone."""

    def __init__(self, storage: Path) -> None:
        self.storage = storage
        self.lock = threading.RLock()
        self.durable: dict[int, Inode] = {}
        self.volatile: dict[int, Inode] = {}
        self.stats = Stats()
        self.epoch = 0
        self.next_ino = ROOT_INO + 1

    # --- durable image on disk -------------------------------------------------------------------------------

    def load(self, seed: Path | None) -> None:
        image = self.storage / IMAGE
        (self.storage / BLOBS).mkdir(parents=True, exist_ok=True)
        if image.exists():
            raw = json.loads(image.read_text())
            for key, meta in raw["inodes"].items():
                ino = int(key)
                node = Inode(ino=ino, mode=meta["mode"], uid=meta["uid"], gid=meta["gid"], atime=meta["atime"],
                             mtime=meta["mtime"], ctime=meta["ctime"], entries=dict(meta["entries"]),
                             target=meta["target"])  # fmt: skip
                blob = self.storage / BLOBS / str(ino)
                if stat.S_ISREG(node.mode) and blob.exists():
                    node.data = bytearray(blob.read_bytes())
                self.durable[ino] = node
        else:
            now = _now()
            self.durable[ROOT_INO] = Inode(ino=ROOT_INO, mode=stat.S_IFDIR | 0o755, atime=now, mtime=now, ctime=now)
            if seed is not None:
                self._import(seed)
        self._drop_unreachable(self.durable)
        self._count_links(self.durable)
        self.volatile = copy.deepcopy(self.durable)
        self.next_ino = max(self.durable) + 1
        self._persist(set(self.durable), full=True)

    def _import(self, seed: Path) -> None:
        by_host_ino: dict[tuple[int, int], int] = {}

        def add(path: Path, parent: Inode, name: str) -> None:
            st = path.lstat()
            key = (st.st_dev, st.st_ino)
            if key in by_host_ino:
                parent.entries[name] = by_host_ino[key]
                return
            node = Inode(ino=self.next_ino, mode=st.st_mode, uid=st.st_uid, gid=st.st_gid, atime=st.st_atime_ns,
                         mtime=st.st_mtime_ns, ctime=st.st_ctime_ns)  # fmt: skip
            self.next_ino += 1
            by_host_ino[key] = node.ino
            self.durable[node.ino] = node
            parent.entries[name] = node.ino
            if stat.S_ISDIR(st.st_mode):
                for child in sorted(path.iterdir()):
                    add(child, node, child.name)
            elif stat.S_ISLNK(st.st_mode):
                node.target = os.readlink(path)
            elif stat.S_ISREG(st.st_mode):
                node.data = bytearray(path.read_bytes())

        root = self.durable[ROOT_INO]
        for child in sorted(seed.iterdir()):
            add(child, root, child.name)

    def _persist(self, dirty_blobs: set[int], full: bool = False) -> None:
        """Write the durable state to STORAGE: blobs first, then the image that points at them (atomic replace)."""
        blobs = self.storage / BLOBS
        for ino in dirty_blobs:
            node = self.durable.get(ino)
            if node is None or not stat.S_ISREG(node.mode):
                continue
            tmp = blobs / f"{ino}.tmp"
            tmp.write_bytes(node.data)
            tmp.replace(blobs / str(ino))
        image = {"inodes": {str(ino): node.meta() for ino, node in self.durable.items()}}
        tmp = self.storage / (IMAGE + ".tmp")
        tmp.write_text(json.dumps(image))
        tmp.replace(self.storage / IMAGE)
        if full:
            for blob in blobs.iterdir():
                if blob.name.endswith(".tmp") or int(blob.name) not in self.durable:
                    blob.unlink()

    @staticmethod
    def _reachable(table: dict[int, Inode]) -> set[int]:
        seen = {ROOT_INO}
        todo = [ROOT_INO]
        while todo:
            node = table[todo.pop()]
            for child in node.entries.values():
                if child not in seen and child in table:
                    seen.add(child)
                    todo.append(child)
        return seen

    def _drop_unreachable(self, table: dict[int, Inode]) -> None:
        keep = self._reachable(table)
        for ino in list(table):
            if ino not in keep:
                del table[ino]
        for node in table.values():
            node.entries = {name: ino for name, ino in node.entries.items() if ino in table}

    @staticmethod
    def _count_links(table: dict[int, Inode]) -> None:
        for node in table.values():
            node.nlink = 2 if node.is_dir else 0
        for node in table.values():
            for child in node.entries.values():
                sub = table[child]
                sub.nlink += 1 if not sub.is_dir else 0
                if sub.is_dir:
                    node.nlink += 1

    # --- durable points ----------------------------------------------------------------------------------------

    def _durable_copy(self, node: Inode, with_data: bool) -> Inode:
        old = self.durable.get(node.ino)
        twin = Inode(ino=node.ino, mode=node.mode, uid=node.uid, gid=node.gid, atime=node.atime, mtime=node.mtime,
                     ctime=node.ctime, target=node.target)  # fmt: skip
        if with_data:
            twin.data = bytearray(node.data)
        elif old is not None:
            twin.data = old.data
        if old is not None and old.is_dir:
            twin.entries = old.entries
        return twin

    def fsync(self, ino: int, datasync: bool) -> None:
        node = self.volatile[ino]
        if node.is_dir:
            self.fsyncdir(ino)
            return
        if datasync:
            self.stats.fdatasyncs += 1
        else:
            self.stats.fsyncs += 1
        self.durable[ino] = self._durable_copy(node, with_data=True)
        node.dirty = 0
        self._persist({ino})

    def fsyncdir(self, ino: int) -> None:
        self.stats.fsyncdirs += 1
        node = self.volatile[ino]
        twin = self._durable_copy(node, with_data=False)
        twin.entries = dict(node.entries)
        self.durable[ino] = twin
        for child in node.entries.values():
            if child not in self.durable:
                # A new inode is born durable with its metadata only: its data needs its own fsync.
                sub = self.volatile[child]
                born = Inode(ino=child, mode=sub.mode, uid=sub.uid, gid=sub.gid, atime=sub.atime, mtime=sub.mtime,
                             ctime=sub.ctime, target=sub.target)  # fmt: skip
                self.durable[child] = born
        self._persist(set())

    def cut(self) -> dict[str, int]:
        stats = self.stats
        durable = copy.deepcopy(self.durable)
        self._drop_unreachable(durable)
        self._count_links(durable)
        stats.last_cut_bytes_dropped = sum(n.dirty for n in self.volatile.values() if n.ino in durable)
        stats.last_cut_bytes_dropped += sum(len(n.data) for n in self.volatile.values() if n.ino not in durable)
        stats.last_cut_inodes_dropped = sum(1 for ino in self.volatile if ino not in durable)
        stats.last_cut_dirs_reverted = sum(
            1 for n in self.volatile.values() if n.is_dir and n.ino in durable and n.entries != durable[n.ino].entries
        )
        stats.cuts += 1
        self.volatile = durable
        self.epoch += 1
        self._persist(set(), full=True)
        return self.report()

    def report(self) -> dict[str, int]:
        return dict(vars(self.stats))

    # --- volatile namespace ------------------------------------------------------------------------------------

    def lookup(self, path: str) -> Inode:
        node = self.volatile[ROOT_INO]
        for part in path.split("/"):
            if not part:
                continue
            if not node.is_dir:
                raise fs_error(errno.ENOTDIR)
            child = node.entries.get(part)
            if child is None:
                raise fs_error(errno.ENOENT)
            node = self.volatile[child]
        return node

    def parent_of(self, path: str) -> tuple[Inode, str]:
        head, _, name = path.rstrip("/").rpartition("/")
        parent = self.lookup(head or "/")
        if not parent.is_dir:
            raise fs_error(errno.ENOTDIR)
        return parent, name

    def new_inode(self, mode: int, owner: tuple[int, int] | None = None) -> Inode:
        now = _now()
        uid, gid = owner if owner is not None else (os.getuid(), os.getgid())
        node = Inode(ino=self.next_ino, mode=mode, uid=uid, gid=gid, atime=now, mtime=now, ctime=now)
        # A directory's own "." counts; its name in the parent is added by link_into like any other name.
        node.nlink = 1 if node.is_dir else 0
        self.next_ino += 1
        self.volatile[node.ino] = node
        return node

    def link_into(self, parent: Inode, name: str, node: Inode) -> None:
        parent.entries[name] = node.ino
        node.nlink += 1
        if node.is_dir:
            parent.nlink += 1
        parent.mtime = parent.ctime = _now()

    def unlink_from(self, parent: Inode, name: str) -> Inode:
        node = self.volatile[parent.entries.pop(name)]
        node.nlink -= 1
        if node.is_dir:
            parent.nlink -= 1
        node.ctime = parent.mtime = parent.ctime = _now()
        return node

    def forget_if_unused(self, node: Inode, open_inos: set[int]) -> None:
        if node.nlink <= 0 and node.ino not in open_inos:
            self.volatile.pop(node.ino, None)


def serve(storage: Path, mountpoint: Path, seed: Path | None, cut_after_ops: int | None, debug: bool,
          control_address: str, allow_other: bool = False) -> None:  # fmt: skip
    import mfusepy

    model = Model(storage)
    model.load(seed)
    handles: dict[int, Handle] = {}
    counter = iter(range(1, 1 << 62))

    def open_inos() -> set[int]:
        return {h.ino for h in handles.values() if h.epoch == model.epoch}

    def by_handle(fh: int | None) -> Inode | None:
        if fh is None or fh == 0:
            return None
        handle = handles.get(fh)
        if handle is None:
            return None
        if handle.epoch != model.epoch or handle.ino not in model.volatile:
            raise fs_error(errno.EIO)
        return model.volatile[handle.ino]

    def node_of(path: str | None, fh: int | None = None) -> Inode:
        node = by_handle(fh)
        if node is not None:
            return node
        if path is None:
            raise fs_error(errno.EBADF)
        return model.lookup(path)

    def caller() -> tuple[int, int]:
        uid, gid, _pid = mfusepy.fuse_get_context()
        return uid, gid

    def new_handle(node: Inode) -> int:
        fh = next(counter)
        handles[fh] = Handle(node.ino, model.epoch)
        return fh

    def locked(method: Callable[..., Any]) -> Callable[..., Any]:
        # wraps keeps the signature: mfusepy inspects create's parameters to decide what to pass.
        @functools.wraps(method)
        def wrapper(*args: Any) -> Any:
            with model.lock:
                model.stats.ops += 1
                if cut_after_ops is not None and model.stats.ops == cut_after_ops:
                    model.cut()
                return method(*args)

        return wrapper

    class PowerOps(mfusepy.Operations):  # type: ignore[misc]
        use_ns = True
        flag_nopath = True
        flag_nullpath_ok = True

        @locked
        def getattr(self, path: str | None, fh: int | None = None) -> dict[str, Any]:
            node = node_of(path, fh)
            size = len(node.target) if stat.S_ISLNK(node.mode) else len(node.data)
            return {"st_mode": node.mode, "st_ino": node.ino, "st_nlink": node.nlink, "st_size": size,
                    "st_uid": node.uid, "st_gid": node.gid, "st_atime": node.atime, "st_mtime": node.mtime,
                    "st_ctime": node.ctime, "st_blocks": (size + 511) // 512, "st_blksize": 4096}  # fmt: skip

        @locked
        def readlink(self, path: str) -> str:
            node = model.lookup(path)
            if not stat.S_ISLNK(node.mode):
                raise fs_error(errno.EINVAL)
            return node.target

        def _make(self, path: str, mode: int) -> Inode:
            parent, name = model.parent_of(path)
            if name in parent.entries:
                raise fs_error(errno.EEXIST)
            node = model.new_inode(mode, caller())
            model.link_into(parent, name, node)
            return node

        @locked
        def mknod(self, path: str, mode: int, dev: int) -> int:
            if not (stat.S_ISREG(mode) or stat.S_ISFIFO(mode)):
                raise fs_error(errno.EPERM)
            self._make(path, mode)
            return 0

        @locked
        def mkdir(self, path: str, mode: int) -> int:
            self._make(path, stat.S_IFDIR | (mode & 0o7777))
            return 0

        @locked
        def symlink(self, target: str, source: str) -> int:
            # mfusepy passes (link path, link contents).
            node = self._make(target, stat.S_IFLNK | 0o777)
            node.target = source
            return 0

        @locked
        def link(self, target: str, source: str) -> int:
            node = model.lookup(source)
            if node.is_dir:
                raise fs_error(errno.EPERM)
            parent, name = model.parent_of(target)
            if name in parent.entries:
                raise fs_error(errno.EEXIST)
            model.link_into(parent, name, node)
            node.ctime = _now()
            return 0

        @locked
        def unlink(self, path: str) -> int:
            parent, name = model.parent_of(path)
            if name not in parent.entries:
                raise fs_error(errno.ENOENT)
            if model.volatile[parent.entries[name]].is_dir:
                raise fs_error(errno.EISDIR)
            model.forget_if_unused(model.unlink_from(parent, name), open_inos())
            return 0

        @locked
        def rmdir(self, path: str) -> int:
            parent, name = model.parent_of(path)
            if name not in parent.entries:
                raise fs_error(errno.ENOENT)
            node = model.volatile[parent.entries[name]]
            if not node.is_dir:
                raise fs_error(errno.ENOTDIR)
            if node.entries:
                raise fs_error(errno.ENOTEMPTY)
            model.unlink_from(parent, name)
            node.nlink = 0
            model.forget_if_unused(node, open_inos())
            return 0

        @locked
        def rename2(self, old: str, new: str, flags: int) -> int:
            if flags & ~RENAME_NOREPLACE:
                raise fs_error(errno.EINVAL)
            src_parent, src_name = model.parent_of(old)
            dst_parent, dst_name = model.parent_of(new)
            if src_name not in src_parent.entries:
                raise fs_error(errno.ENOENT)
            node = model.volatile[src_parent.entries[src_name]]
            if node.is_dir and new.startswith(old.rstrip("/") + "/"):
                raise fs_error(errno.EINVAL)
            victim_ino = dst_parent.entries.get(dst_name)
            if victim_ino == node.ino:
                return 0
            if victim_ino is not None:
                if flags & RENAME_NOREPLACE:
                    raise fs_error(errno.EEXIST)
                victim = model.volatile[victim_ino]
                if victim.is_dir and not node.is_dir:
                    raise fs_error(errno.EISDIR)
                if node.is_dir and not victim.is_dir:
                    raise fs_error(errno.ENOTDIR)
                if victim.is_dir and victim.entries:
                    raise fs_error(errno.ENOTEMPTY)
            # One step under the lock: no reader ever sees neither or both names.
            model.unlink_from(src_parent, src_name)
            if victim_ino is not None:
                victim = model.unlink_from(dst_parent, dst_name)
                if victim.is_dir:
                    victim.nlink = 0
                model.forget_if_unused(victim, open_inos())
            model.link_into(dst_parent, dst_name, node)
            node.ctime = _now()
            return 0

        def rename(self, old: str, new: str) -> int:
            return int(self.rename2(old, new, 0))

        @locked
        def chmod(self, path: str | None, mode: int, fh: int | None = None) -> int:
            node = node_of(path, fh)
            node.mode = stat.S_IFMT(node.mode) | (mode & 0o7777)
            node.ctime = _now()
            return 0

        @locked
        def chown(self, path: str | None, uid: int, gid: int, fh: int | None = None) -> int:
            node = node_of(path, fh)
            if uid != -1:
                node.uid = uid
            if gid != -1:
                node.gid = gid
            node.ctime = _now()
            return 0

        @locked
        def truncate(self, path: str | None, length: int, fh: int | None = None) -> int:
            node = node_of(path, fh)
            if node.is_dir:
                raise fs_error(errno.EISDIR)
            old = len(node.data)
            if length < old:
                del node.data[length:]
            else:
                node.data.extend(bytes(length - old))
            node.dirty += abs(length - old)
            node.mtime = node.ctime = _now()
            return 0

        @locked
        def utimens(self, path: str | None, times: tuple[int, ...] | None = None, fh: int | None = None) -> int:
            node = node_of(path, fh)
            now = _now()
            atime, mtime = times if times is not None else (now, now)
            if atime != UTIME_OMIT:
                node.atime = now if atime == UTIME_NOW else atime
            if mtime != UTIME_OMIT:
                node.mtime = now if mtime == UTIME_NOW else mtime
            node.ctime = now
            return 0

        @locked
        def open(self, path: str, flags: int) -> int:
            node = model.lookup(path)
            if node.is_dir and flags & os.O_ACCMODE != os.O_RDONLY:
                raise fs_error(errno.EISDIR)
            if flags & os.O_TRUNC and stat.S_ISREG(node.mode) and node.data:
                # libfuse3 asks for atomic O_TRUNC: the kernel leaves the truncation to open itself.
                node.dirty += len(node.data)
                node.data.clear()
                node.mtime = node.ctime = _now()
            return new_handle(node)

        @locked
        def create(self, path: str, mode: int, flags: int) -> int:
            parent, name = model.parent_of(path)
            existing = parent.entries.get(name)
            if existing is not None:
                if flags & os.O_EXCL:
                    raise fs_error(errno.EEXIST)
                node = model.volatile[existing]
            else:
                node = model.new_inode(stat.S_IFREG | (mode & 0o7777), caller())
                model.link_into(parent, name, node)
            return new_handle(node)

        @locked
        def read(self, path: str | None, size: int, offset: int, fh: int) -> bytes:
            node = node_of(path, fh)
            return bytes(node.data[offset : offset + size])

        @locked
        def write(self, path: str | None, data: bytes, offset: int, fh: int) -> int:
            node = node_of(path, fh)
            end = offset + len(data)
            if end > len(node.data):
                node.data.extend(bytes(end - len(node.data)))
            node.data[offset:end] = data
            node.dirty += len(data)
            node.mtime = node.ctime = _now()
            return len(data)

        @locked
        def fallocate(self, path: str | None, mode: int, offset: int, size: int, fh: int) -> int:
            if mode != 0:
                raise fs_error(errno.EOPNOTSUPP)
            node = node_of(path, fh)
            if offset + size > len(node.data):
                node.dirty += offset + size - len(node.data)
                node.data.extend(bytes(offset + size - len(node.data)))
            return 0

        @locked
        def statfs(self, path: str) -> dict[str, int]:
            used = sum(len(n.data) for n in model.volatile.values()) // 4096
            total = 1 << 20
            return {"f_bsize": 4096, "f_frsize": 4096, "f_blocks": total, "f_bfree": total - used,
                    "f_bavail": total - used, "f_files": 1 << 20, "f_ffree": (1 << 20) - len(model.volatile),
                    "f_namemax": 255}  # fmt: skip

        def flush(self, path: str | None, fh: int) -> int:
            return 0

        @locked
        def release(self, path: str | None, fh: int) -> int:
            handle = handles.pop(fh, None)
            if handle is not None and handle.epoch == model.epoch:
                node = model.volatile.get(handle.ino)
                if node is not None:
                    model.forget_if_unused(node, open_inos())
            return 0

        @locked
        def fsync(self, path: str | None, datasync: int, fh: int) -> int:
            model.fsync(node_of(path, fh).ino, bool(datasync))
            return 0

        @locked
        def opendir(self, path: str) -> int:
            node = model.lookup(path)
            if not node.is_dir:
                raise fs_error(errno.ENOTDIR)
            return new_handle(node)

        @locked
        def readdir(self, path: str | None, fh: int) -> list[tuple[str, dict[str, int], int]]:
            node = node_of(path, fh)
            # With use_ino the kernel takes d_ino from here; an entry with inode 0 is hidden by readdir(3). The model
            # keeps no parent pointers, so ".." claims the root's number (stat on it still tells the truth).
            listing = [
                (".", {"st_mode": node.mode, "st_ino": node.ino}, 0),
                ("..", {"st_mode": stat.S_IFDIR, "st_ino": ROOT_INO}, 0),
            ]
            for name, ino in node.entries.items():
                child = model.volatile[ino]
                listing.append((name, {"st_mode": child.mode, "st_ino": ino}, 0))
            return listing

        @locked
        def releasedir(self, path: str | None, fh: int) -> int:
            handles.pop(fh, None)
            return 0

        @locked
        def fsyncdir(self, path: str | None, datasync: int, fh: int) -> int:
            model.fsyncdir(node_of(path, fh).ino)
            return 0

    def text(path: bytes | None) -> str | None:
        return None if path is None else path.decode("utf-8", "surrogateescape")

    def fh_of(fip: Any) -> int | None:
        return int(fip.contents.fh) if fip else None

    class PowerFuse(mfusepy.FUSE):  # type: ignore[misc]
        # mfusepy drops rename's flags; RENAME_NOREPLACE silently replacing would be a lie, so pass them on.
        def rename_fuse_3(self, old: bytes, new: bytes, flags: int) -> int:
            return int(self.operations.rename2(text(old), text(new), flags))

        # mfusepy also drops the file handle of ftruncate, fchmod, fchown and futimens, whose path is NULL for a
        # file that is open but no longer has a name.
        def truncate_fuse_3(self, path: bytes | None, length: int, fip: Any) -> int:
            return int(self.operations.truncate(text(path), length, fh_of(fip)))

        def chmod_fuse_3(self, path: bytes | None, mode: int, fip: Any) -> int:
            return int(self.operations.chmod(text(path), mode, fh_of(fip)))

        def chown_fuse_3(self, path: bytes | None, uid: int, gid: int, fip: Any) -> int:
            # uid_t -1 arrives as 2**32 - 1.
            uid = -1 if uid == 0xFFFFFFFF else uid
            gid = -1 if gid == 0xFFFFFFFF else gid
            return int(self.operations.chown(text(path), uid, gid, fh_of(fip)))

        def utimens_fuse_3(self, path: bytes | None, buf: Any, fip: Any) -> int:
            times = None
            if buf:
                times = tuple(
                    ts.tv_nsec if ts.tv_nsec in (UTIME_NOW, UTIME_OMIT) else ts.tv_sec * 10**9 + ts.tv_nsec
                    for ts in (buf.contents.actime, buf.contents.modtime)
                )
            return int(self.operations.utimens(text(path), times, fh_of(fip)))

    control = threading.Thread(target=_control_loop, args=(model, control_address), daemon=True)
    control.start()
    # Zero timeouts: after a cut the kernel must ask again instead of serving names and sizes the cut took away.
    # A FUSE mount is its owner's alone; a daemon under another user needs allow_other, and then the kernel's own
    # permission checks (default_permissions), since the model checks none.
    sharing = {"allow_other": True, "default_permissions": True} if allow_other else {}
    PowerFuse(PowerOps(), str(mountpoint), foreground=True, debug=debug, fsname="powerfs", subtype="powerfs",
              hard_remove=True, use_ino=True, attr_timeout=0, entry_timeout=0, negative_timeout=0,
              **sharing)  # fmt: skip


def _socket_address(address: str) -> str:
    return "\0" + address[1:] if address.startswith("@") else address


def _control_loop(model: Model, address: str) -> None:
    if not address.startswith("@"):
        with contextlib.suppress(FileNotFoundError):
            Path(address).unlink()
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(_socket_address(address))
    server.listen(4)
    while True:
        conn, _ = server.accept()
        with conn, conn.makefile("rwb") as stream:
            for line in stream:
                command = json.loads(line)
                with model.lock:
                    if command["op"] == "cut":
                        reply: dict[str, Any] = {"ok": True, "stats": model.cut()}
                    elif command["op"] in ("stats", "ping"):
                        reply = {"ok": True, "stats": model.report()}
                    else:
                        reply = {"ok": False, "error": f"unknown op {command['op']!r}"}
                stream.write(json.dumps(reply).encode() + b"\n")
                stream.flush()


# --- the test side -------------------------------------------------------------------------------------------------


def fuse_unavailable() -> str | None:
    """Why powerfs cannot run here, or None when it can."""
    if not Path("/dev/fuse").exists():
        return "/dev/fuse is missing (container without FUSE)"
    if shutil.which("fusermount3") is None:
        return "fusermount3 is missing (apt install fuse3)"
    try:
        import mfusepy  # noqa: F401
    except (ImportError, OSError) as exc:
        return f"mfusepy or libfuse3 is missing ({exc}); see tests/reliability/POWERFS_REQUIREMENTS.txt"
    return None


def _is_mounted(mountpoint: Path) -> bool:
    target = os.path.realpath(mountpoint)
    with open("/proc/self/mountinfo") as mounts:
        return any(line.split()[4] == target for line in mounts)


def wait_until(predicate: Callable[[], bool], deadline: float, what: str) -> None:
    end = time.monotonic() + deadline
    pause = 0.005
    while not predicate():
        if time.monotonic() > end:
            raise TimeoutError(f"timed out after {deadline}s waiting for {what}")
        time.sleep(pause)
        pause = min(pause * 2, 0.1)


class PowerFs:
    """Drives one powerfs server process: mount, cut power, remount over what survived, unmount."""

    def __init__(self, storage: Path, mountpoint: Path, seed: Path | None = None, cut_after_ops: int | None = None,
                 allow_other: bool = False, debug: bool = False) -> None:  # fmt: skip
        self.storage = storage
        self.allow_other = allow_other
        self.mountpoint = mountpoint
        self.seed = seed
        self.cut_after_ops = cut_after_ops
        self.debug = debug
        self.process: subprocess.Popen[bytes] | None = None
        self.log = storage / "powerfs.log"
        self.last_stats: dict[str, int] = {}
        self.control = ""

    def __enter__(self) -> PowerFs:
        self.mount()
        return self

    def __exit__(self, *exc: object) -> None:
        self.unmount()

    def mount(self, timeout: float = 20.0) -> None:
        if self.process is not None:
            raise RuntimeError("powerfs is already mounted")
        self.storage.mkdir(parents=True, exist_ok=True)
        self.mountpoint.mkdir(parents=True, exist_ok=True)
        # A fresh name per server: a reply can never come from a previous server of this storage.
        self.control = f"@powerfs-{os.getpid()}-{uuid.uuid4().hex}"
        command = [sys.executable, str(Path(__file__).resolve()), str(self.storage), str(self.mountpoint),
                   "--control", self.control]  # fmt: skip
        if self.seed is not None:
            command += ["--seed", str(self.seed)]
        if self.cut_after_ops is not None:
            command += ["--cut-after-ops", str(self.cut_after_ops)]
        if self.allow_other:
            command.append("--allow-other")
        if self.debug:
            command.append("--debug")
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            wait_until(self._ready, timeout, f"powerfs to mount {self.mountpoint}")
        except BaseException:
            self.unmount()
            raise

    def _ready(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise RuntimeError(f"powerfs exited with {self.process.returncode}:\n{self.log_text()[-3000:]}")
        if not _is_mounted(self.mountpoint):
            return False
        try:
            self._command("ping")  # not stats(): last_stats keeps what the previous server's cut reported
        except OSError:
            return False
        return True

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def _command(self, op: str, timeout: float = 20.0) -> dict[str, int]:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.settimeout(timeout)
            conn.connect(_socket_address(self.control))
            conn.sendall(json.dumps({"op": op}).encode() + b"\n")
            with conn.makefile("rb") as stream:
                reply = json.loads(stream.readline())
        if not reply.get("ok"):
            raise RuntimeError(f"powerfs {op}: {reply}")
        stats: dict[str, int] = reply["stats"]
        return stats

    def stats(self) -> dict[str, int]:
        """Counters: fsyncs, fdatasyncs, fsyncdirs, cuts, ops, and what the last cut dropped."""
        self.last_stats = self._command("stats")
        return self.last_stats

    def cut(self) -> dict[str, int]:
        """Power cut: from now on the mount shows only the durable state; stale handles get EIO."""
        self.last_stats = self._command("cut")
        return self.last_stats

    def cut_at_random(self, low: float, high: float, rng: random.Random | None = None) -> threading.Timer:
        """Cut once, at a random moment between low and high seconds from now; the Timer can be joined."""
        timer = threading.Timer((rng or random.Random()).uniform(low, high), self.cut)
        timer.daemon = True
        timer.start()
        return timer

    def unmount(self, timeout: float = 20.0) -> None:
        """Unmount and stop the server; never leaves a mount behind, even with files still open on it."""
        process, self.process = self.process, None
        detached = False
        if _is_mounted(self.mountpoint):
            done = subprocess.run(["fusermount3", "-u", str(self.mountpoint)], capture_output=True, check=False)
            if done.returncode != 0:
                # Busy (a test failed with a file still open): detach lazily rather than leave a mount behind.
                subprocess.run(["fusermount3", "-uz", str(self.mountpoint)], capture_output=True, check=False)
                detached = True
        if process is not None:
            if detached:
                # A lazily detached server serves on until the last open file is closed; stop it instead.
                process.terminate()
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout)
        if _is_mounted(self.mountpoint):
            subprocess.run(["fusermount3", "-uz", str(self.mountpoint)], capture_output=True, check=False)

    def remount(self) -> None:
        """Power back on: a new server over the durable state, as a machine reboots over its disk."""
        self.unmount()
        self.mount()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("storage", type=Path, help="where the durable state lives (created if missing)")
    parser.add_argument("mountpoint", type=Path)
    parser.add_argument("--seed", type=Path, help="directory tree imported as the first durable state")
    parser.add_argument("--cut-after-ops", type=int, help="cut power by itself at the N-th filesystem operation")
    parser.add_argument("--control", help="control socket: a path, or @NAME for an abstract one")
    parser.add_argument("--allow-other", action="store_true", help="let other users in (kernel permission checks)")
    parser.add_argument("--debug", action="store_true")
    args = parser.parse_args(argv)
    args.storage.mkdir(parents=True, exist_ok=True)
    if args.debug:
        # mfusepy reports the errors it turns into errno values only through logging.
        logging.basicConfig(level=logging.DEBUG)
    control = args.control or str(args.storage / CONTROL_SOCKET)
    serve(args.storage, args.mountpoint, args.seed, args.cut_after_ops, args.debug, control, args.allow_other)
    return 0


if __name__ == "__main__":
    sys.exit(main())
