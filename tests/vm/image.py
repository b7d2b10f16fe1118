"""Build (once) and cache the Debian bookworm disk image the test VM boots.

The image is made with mmdebstrap, then turned into a raw ext4 file with
`mkfs.ext4 -d`; the kernel and initrd are copied beside it so qemu can boot
them directly.  It lives under $KMOD_TEST_CACHE/vm/<recipe hash>/ (default
~/.cache/kernel-kmod), where the hash covers this file and the package list:
change the recipe and a new image is built, otherwise the old one is reused.
Each VM boots a qcow2 overlay (create_overlay) so the cached base never
changes.

    python tests/vm/image.py          # build if needed, print the image dir
"""

import fcntl
import glob
import hashlib
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time

SUITE = 'bookworm'
PACKAGES = [
    'linux-image-amd64', 'initramfs-tools', 'systemd-sysv', 'udev',
    'openssh-server', 'python3', 'kmod', 'iproute2', 'procps',
    'ca-certificates', 'less', 'file', 'dbus',
    # update-grub and grub-mkconfig, no boot loader: a VM booted with boot_loader='grub' takes its kernel
    # command line from the grub.cfg they write (tests/vm/vm.py), so GRUB's configuration path is the real one
    'grub2-common',
]
DISK_SIZE = '3G'            # sparse; the root filesystem uses about 1 GiB
HOSTNAME = 'kmod-test'
# Without mirrors mmdebstrap uses its default Debian mirror, with the updates
# and security suites of a stable release.  KMOD_VM_MIRRORS overrides that:
# mmdebstrap MIRROR arguments (URIs or whole "deb ..." lines) separated by '|'.
MIRRORS = [m.strip() for m in (os.environ.get('KMOD_VM_MIRRORS') or '').split('|') if m.strip()]

# The files of a built image directory.
BASE = 'base.raw'
KERNEL = 'vmlinuz'
INITRD = 'initrd.img'
KEY = 'id_ed25519'
META = 'image.json'

# Runs inside mmdebstrap's customize phase with $1 = the root directory.
# The initrd has already been built (MODULES=most, so it boots anywhere);
# MODULES=dep is written afterwards so later `update-initramfs -u` runs in
# the guest take about a minute under TCG instead of more than ten.
CUSTOMIZE = r'''
set -eu
root="$1"
pubkey="$2"

install -d -m 700 "$root/root/.ssh"
install -m 600 "$pubkey" "$root/root/.ssh/authorized_keys"

echo '@HOSTNAME@' > "$root/etc/hostname"
printf '127.0.0.1\tlocalhost\n127.0.1.1\t@HOSTNAME@\n' > "$root/etc/hosts"
echo '/dev/vda / ext4 rw,errors=remount-ro 0 1' > "$root/etc/fstab"

cat > "$root/etc/systemd/network/20-virtio.network" <<'EOF'
[Match]
Name=en* eth*

[Network]
DHCP=ipv4
EOF
# qemu's user network answers DNS at 10.0.2.3.
echo 'nameserver 10.0.2.3' > "$root/etc/resolv.conf"
chroot "$root" systemctl enable systemd-networkd.service
# Nothing waits for "network online"; timers must not start apt in the middle of a test.
chroot "$root" systemctl mask systemd-networkd-wait-online.service \
    apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer fstrim.timer man-db.timer

# Root logs in on the serial console without a password; ssh takes keys only.
chroot "$root" passwd -d root
install -d "$root/etc/systemd/system/serial-getty@ttyS0.service.d"
cat > "$root/etc/systemd/system/serial-getty@ttyS0.service.d/autologin.conf" <<'EOF'
[Service]
ExecStart=
ExecStart=-/sbin/agetty --autologin root --keep-baud 115200,57600,38400,9600 %I $TERM
EOF
cat > "$root/etc/ssh/sshd_config.d/kmod-test.conf" <<'EOF'
PermitRootLogin prohibit-password
PasswordAuthentication no
UseDNS no
EOF

echo 'MODULES=dep' > "$root/etc/initramfs-tools/conf.d/kmod-test-modules-dep.conf"

# What grub-pc's postinst would leave, with the serial console the harness reads; update-grub is not run here
# (no device in the chroot): a VM in boot_loader='grub' mode runs it in the guest when a test asks.
install -d "$root/boot/grub" "$root/etc/default/grub.d"
cat > "$root/etc/default/grub" <<'EOF'
GRUB_DEFAULT=0
GRUB_TIMEOUT=0
GRUB_DISTRIBUTOR=Debian
GRUB_CMDLINE_LINUX_DEFAULT=""
GRUB_CMDLINE_LINUX="console=ttyS0 panic=-1"
GRUB_TERMINAL=console
GRUB_DISABLE_OS_PROBER=true
GRUB_DISABLE_RECOVERY=true
EOF
rm -f "$root/etc/machine-id" "$root/var/lib/dbus/machine-id"
: > "$root/etc/machine-id"
'''.replace('@HOSTNAME@', HOSTNAME)

