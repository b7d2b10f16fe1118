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
  KMOD_VM_BOOT_TIMEOUT (seconds, default
300) bounds each wait for ssh.  KMOD_VM_KEEP=1 keeps the work directory
(overlay, console log) after teardown for a post-mortem.

Command line (one VM at a time, state in $KMOD_TEST_CACHE/vm/running.json):
    python tests/vm/vm.py up           # prints the inventory path, leaves the VM running
    python tests/vm/vm.py ssh CMD...   # runs CMD in the VM, exits with its code
    python tests/vm/vm.py down
"""

import ctypes
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
QEMU = 'qemu-system-x86_64'
PR_SET_PDEATHSIG = 1


class VMError(RuntimeError):
    """The VM did not start, did not answer, or died; the message has the console's tail."""


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

    def __init__(self, accel=None, memory=MEMORY_MB, cpus=CPUS, workdir=None, log=None):
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
        self._detached = False
        self._stopping = False
        self._lock = threading.Lock()
        self.restarts = 0
        self.boot_seconds = None

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

    def start(self, detach=False):
        """Boot and wait for ssh.  detach=True lets qemu outlive this process (the CLI's `up`)."""
        missing = missing_tools([QEMU, 'qemu-img', 'ssh'])
        if missing:
            raise VMError('cannot start the VM: missing %s (run `make deps`)' % ', '.join(missing))
        self.image = ensure_image(log=self.log)
        self.key = self.image.key
        if self.workdir is None:
            self.workdir = tempfile.mkdtemp(prefix='kmod-vm-')
        create_overlay(self.image, self.overlay)
        started = time.monotonic()
        for attempt in range(3):
            self.port = free_port()
            self._detached = detach
            self._spawn()
            time.sleep(0.5)
            if self._proc.poll() is None:
                break
            # Most likely someone took the port between free_port() and qemu's bind.
            if attempt == 2:
                raise VMError('qemu exited with %s:\n%s' % (self._proc.returncode, self.console_tail()))
        self._write_inventory()
        if not detach:
            threading.Thread(target=self._restart_on_guest_reboot, name='qemu-watcher', daemon=True).start()
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
            '-kernel', self.image.kernel, '-initrd', self.image.initrd,
            '-append', 'root=/dev/vda rw console=ttyS0 panic=-1',
            '-drive', 'file=%s,format=qcow2,if=virtio' % self.overlay,
            '-nic', 'user,model=virtio-net-pci,hostfwd=tcp:127.0.0.1:%d-:22' % self.port,
            '-display', 'none', '-monitor', 'none',
            '-chardev', 'file,id=console,append=on,path=%s' % self.console_log, '-serial', 'chardev:console',
            '-pidfile', os.path.join(self.workdir, 'qemu.pid'),
        ] + ([] if self._detached else ['-no-reboot'])

    def _spawn(self):
        with open(os.path.join(self.workdir, 'qemu.log'), 'ab') as qlog:
            self._proc = subprocess.Popen(
                self._qemu_command(), stdin=subprocess.DEVNULL, stdout=qlog, stderr=subprocess.STDOUT,
                start_new_session=self._detached, preexec_fn=None if self._detached else _die_with_parent)
        self.pid = self._proc.pid

    def _guest_restarted(self):
        # The kernel's last words decide: a reboot, not a power-off or a crash.
        return 'reboot: Restarting system' in tail(self.console_log, 15)

    def _restart_on_guest_reboot(self):
        # This thread is qemu's parent (PDEATHSIG is per thread): it lives as long as qemu does.
        while True:
            proc = self._proc
            rc = proc.wait()
            with self._lock:
                if self._stopping or proc is not self._proc:
                    return
                if rc != 0 or not self._guest_restarted():
                    return
                self.restarts += 1
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
                '-o', 'ServerAliveInterval=5', '-o', 'ServerAliveCountMax=3',
                '-o', 'ControlMaster=auto', '-o', 'ControlPersist=120',
                '-o', 'ControlPath=%s' % self._control_path]

    def ssh(self, cmd, timeout=600, input=None):
        """Run cmd (a shell string, or a list to be quoted) as root in the guest: (rc, stdout, stderr).

        rc 255 means ssh itself failed.
        """
        if not isinstance(cmd, str):
            cmd = ' '.join(shlex.quote(c) for c in cmd)
        proc = subprocess.run(self._ssh_base() + ['root@127.0.0.1', cmd], input=input, check=False,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              stdin=None if input is not None else subprocess.DEVNULL,
                              universal_newlines=True, timeout=timeout)
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
                'inventory': self.inventory, 'image': self.image.path if self.image else None}

    @classmethod
    def attach(cls, state):
        """A VM object for a qemu started by another process (no Popen handle)."""
        vm = cls(workdir=state['workdir'])
        vm.pid, vm.port, vm.key = state['pid'], state['port'], state['key']
        return vm


def _state_path():
    return os.path.join(cache_root(), STATE_FILE)


def _load_state():
    try:
        with open(_state_path()) as f:
            return json.load(f)
    except FileNotFoundError:
        return None


def main(argv):
    usage = 'usage: vm.py up | down | ssh CMD...'
    if not argv or argv[0] not in ('up', 'down', 'ssh'):
        print(usage, file=sys.stderr)
        return 2
    state = _load_state()
    if argv[0] == 'up':
        if state and VM.attach(state).alive():
            print(state['inventory'])
            return 0
        vm = VM()
        vm.start(detach=True)
        with open(_state_path(), 'w') as f:
            json.dump(vm.state(), f, indent=1)
        vm.log('VM up in %.0f s: ssh -p %s -i %s root@127.0.0.1' % (vm.boot_seconds, vm.port, vm.key))
        print(vm.inventory)
        return 0
    if state is None:
        print('no VM is running (python tests/vm/vm.py up)', file=sys.stderr)
        return 1
    vm = VM.attach(state)
    if argv[0] == 'down':
        vm.stop()
        os.remove(_state_path())
        return 0
    if len(argv) < 2:
        print(usage, file=sys.stderr)
        return 2
    rc, out, err = vm.ssh(' '.join(argv[1:]))
    sys.stdout.write(out)
    sys.stderr.write(err)
    return rc


if __name__ == '__main__':
    try:
        sys.exit(main(sys.argv[1:]))
    except (VMError, ImageError) as e:
        sys.exit(str(e))
