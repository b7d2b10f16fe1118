"""Boot, reach and tear down a throwaway Debian VM with a real kernel (qemu).

    with VM() as vm:                 # boots a copy-on-write overlay of the cached image
        rc, out, err = vm.ssh('uname -r')
        vm.inventory                 # an Ansible inventory file for the VM (group `all`)
        vm.reboot()                  # same disk; returns the new boot_id

qemu runs TCG by default because KVM guests hang at boot on the project's
machines; KMOD_VM_ACCEL=kvm opts in.  Under TCG a guest reset inside qemu
makes the next boot about three times slower than a fresh qemu (measured:
76 s against 28 s), so a VM started here runs qemu with -no-reboot and a
watcher thread starts a new qemu on the same overlay and port whenever the
guest reboots, whoever asked for it (vm.reboot(), ansible.builtin.reboot).
Every boot after the first takes the kernel and the initrd from the guest's
own /boot (read out of the overlay with debugfs while qemu is down), so an
initramfs the guest rebuilt is the one that boots, as a boot loader would
have it.  KMOD_VM_BOOT_TIMEOUT (seconds, default 300) bounds each wait for
ssh.  KMOD_VM_KEEP=1 keeps the work directory (overlay, console log) after
teardown for a post-mortem.

Command line (state in $KMOD_TEST_CACHE/vm/running[-NAME].json): `up` starts
a supervisor process that owns qemu (and restarts it on a guest reboot, as
above) until `down`.
    python tests/vm/vm.py up [--name NAME] [--memory MB]   # prints the inventory path
    python tests/vm/vm.py ssh [--name NAME] CMD...         # runs CMD in the VM, exits with its code
    python tests/vm/vm.py down [--name NAME]
"""

import argparse
import ctypes
import hashlib
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

if __package__ in (None, ''):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
from tests.vm.image import (  # noqa: E402
    ImageError, cache_root, create_overlay, ensure_image, missing_tools, tail)

MEMORY_MB = 1536
CPUS = 2
GUEST = 'kmodvm'           # the inventory host name
STATE_FILE = 'running.json'
GUEST_BOOT = '/boot'       # where the guest keeps vmlinuz-RELEASE and initrd.img-RELEASE
GRUB_CFG = '/boot/grub/grub.cfg'
# The command line of a direct boot (qemu -kernel, no boot loader).
DIRECT_CMDLINE = 'root=/dev/vda rw console=ttyS0 panic=-1'
BOOT_LOADERS = ('direct', 'grub')
QEMU = 'qemu-system-x86_64'
PR_SET_PDEATHSIG = 1


class VMError(RuntimeError):
    """The VM did not start, did not answer, or died; the message has the console's tail."""


def read_guest_file(disk, path, dest):
    """Copy `path` out of the ext4 root filesystem in `disk` (qcow2 or raw) to `dest`."""
    return read_guest_files(disk, [(path, dest)])[0]


