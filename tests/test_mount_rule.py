"""watch: auto polls network filesystems, FUSE ones included: the rule in faxdropd/watch/mounts.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from faxdropd.watch import mounts
from faxdropd.watch.scan import Probe, WatchSpec
from faxdropd.watch.stability import StabilityTracker
from faxdropd.watch.state import Folder

# One mount per type, as /proc/self/mountinfo prints them (sources and options as the real tools set them).
MOUNTINFO = """\
27 1 254:0 / / rw,relatime - ext4 /dev/vda rw
50 27 0:50 / /m/nfs rw - nfs4 nas:/export rw,vers=4.2
51 27 0:51 / /m/cifs rw - cifs //nas/scans rw
52 27 0:52 / /m/sshfs rw,nosuid,nodev - fuse.sshfs root@10.0.0.5:/srv/scans rw,user_id=0,group_id=0
53 27 0:53 / /m/rclone rw,nosuid,nodev - fuse.rclone gdrive:scans rw,user_id=0,group_id=0
54 27 0:54 / /m/s3fs rw,nosuid,nodev - fuse.s3fs s3fs rw,user_id=0,group_id=0
55 27 0:55 / /m/gcsfuse rw,nosuid,nodev - fuse.gcsfuse fax-bucket rw,user_id=0,group_id=0
56 27 0:56 / /m/goofys rw,nosuid,nodev - fuse.goofys fax-bucket rw,user_id=0,group_id=0
57 27 0:57 / /m/blobfuse rw,nosuid,nodev - fuse.blobfuse2 blobfuse2 rw,user_id=0,group_id=0
58 27 0:58 / /m/bare rw,nosuid,nodev - fuse somefs rw,user_id=0,group_id=0
60 27 8:17 / /m/usb rw,nosuid,nodev - fuseblk /dev/sdb1 rw,user_id=0,group_id=0
61 27 0:61 / /m/ntfs rw,nosuid,nodev - fuse.ntfs-3g /dev/sdc1 rw,user_id=0,group_id=0
62 27 0:62 / /m/lxcfs rw,nosuid,nodev - fuse.lxcfs lxcfs rw,user_id=0,group_id=0
63 27 0:63 / /m/tmp rw - tmpfs tmpfs rw
64 27 0:64 / /m/fuseish rw - xfuse.fake /dev/x rw
"""

NETWORK = ["nfs", "cifs", "sshfs", "rclone", "s3fs", "gcsfuse", "goofys", "blobfuse", "bare"]
LOCAL = ["usb", "ntfs", "lxcfs", "tmp", "fuseish"]


@pytest.mark.parametrize("name", NETWORK + LOCAL)
def test_network_rule_on_a_mount_table(name: str) -> None:
    table = mounts.parse_mountinfo(MOUNTINFO)
    assert mounts.is_network_fs(f"/m/{name}/inbox", table, resolve=False) is (name in NETWORK)


def test_unknown_fuse_subtypes_are_network_and_unknown_filesystems_are_not() -> None:
    assert mounts.is_network_type("fuse.some-cloud-drive-released-next-year")
    assert not mounts.is_network_type("")  # outside every mount: nothing to say it is remote
    assert not mounts.is_network_type("btrfs")
    assert all(not mounts.is_network_type(t) for t in mounts.LOCAL_FUSE_TYPES)


def _probe(fstype: str) -> Probe:
    return Probe(start=0.0, end=0.0, identity=(1, 2), mount="/m/x", fstype=fstype, listing={})


@pytest.mark.parametrize(
    ("fstype", "mode"),
    [("fuse.sshfs", "poll"), ("fuse.gcsfuse", "poll"), ("fuse.anything", "poll"), ("nfs4", "poll"),
     ("ext4", "events"), ("fuseblk", "events"), ("fuse.ntfs-3g", "events")],
)  # fmt: skip
def test_auto_folder_takes_its_mode_from_the_first_probe(fstype: str, mode: str) -> None:
    spec = WatchSpec(path=Path("/m/x"), name="x", watch="auto", poll_interval=1.0, rescan_interval=3600.0)
    folder = Folder(spec, StabilityTracker(spec.stable_seconds, spec.rescan_interval), spec.watch)
    folder.take(_probe(fstype), now=10.0)
    assert folder.mode == mode
    if mode == "poll":
        # Listed again after poll_interval, not after the hour-long rescan_interval of an event folder.
        assert folder.next_full <= 10.0 + spec.poll_interval