# Documentation, manual pages and translations are of no use in the VM.
DPKG_EXCLUDES = [
    'path-exclude=/usr/share/man/*', 'path-exclude=/usr/share/doc/*',
    'path-include=/usr/share/doc/*/copyright', 'path-exclude=/usr/share/locale/*',
    'path-exclude=/usr/share/info/*',
]

UNUSED_DAYS = 3             # images of other recipes unused this long are removed
REQUIRED_TOOLS = ('mmdebstrap', 'mkfs.ext4', 'qemu-img', 'ssh-keygen')


class ImageError(RuntimeError):
    """The image could not be built; the message carries the log's tail."""


def cache_root():
    base = os.environ.get('KMOD_TEST_CACHE') or os.path.join(os.path.expanduser('~'), '.cache', 'kernel-kmod')
    path = os.path.join(base, 'vm')
    os.makedirs(path, exist_ok=True)
    return path


def recipe_hash():
    """Hash of this script and the package list: the cache key of the image."""
    h = hashlib.sha256()
    with open(os.path.abspath(__file__), 'rb') as f:
        h.update(f.read())
    h.update('\n'.join([SUITE] + MIRRORS + PACKAGES).encode())
    return h.hexdigest()[:16]


def missing_tools(tools=REQUIRED_TOOLS):
    return [t for t in tools if shutil.which(t) is None and not os.path.exists('/sbin/' + t)]


class Image(object):
    """A built image directory: base disk, kernel, initrd, ssh key, metadata."""

    def __init__(self, path):
        self.path = path
        with open(os.path.join(path, META)) as f:
            self.meta = json.load(f)

    base = property(lambda self: os.path.join(self.path, BASE))
    kernel = property(lambda self: os.path.join(self.path, KERNEL))
    initrd = property(lambda self: os.path.join(self.path, INITRD))
    key = property(lambda self: os.path.join(self.path, KEY))
    kernel_release = property(lambda self: self.meta['kernel_release'])

    def __repr__(self):
        return 'Image(%r)' % self.path


def create_overlay(image, dest):
    """A qcow2 file backed by the image's raw base: the VM writes only there."""
    subprocess.run(['qemu-img', 'create', '-q', '-f', 'qcow2', '-b', image.base, '-F', 'raw', dest],
                   check=True, stdout=subprocess.DEVNULL)
    return dest