def read_guest_files(disk, wanted):
    """Copy each (guest path, dest) of `wanted` out of the ext4 root filesystem
    in `disk` (qcow2 or raw); the dests, in order.

    qemu must not be running on the disk.  debugfs reads only raw images, so
    a qcow2 overlay is flattened first, once (sparse, under a second here).
    """
    raw = wanted[0][1] + '.raw'
    try:
        subprocess.run(['qemu-img', 'convert', '-O', 'raw', disk, raw], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        for path, dest in wanted:
            probe = subprocess.run(['debugfs', '-R', 'stat ' + path, raw], check=False,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
            if 'Type: regular' not in probe.stdout:
                raise VMError('the guest has no regular file %s (debugfs: %s)'
                              % (path, probe.stderr.strip()[-300:]))
            subprocess.run(['debugfs', '-R', 'dump %s %s' % (path, dest), raw], check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    except subprocess.CalledProcessError as e:
        raise VMError('cannot read %s from %s: %s' % (', '.join(p for p, _d in wanted), disk,
                                                      (e.stderr or b'').decode(errors='replace')))
    finally:
        if os.path.exists(raw):
            os.remove(raw)
    return [dest for _path, dest in wanted]


def grub_default_entry(text):
    """(kernel, initrd, arguments) of the first menuentry of a grub.cfg, the
    one GRUB_DEFAULT=0 boots; None when there is none.  The arguments are
    those of its `linux` line after the kernel's path, as GRUB hands them on
    (after BOOT_IMAGE=, which GRUB adds)."""
    kernel = initrd = None
    arguments = []
    depth = 0
    inside = False
    for raw in text.splitlines():
        line = raw.strip()
        if not inside and depth == 0 and line.startswith('menuentry '):
            inside = True
        if inside:
            words = shlex.split(line, comments=True) if line else []
            if words[:1] == ['linux'] and len(words) > 1 and kernel is None:
                kernel, arguments = words[1], words[2:]
            elif words[:1] == ['initrd'] and len(words) > 1 and initrd is None:
                initrd = words[1]
        depth += line.count('{') - line.count('}')
        if inside and depth == 0 and line.endswith('}'):
            break
    if kernel is None:
        return None
    # GRUB's loader puts an argument holding a space in double quotes (the kernel takes it as one)
    return kernel, initrd, ' '.join('"%s"' % a if ' ' in a else a for a in arguments)


def sha256_of(path):
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            h.update(block)
    return h.hexdigest()


def free_port():
    """A loopback TCP port nobody listens on right now (qemu binds it a moment later)."""
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def boot_timeout():
    return float(os.environ.get('KMOD_VM_BOOT_TIMEOUT') or 300)


def _die_with_parent():
    # The VM must not outlive a test run that was killed.
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


class VM(object):
    """One qemu process booting a private overlay of the cached image."""

    def __init__(self, accel=None, memory=MEMORY_MB, cpus=CPUS, workdir=None, log=None, boot_loader='direct'):
        """boot_loader 'direct': every boot has DIRECT_CMDLINE, as `qemu -kernel`.
        'grub': the harness plays the part of GRUB's menu.  The first boot is
        what its entry for the image's kernel would be (BOOT_IMAGE= and
        DIRECT_CMDLINE); each later one boots the kernel, initrd and command
        line of the first entry of the guest's /boot/grub/grub.cfg (written
        by update-grub in the guest), when there is one."""
        if boot_loader not in BOOT_LOADERS:
            raise VMError('boot_loader must be one of %s, not %r' % (', '.join(BOOT_LOADERS), boot_loader))
        self.boot_loader = boot_loader
        self.accel = accel or os.environ.get('KMOD_VM_ACCEL') or 'tcg'
        self.memory = memory
        self.cpus = cpus
        self.workdir = workdir
        self.log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
        self.image = None
        self.port = None
        self.pid = None
        self.key = None
        self._proc = None
        self._stopping = False
        self._lock = threading.Lock()
        self.restarts = 0
        self.boot_seconds = None
        self.kernel = None         # the files qemu booted last, and the command line
        self.initrd = None
        self.cmdline = None
        self.restart_error = None  # why the watcher could not boot the guest again
        self.spawn_error = None    # why qemu could not be started at all

    # -- files in the work directory ---------------------------------------
    overlay = property(lambda self: os.path.join(self.workdir, 'disk.qcow2'))
    console_log = property(lambda self: os.path.join(self.workdir, 'console.log'))
    inventory = property(lambda self: os.path.join(self.workdir, 'inventory.yml'))
    _control_path = property(lambda self: os.path.join(self.workdir, 'ssh-control'))

    # -- life cycle ---------------------------------------------------------
    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def start(self):
        """Boot and wait for ssh."""
        missing = missing_tools([QEMU, 'qemu-img', 'ssh'])
        if missing:
            raise VMError('cannot start the VM: missing %s (run `make deps`)' % ', '.join(missing))
        self.image = ensure_image(log=self.log)
        self.key = self.image.key
        if self.workdir is None:
            self.workdir = tempfile.mkdtemp(prefix='kmod-vm-')
        create_overlay(self.image, self.overlay)
        # A fresh overlay holds the image's own /boot: its cached copies are those files.
        self.kernel, self.initrd = self.image.kernel, self.image.initrd
        self.cmdline = DIRECT_CMDLINE
        if self.boot_loader == 'grub':
            self.cmdline = 'BOOT_IMAGE=%s/vmlinuz-%s %s' % (GUEST_BOOT, self.image.kernel_release, DIRECT_CMDLINE)
        started = time.monotonic()
        # qemu's parent is one thread that lives as long as qemu does (PDEATHSIG follows the parent
        # *thread*): whichever thread calls start(), even one that ends soon after, qemu stays.
        spawned = threading.Event()
        self.spawn_error = None
        threading.Thread(target=self._own_qemu, args=(spawned,), name='qemu-owner', daemon=True).start()
        spawned.wait()
        if self.spawn_error:
            raise VMError(self.spawn_error)
        self._write_inventory()
        try:
            self.wait_for_ssh()
            self.settle()
        except BaseException:
            self.stop()
            raise
        self.boot_seconds = time.monotonic() - started
        return self

    def _qemu_command(self):
        accel = ['-accel', 'kvm', '-cpu', 'host'] if self.accel == 'kvm' else ['-accel', 'tcg', '-cpu', 'max']
        return [QEMU] + accel + [
            '-m', str(self.memory), '-smp', str(self.cpus),
            '-kernel', self.kernel, '-initrd', self.initrd,
            '-append', self.cmdline,
            '-drive', 'file=%s,format=qcow2,if=virtio' % self.overlay,
            '-nic', 'user,model=virtio-net-pci,hostfwd=tcp:127.0.0.1:%d-:22' % self.port,
            '-display', 'none', '-monitor', 'none',
            '-chardev', 'file,id=console,append=on,path=%s' % self.console_log, '-serial', 'chardev:console',
            '-pidfile', os.path.join(self.workdir, 'qemu.pid'), '-no-reboot',
        ]

    def _spawn(self):
        with open(os.path.join(self.workdir, 'qemu.log'), 'ab') as qlog:
            self._proc = subprocess.Popen(
                self._qemu_command(), stdin=subprocess.DEVNULL, stdout=qlog, stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent)
        self.pid = self._proc.pid

    def _take_boot_files_from_guest(self):
        # What the guest's boot loader would load: its own kernel and initrd of the image's release,
        # or in 'grub' mode what the first entry of its grub.cfg names.
        release = self.image.kernel_release
        n = self.restarts
        kernel, initrd = '%s/vmlinuz-%s' % (GUEST_BOOT, release), '%s/initrd.img-%s' % (GUEST_BOOT, release)
        self.cmdline = DIRECT_CMDLINE
        if self.boot_loader == 'grub':
            entry = self._guest_grub_entry()
            if entry is None:
                self.log('the guest has no %s with a linux entry: booting %s directly' % (GRUB_CFG, kernel))
            else:
                kernel, initrd, arguments = entry[0], entry[1] or initrd, entry[2]
                self.cmdline = 'BOOT_IMAGE=%s %s' % (kernel, arguments)
        self.kernel, self.initrd = read_guest_files(self.overlay, [
            (kernel, os.path.join(self.workdir, 'vmlinuz.%d' % n)),
            (initrd, os.path.join(self.workdir, 'initrd.img.%d' % n))])
        for old in ('vmlinuz.%d' % (n - 1), 'initrd.img.%d' % (n - 1)):
            if os.path.exists(os.path.join(self.workdir, old)):
                os.remove(os.path.join(self.workdir, old))

    def _guest_grub_entry(self):
        dest = os.path.join(self.workdir, 'grub.cfg')
        try:
            read_guest_file(self.overlay, GRUB_CFG, dest)
        except VMError:
            return None
        with open(dest, errors='replace') as f:
            return grub_default_entry(f.read())

    def booted_initrd_sha256(self):
        """The sha256 of the initrd qemu booted last (tests compare it with the guest's file)."""
        return sha256_of(self.initrd)

    def _guest_restarted(self):
        # The kernel's last words decide: a reboot, not a power-off or a crash.
        return 'reboot: Restarting system' in tail(self.console_log, 15)

    def _own_qemu(self, spawned):
        try:
            for attempt in range(3):
                self.port = free_port()
                self._spawn()
                time.sleep(0.5)
                if self._proc.poll() is None:
                    break
                # Most likely someone took the port between free_port() and qemu's bind.
                if attempt == 2:
                    self.spawn_error = 'qemu exited with %s:\n%s' % (self._proc.returncode, self.console_tail())
                    return
        except OSError as e:  # no qemu binary, no workdir: start() says so instead of waiting for ssh
            self.spawn_error = 'cannot start qemu: %s' % e
            return
        finally:
            spawned.set()
        self._restart_on_guest_reboot()

    def _restart_on_guest_reboot(self):
        # Runs in the thread that started qemu, its parent: it lives as long as qemu does.
        while True:
            proc = self._proc
            rc = proc.wait()
            with self._lock:
                if self._stopping or proc is not self._proc:
                    return
                if rc != 0 or not self._guest_restarted():
                    return
                self.restarts += 1
                try:
                    self._take_boot_files_from_guest()
                except (VMError, OSError) as e:
                    self.restart_error = str(e)
                    self.log('not booting the guest again: %s' % e)
                    return
                self._spawn()

    def alive(self, grace=5):
        """Is qemu running?  Waits up to `grace` seconds for the watcher to restart a rebooted guest."""
        if self._proc is not None:
            deadline = time.monotonic() + grace
            while True:
                with self._lock:
                    if self._proc.poll() is None:
                        return True
                if time.monotonic() >= deadline:
                    return False
                time.sleep(0.2)
        try:
            os.kill(self.pid, 0)
            return True
        except (OSError, TypeError):
            return False

    def stop(self):
        """Kill qemu and remove the overlay (the whole work directory unless KMOD_VM_KEEP is set)."""
        if self.workdir and os.path.exists(self._control_path):
            self._close_ssh_master()
        with self._lock:
            self._stopping = True
        if self.pid and self.alive(grace=0):
            os.kill(self.pid, signal.SIGTERM)
            deadline = time.monotonic() + 10
            while self.alive(grace=0) and time.monotonic() < deadline:
                if self._proc is not None:
                    try:
                        self._proc.wait(0.2)
                    except subprocess.TimeoutExpired:
                        pass
                else:
                    time.sleep(0.2)
            if self.alive(grace=0):
                os.kill(self.pid, signal.SIGKILL)
                if self._proc is not None:
                    self._proc.wait()
        self.pid = None
        if self.workdir and os.path.isdir(self.workdir):
            if os.environ.get('KMOD_VM_KEEP'):
                self.log('VM work directory kept: %s' % self.workdir)
            else:
                shutil.rmtree(self.workdir, ignore_errors=True)

    # -- reaching the guest -------------------------------------------------
    def _ssh_base(self):
        return ['ssh', '-p', str(self.port), '-i', self.key,
                '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null',
                '-o', 'LogLevel=ERROR', '-o', 'BatchMode=yes', '-o', 'ConnectTimeout=10',
                # several TCG guests on two cores can stall sshd for a while: a minute before giving up
                '-o', 'ServerAliveInterval=5', '-o', 'ServerAliveCountMax=12',
                '-o', 'ControlMaster=auto', '-o', 'ControlPersist=120',
                '-o', 'ControlPath=%s' % self._control_path]

    def ssh(self, cmd, timeout=600, input=None):
        """Run cmd (a shell string, or a list to be quoted) as root in the guest: (rc, stdout, stderr).

        rc 255 means ssh itself failed.
        """
        if not isinstance(cmd, str):
            cmd = ' '.join(shlex.quote(c) for c in cmd)
        for attempt in range(2):
            proc = subprocess.run(self._ssh_base() + ['root@127.0.0.1', cmd], input=input, check=False,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  stdin=None if input is not None else subprocess.DEVNULL,
                                  universal_newlines=True, timeout=timeout)
            # A master connection that died hands out no session: the command never started, so
            # it is safe to run it once more over a new connection.
            if proc.returncode != 255 or 'mux_client_request_session' not in proc.stderr or attempt:
                break
            self._close_ssh_master()
        return proc.returncode, proc.stdout, proc.stderr

    def _close_ssh_master(self):
        subprocess.run(self._ssh_base() + ['-O', 'exit', 'root@127.0.0.1'], check=False,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def _sshd_banner(self):
        """True once the guest's sshd greets us (qemu accepts the TCP connection earlier)."""
        try:
            with socket.create_connection(('127.0.0.1', self.port), timeout=5) as s:
                return s.recv(4).startswith(b'SSH-')
        except OSError:
            return False

    def wait_for_ssh(self, timeout=None, until=None):
        """Wait until `ssh true` works (and until(), if given, is true); VMError on timeout."""
        timeout = timeout or boot_timeout()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                if self.restart_error:
                    raise VMError('the guest rebooted but could not be booted again: %s' % self.restart_error)
                raise VMError('qemu died while waiting for ssh:\n%s' % self.console_tail())
            if self._sshd_banner():
                try:
                    rc = self.ssh('true', timeout=30)[0]
                except subprocess.TimeoutExpired:
                    rc = 255
                if rc == 0 and (until is None or until()):
                    return
            time.sleep(1)
        raise VMError('no ssh on 127.0.0.1:%s after %.0f s; last console lines (%s):\n%s'
                      % (self.port, timeout, self.console_log, self.console_tail()))

    def boot_id(self):
        rc, out, err = self.ssh('cat /proc/sys/kernel/random/boot_id', timeout=60)
        if rc != 0:
            raise VMError('cannot read boot_id (rc %s): %s' % (rc, err))
        return out.strip()

    def reboot(self, timeout=None):
        """Reboot the guest on the same disk and wait until it answers again; returns the new boot_id."""
        old = self.boot_id()
        # The reply may never come: the connection dies with the guest.
        self.ssh('systemctl reboot', timeout=60)
        self._close_ssh_master()

        def rebooted():
            try:
                return self.boot_id() != old
            except (VMError, subprocess.TimeoutExpired):
                return False
        self.wait_for_ssh(timeout=timeout, until=rebooted)
        self.settle()
        return self.boot_id()

    def settle(self, timeout=None):
        """Wait until systemd has finished booting and udev has handled every event.

        sshd answers before udev is done loading modules by alias (pcspkr,
        floppy...), so tests that compare loaded modules need this.  A
        `degraded` system counts as booted.
        """
        rc, out, err = self.ssh('systemctl is-system-running --wait; udevadm settle --timeout=120',
                                timeout=timeout or boot_timeout())
        state = out.strip()
        if state not in ('running', 'degraded') or rc not in (0, 1):
            raise VMError('the guest did not finish booting (state %r, rc %s): %s\n%s'
                          % (state, rc, err.strip(), self.console_tail()))
        return state

    def console_tail(self, lines=40):
        return tail(self.console_log, lines) if self.workdir else '(no console log)'

    def _write_inventory(self):
        host = {
            'ansible_host': '127.0.0.1',
            'ansible_port': self.port,
            'ansible_user': 'root',
            'ansible_ssh_private_key_file': self.key,
            'ansible_python_interpreter': '/usr/bin/python3',
            'ansible_ssh_common_args': '-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null',
            'ansible_ssh_pipelining': True,
        }
        # JSON is YAML: Ansible's yaml inventory plugin reads this file as it is.
        with open(self.inventory, 'w') as f:
            json.dump({'all': {'hosts': {GUEST: host}}}, f, indent=1)

    # -- the CLI's state file -----------------------------------------------
    def state(self):
        return {'pid': self.pid, 'port': self.port, 'workdir': self.workdir, 'key': self.key,
                'inventory': self.inventory, 'image': self.image.path if self.image else None,
                'supervisor': os.getpid()}

    @classmethod
    def attach(cls, state):
        """A VM object for a qemu started by another process (no Popen handle)."""
        vm = cls(workdir=state['workdir'])
        vm.pid, vm.port, vm.key = state['pid'], state['port'], state['key']
        return vm


def _state_path(name=None):
    return os.path.join(cache_root(), 'running-%s.json' % name if name else STATE_FILE)


def _load_state(name=None):
    try:
        with open(_state_path(name)) as f:
            return json.load(f)
    except FileNotFoundError:
        return None


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except (OSError, TypeError):
        return False


def _serve(name, memory):
    """The supervisor behind `up`: owns qemu until SIGTERM, restarting it on guest reboots."""
    def _terminate(signum, frame):
        raise SystemExit(0)
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGINT, _terminate)
    vm = VM(memory=memory)
    path = _state_path(name)
    try:
        vm.start()
        tmp = path + '.tmp'
        with open(tmp, 'w') as f:
            json.dump(vm.state(), f, indent=1)
        os.rename(tmp, path)
        vm.log('VM up in %.0f s: ssh -p %s -i %s root@127.0.0.1' % (vm.boot_seconds, vm.port, vm.key))
        while vm.alive(grace=30):
            time.sleep(2)
        vm.log('qemu is gone (%s); the supervisor exits' % (vm.restart_error or 'powered off or crashed'))
        return 1
    finally:
        vm.stop()
        if _load_state(name) and _load_state(name).get('supervisor') == os.getpid():
            os.remove(path)


def _up(name, memory):
    state = _load_state(name)
    if state and _pid_alive(state.get('supervisor')) and VM.attach(state).alive(grace=0):
        return state
    if state:
        os.remove(_state_path(name))
    ensure_image()      # built here, in the foreground, with its log on stderr
    log_path = os.path.join(cache_root(), 'supervisor%s.log' % ('-' + name if name else ''))
    with open(log_path, 'ab') as log:
        proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), '_serve', '--name', name or '',
                                 '--memory', str(memory)],
                                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
    deadline = time.monotonic() + 2 * boot_timeout()
    while time.monotonic() < deadline:
        state = _load_state(name)
        if state and state.get('supervisor') == proc.pid:
            return state
        if proc.poll() is not None:
            raise VMError('the VM did not start (supervisor exited %s); log %s:\n%s'
                          % (proc.returncode, log_path, tail(log_path)))
        time.sleep(1)
    proc.terminate()
    raise VMError('the VM did not start in %.0f s; log %s:\n%s' % (2 * boot_timeout(), log_path, tail(log_path)))


def _down(name):
    state = _load_state(name)
    if state is None:
        return
    supervisor = state.get('supervisor')
    if _pid_alive(supervisor):
        os.kill(supervisor, signal.SIGTERM)
        deadline = time.monotonic() + 30
        while _pid_alive(supervisor) and time.monotonic() < deadline:
            time.sleep(0.2)
    if _pid_alive(state.get('pid')):     # the supervisor was killed before it could stop qemu
        VM.attach(state).stop()
    if os.path.exists(_state_path(name)):
        os.remove(_state_path(name))


def main(argv):
    parser = argparse.ArgumentParser(prog='vm.py', description='a throwaway VM for kernel.kmod tests')
    commands = parser.add_subparsers(dest='command', required=True)
    for command in ('up', 'down', 'ssh', '_serve'):
        sub = commands.add_parser(command)
        sub.add_argument('--name', default='', help='several VMs at once: one name each')
        if command in ('up', '_serve'):
            sub.add_argument('--memory', type=int, default=MEMORY_MB, help='MiB of guest memory')
        if command == 'ssh':
            sub.add_argument('cmd', nargs=argparse.REMAINDER, help='the command to run in the guest')
    args = parser.parse_args(argv)
    name = args.name or None
    if args.command == '_serve':
        return _serve(name, args.memory)
    if args.command == 'up':
        print(_up(name, args.memory)['inventory'])
        return 0
    if args.command == 'down':
        _down(name)
        return 0
    state = _load_state(name)
    if state is None:
        print('no VM is running (python tests/vm/vm.py up%s)' % (' --name ' + name if name else ''), file=sys.stderr)
        return 1
    if not args.cmd:
        print('usage: vm.py ssh [--name NAME] CMD...', file=sys.stderr)
        return 2
    rc, out, err = VM.attach(state).ssh(' '.join(args.cmd))
    sys.stdout.write(out)
    sys.stderr.write(err)
    return rc


if __name__ == '__main__':
    try:
        sys.exit(main(sys.argv[1:]))
    except (VMError, ImageError) as e:
        sys.exit(str(e))
