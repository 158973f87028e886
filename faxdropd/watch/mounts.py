"""The mount table: which filesystem a path is on, whether that is a network filesystem, its mount point.

Read from /proc/self/mountinfo (proc(5)) rather than os.statvfs/df, because only mountinfo names the
filesystem type, and reading it never touches the filesystems themselves (a dead NFS server cannot hang
it). Resolving a path (realpath) does touch the filesystem, so callers that must never block run these
functions off their main thread, or pass ``resolve=False``.

Which filesystems ``watch: auto`` polls (is_network_type): inotify only reports changes made through this
kernel's view of the filesystem. On a network filesystem another host's write is invisible to it, so those
folders are listed every poll_interval instead. The rule:

* the kernel's network and cluster types by name (NETWORK_FS_TYPES: nfs, cifs, ceph, gfs2...);
* every FUSE filesystem (``fuse`` or ``fuse.<subtype>``: sshfs, rclone, s3fs, gcsfuse, davfs, goofys, blobfuse
  and whatever the next one is called) except a short list of local ones (LOCAL_FUSE_TYPES). A FUSE
  filesystem's data lives in a user-space process, and inotify on the mount sees only what went through the
  mount; for the remote kinds, which are most FUSE mounts a hot folder sits on, writes by the server or other
  hosts never pass through it. New remote FUSE types appear every year and an allow-list of them would miss
  the next one silently (files picked up only at the rescan, up to rescan_interval late), while wrongly
  polling a local FUSE folder only costs one listing per poll_interval. So unknown FUSE types are polled.
* ``fuseblk`` (ntfs-3g, exfat on a block device) is local: the disk has no other writer.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

MOUNTINFO = Path("/proc/self/mountinfo")

# Kernel (non-FUSE) filesystems whose other hosts' writes produce no inotify events, so watch=auto polls them.
# gfs2/ocfs2/lustre are cluster filesystems with the same property. The FUSE ones named here are polled by
# the FUSE rule anyway; they stay listed so the set still reads as "what is known to be remote".
NETWORK_FS_TYPES: frozenset[str] = frozenset(
    {
        "nfs", "nfs4", "cifs", "smb3", "smbfs", "fuse.sshfs", "9p", "afs", "ceph", "glusterfs", "davfs",
        "fuse.rclone", "fuse.davfs", "fuse.glusterfs", "fuse.ceph", "fuse.s3fs", "fuse.gcsfuse", "gfs2", "ocfs2",
        "lustre", "coda", "ncpfs", "orangefs", "beegfs", "gpfs",
    }
)  # fmt: skip
# FUSE filesystems whose every write goes through the mount itself, so inotify on it sees them all: a local
# disk (ntfs-3g and exfat under their own subtype), a container's own view (lxcfs, fuse-overlayfs), the
# desktop document portal. Everything else of type fuse / fuse.* is treated as remote (see the module doc).
LOCAL_FUSE_TYPES: frozenset[str] = frozenset(
    {"fuse.ntfs-3g", "fuse.ntfs", "fuse.exfat", "fuse.lxcfs", "fuse.fuse-overlayfs", "fuse.portal", "fuse.squashfuse"}
)

_OCTAL = re.compile(r"\\([0-7]{3})")


@dataclass(frozen=True)
class Mount:
    """One line of mountinfo: where it is mounted, what type, and from where."""

    mount_point: str
    fstype: str
    source: str


def _unescape(field: str) -> str:
    # The kernel escapes space, tab, newline and backslash in mountinfo as \040, \011, \012, \134.
    return _OCTAL.sub(lambda m: chr(int(m.group(1), 8)), field)


def parse_mountinfo(text: str) -> list[Mount]:
    """Parse mountinfo text, in kernel order (later lines are mounted on top of earlier ones)."""
    mounts: list[Mount] = []
    for line in text.splitlines():
        # "36 35 98:0 /root /mnt/point rw,noatime master:1 - ext3 /dev/root rw": a variable number of
        # optional fields ends with "-", after which come fstype, source and super options.
        left, sep, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if not sep or len(fields) < 5 or not tail:
            continue
        source = _unescape(tail[1]) if len(tail) > 1 else ""
        mounts.append(Mount(_unescape(fields[4]), _unescape(tail[0]), source))
    return mounts


def read_mounts(mountinfo: Path = MOUNTINFO) -> list[Mount]:
    """The current mount table; empty where there is no mountinfo (not Linux)."""
    try:
        return parse_mountinfo(mountinfo.read_text(encoding="utf-8", errors="surrogateescape"))
    except OSError:
        return []


def mountinfo_bytes(mountinfo: Path = MOUNTINFO) -> bytes:
    """The raw mount table (b"" where there is none): compared between reads, a cheap way to notice that
    something was mounted or unmounted without touching any filesystem."""
    try:
        return mountinfo.read_bytes()
    except OSError:
        return b""


def _under(path: str, mount_point: str) -> bool:
    if mount_point == "/":
        return path.startswith("/")
    return path == mount_point or path.startswith(mount_point + "/")


def find_mount(
    path: str | os.PathLike[str], mounts: list[Mount] | None = None, *, resolve: bool = True
) -> Mount | None:
    """The mount holding ``path``: the longest matching mount point, the later one when two are stacked."""
    table = read_mounts() if mounts is None else mounts
    target = os.path.realpath(path) if resolve else os.path.abspath(path)  # noqa: PTH100 (normalise, no I/O)
    best: Mount | None = None
    for mount in table:
        longest = best is None or len(mount.mount_point) >= len(best.mount_point)
        if longest and _under(target, mount.mount_point):
            best = mount
    return best


def mount_point(path: str | os.PathLike[str], mounts: list[Mount] | None = None, *, resolve: bool = True) -> Path:
    """The mount point of the filesystem that holds ``path`` ("/" when unknown)."""
    found = find_mount(path, mounts, resolve=resolve)
    return Path(found.mount_point if found else "/")


def filesystem_type(path: str | os.PathLike[str], mounts: list[Mount] | None = None, *, resolve: bool = True) -> str:
    """``path``'s filesystem type as mountinfo names it ("ext4", "nfs4", "fuse.sshfs"); "" if unknown."""
    found = find_mount(path, mounts, resolve=resolve)
    return found.fstype if found else ""


def is_network_type(fstype: str) -> bool:
    """True for a filesystem type (as mountinfo names it) whose remote changes inotify cannot see: the rule
    ``watch: auto`` follows (module doc). "" (unknown) is not network: a path outside any mount is local."""
    if fstype in NETWORK_FS_TYPES:
        return True
    return (fstype == "fuse" or fstype.startswith("fuse.")) and fstype not in LOCAL_FUSE_TYPES


def is_network_fs(path: str | os.PathLike[str], mounts: list[Mount] | None = None, *, resolve: bool = True) -> bool:
    """True when ``path`` is on a filesystem whose remote changes inotify cannot see."""
    return is_network_type(filesystem_type(path, mounts, resolve=resolve))