def ensure_image(log=None):
    """Return the cached Image for the current recipe, building it first if needed.

    Two processes asking at once do not both build: the second waits on a lock
    and then finds the finished image.
    """
    log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    root = cache_root()
    key = recipe_hash()
    final = os.path.join(root, key)
    if os.path.exists(os.path.join(final, META)):
        os.utime(final)     # marks it used, so prune_unused keeps it
        return Image(final)
    missing = missing_tools()
    if missing:
        raise ImageError('cannot build the VM image: missing %s (run `make deps`)' % ', '.join(missing))
    with open(os.path.join(root, '.lock-' + key), 'w') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if os.path.exists(os.path.join(final, META)):
            return Image(final)
        logfile = os.path.join(root, 'build-%s.log' % key)
        log('building the VM image %s (a few minutes, once; log: %s)' % (key, logfile))
        started = time.monotonic()
        work = tempfile.mkdtemp(prefix='.build-%s-' % key, dir=root)
        try:
            with open(logfile, 'w') as out:
                _build(work, out)
            meta_path = os.path.join(work, META)
            with open(meta_path) as f:
                meta = json.load(f)
            meta['build_seconds'] = round(time.monotonic() - started, 1)
            with open(meta_path, 'w') as f:
                json.dump(meta, f, indent=1)
            os.rename(work, final)
        except BaseException as exc:
            shutil.rmtree(work, ignore_errors=True)
            if isinstance(exc, (subprocess.CalledProcessError, ImageError, OSError)):
                raise ImageError('building the VM image failed: %s\n--- last lines of %s ---\n%s'
                                 % (exc, logfile, tail(logfile)))
            raise
        log('VM image ready in %.0f s: %s' % (time.monotonic() - started, final))
        prune_unused(root, keep=key)
        return Image(final)


def prune_unused(root, keep, days=UNUSED_DAYS):
    """Remove images of other recipes unused for `days` (a running VM keeps its open base file)."""
    cutoff = time.time() - days * 86400
    for name in os.listdir(root):
        path = os.path.join(root, name)
        if (name != keep and len(name) == 16 and os.path.exists(os.path.join(path, META))
                and os.path.getmtime(path) < cutoff):
            shutil.rmtree(path, ignore_errors=True)
            if os.path.exists(os.path.join(root, 'build-%s.log' % name)):
                os.remove(os.path.join(root, 'build-%s.log' % name))


def tail(path, lines=40):
    try:
        with open(path, errors='replace') as f:
            return ''.join(f.readlines()[-lines:])
    except OSError:
        return '(no log)'


def _run(cmd, out):
    out.write('\n$ %s\n' % ' '.join(shlex.quote(c) for c in cmd))
    out.flush()
    subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, check=True)


def _build(work, out):
    rootfs = os.path.join(work, 'rootfs')
    key = os.path.join(work, KEY)
    _run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', 'kernel-kmod-test-vm', '-f', key], out)
    hook = os.path.join(work, 'customize.sh')
    with open(hook, 'w') as f:
        f.write(CUSTOMIZE)
    cmd = ['mmdebstrap', '--variant=apt', '--components=main',
           '--include=' + ','.join(PACKAGES),
           '--customize-hook=sh %s "$1" %s' % (shlex.quote(hook), shlex.quote(key + '.pub'))]
    cmd += ['--dpkgopt=' + o for o in DPKG_EXCLUDES]
    cmd += [SUITE, rootfs] + MIRRORS
    _run(cmd, out)

    kernels = sorted(glob.glob(os.path.join(rootfs, 'boot', 'vmlinuz-*')))
    if len(kernels) != 1:
        raise ImageError('expected one kernel in %s/boot, found %d' % (rootfs, len(kernels)))
    release = os.path.basename(kernels[0])[len('vmlinuz-'):]
    initrd = os.path.join(rootfs, 'boot', 'initrd.img-' + release)
    if not os.path.exists(initrd):
        raise ImageError('no initrd for %s in the image' % release)
    shutil.copyfile(kernels[0], os.path.join(work, KERNEL))
    shutil.copyfile(initrd, os.path.join(work, INITRD))

    _run(['mkfs.ext4', '-q', '-F', '-L', 'kmod-root', '-d', rootfs, os.path.join(work, BASE), DISK_SIZE], out)
    shutil.rmtree(rootfs)
    os.remove(hook)
    with open(os.path.join(work, META), 'w') as f:
        json.dump({'recipe': recipe_hash(), 'suite': SUITE, 'packages': PACKAGES,
                   'kernel_release': release, 'built_at': time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())},
                  f, indent=1)


if __name__ == '__main__':
    try:
        print(ensure_image().path)
    except ImageError as e:
        sys.exit(str(e))
