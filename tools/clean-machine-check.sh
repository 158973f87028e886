#!/usr/bin/env bash
# Does .ci/run pass on a fresh Debian 12 that has only python3? There is no container runtime on the build
# host, so the "container" is a debootstrap'd minbase bookworm root entered with chroot. Inside it, a clone of
# the committed HEAD runs .ci/run under CI=true (where a skip for a missing capability fails): the apt install
# phase, the venv, ruff, ruff format, mypy, then one subset of tests per capability (not the whole suite: the
# host is shared). Needs root (debootstrap, mounts, chroot).
#
#   sudo tools/clean-machine-check.sh [ROOT]      # ROOT defaults to /var/tmp/faxdropd-deb12
#
# A new ROOT is a clean check; re-using one keeps the packages of the previous run (delete it to start over).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
root=${1:-/var/tmp/faxdropd-deb12}
mirror=$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1)
mirror=${mirror:-http://deb.debian.org/debian}

command -v debootstrap >/dev/null || apt-get install -y -qq debootstrap
if [ ! -x "$root/usr/bin/python3" ]; then
  # minbase is Debian's smallest bootable set (essential + apt); python3 is the one thing the check adds.
  debootstrap --variant=minbase --include=python3 bookworm "$root" "$mirror"
fi
cp /etc/resolv.conf "$root/etc/resolv.conf"
# The chroot shares the host's network and processes: the Debian packages .ci/run installs (postgresql, samba,
# ssh) must not start their system services on the host's ports, which is also what a container gives (no
# init). 101 is invoke-rc.d's "action forbidden by policy".
printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
chmod 755 "$root/usr/sbin/policy-rc.d"

# Only for a build host whose HTTPS goes through a TLS-inspecting proxy (this one's does): the venv's pip must
# trust the proxy's CA as the host's pip does. The copy sits apart from Debian's store, which stays pristine.
pip_cert=()
# sudo drops PIP_CERT from the environment; the host's pip.conf says the same.
host_bundle=${PIP_CERT:-$(sed -n 's/^cert *= *//p' /etc/pip.conf 2>/dev/null | head -1)}
if [ -n "$host_bundle" ] && [ -f "$host_bundle" ]; then
  cp "$host_bundle" "$root/etc/build-host-ca.crt"
  pip_cert=(PIP_CERT=/etc/build-host-ca.crt)
fi

mounted=()
cleanup() {
  for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do umount -l "${mounted[i]}" || true; done
}
trap cleanup EXIT
mount -t proc proc "$root/proc" && mounted+=("$root/proc")
mount -t sysfs sys "$root/sys" && mounted+=("$root/sys")
# /dev from the host: /dev/fuse (sshfs, the power-loss filesystem), /dev/shm (chromium), /dev/pts (ssh).
mount --rbind /dev "$root/dev" && mount --make-rslave "$root/dev" && mounted+=("$root/dev")

rm -rf "$root/src"
git clone -q "$repo" "$root/src"
git -C "$root/src" checkout -q "$(git -C "$repo" rev-parse HEAD)"

tests=(
  tests/test_architecture.py tests/test_events.py
  tests/reliability/test_powerfs.py                            # FUSE: the power-loss filesystem (mfusepy, libfuse3)
  tests/reliability/test_fsync_eio.py                          # a C compiler: the fsync-EIO LD_PRELOAD library
  tests/test_kit.py                                            # PostgreSQL (as root: runuser postgres), SMTP, chromium
  tests/test_web_browser.py::test_dashboard_job_page_and_hostile_name   # the front-desk page in chromium
  tests/test_systemd_unit.py                                   # systemd-analyze verify/security, sysusers, tmpfiles
  "tests/test_shares_kit.py::test_smb_style_leaves_exact_bytes[blocking-write_once-kwargs0]"  # samba
  tests/test_shares_kit.py::test_samba_listens_on_loopback_only
  tests/reliability/test_share_sshfs.py::test_auto_polls_an_sshfs_hot_folder  # sshd + sshfs, the daemon on it
  tests/test_daemon.py::test_slow_writer_is_sent_once_complete # the daemon subprocess from the venv
)
# A clean environment: no HOME dotfiles, no /usr/local on PATH, nothing inherited from the host.
chroot "$root" /usr/bin/env -i HOME=/root LANG=C.UTF-8 PATH=/usr/sbin:/usr/bin:/sbin:/bin CI=true "${pip_cert[@]}" \
  /bin/bash -c 'cd /src && .ci/run "$@"' ci "${tests[@]}"
