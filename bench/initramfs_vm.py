"""Benchmark: kmod_initramfs on Debian's real initramfs in the test VM.

Boots the test VM (tests/vm, TCG unless KMOD_VM_ACCEL=kvm) and measures, in
the VM, in the same run:

(a) the "is it stale?" check: a fresh `python3 -c` process importing the
    library and calling the task in check mode (initramfs.task.run_task,
    what kmod_initramfs runs; the image is current, so it decides "not
    stale" after reading the whole image and comparing its modprobe.d files
    and module files with the host), against `lsinitramfs IMAGE >/dev/null`
    listing the same image; interleaved, the order swapped every round;
(b) the rebuild of a stale image (a modprobe.d file changed before each
    run): the same process running the task (state=current: it reads the
    image, finds it stale, runs update-initramfs -u -k REL) against
    `update-initramfs -u -k REL` alone, alternating, the order swapped
    every round.

One untimed rebuild first brings the image to its steady state (the
image's first build used MODULES=most; the VM's conf.d says MODULES=dep)
and warms the page cache.  Each rebuild takes one to two minutes under TCG,
so (b) runs BENCH_REBUILD_N rounds (default 2) and (a) BENCH_CHECK_N
(default 5).  The module through
Ansible adds AnsibleModule's import (about 0.1 s here) and Ansible's round
trip on top of (a); not measured here.  Writes bench/results/initramfs_vm.md
and prints it.  Never used as a test: nothing here asserts a time.

Run: .venv/bin/python bench/initramfs_vm.py
Environment: BENCH_CHECK_N, BENCH_REBUILD_N, BENCH_VM_STATE (the state file
`tests/vm/vm.py up` writes: measure that running VM instead of booting one).
"""

import datetime
import json
import os
import platform
import statistics
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, REPO)

from bench.facts_vm import cpu_model, package_tree, ssh_ok  # noqa: E402
from tests.vm.vm import VM  # noqa: E402

CHECK_N = int(os.environ.get('BENCH_CHECK_N', '5'))
REBUILD_N = int(os.environ.get('BENCH_REBUILD_N', '2'))
RESULTS = os.path.join(HERE, 'results', 'initramfs_vm.md')
GUEST_DIR = '/tmp/kmod-bench-initramfs'

GUEST_SCRIPT = r'''
import json, os, subprocess, sys, time
REL = os.uname()[2]
IMAGE = '/boot/initrd.img-' + REL
CALL = ("import sys, json; sys.path.insert(0, %%r); "
        "from ansible_collections.kernel.kmod.plugins.module_utils.initramfs.task import run_task; "
        "r, w = run_task({'state': %%r}, check_mode=%%r); "
        "print(json.dumps([i['stale'] for i in r['images']] + [r['changed']]))")

def ours(state, check):
    out = subprocess.run([sys.executable, '-c', CALL %% (%(dir)r, state, check)], check=True,
                         stdout=subprocess.PIPE, universal_newlines=True).stdout
    return json.loads(out)

def timed(fn):
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value

def lsinitramfs():
    subprocess.run('lsinitramfs %%s >/dev/null' %% IMAGE, shell=True, check=True)

def update():
    subprocess.run(['update-initramfs', '-u', '-k', REL], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)

MARK = '/etc/modprobe.d/kmod-bench-initramfs.conf'

def make_stale(i):
    with open(MARK, 'w') as f:
        f.write('# bench round %%d\n' %% i)

def rebuild_module():
    value = ours('current', False)
    assert value == [True, True], value

# warm-up: one rebuild untimed, so the image is in its steady state (MODULES=dep) and the tree is cached
ours('rebuilt', False)
first = ours('current', True)
assert first == [False, False], 'the image is not current before measuring: %%r' %% first
lsinitramfs()
times = {'check': [], 'lsinitramfs': [], 'rebuild_module': [], 'rebuild_alone': []}
for i in range(%(check_n)d):
    pair = [('check', lambda: ours('current', True)), ('lsinitramfs', lsinitramfs)]
    for name, fn in (pair if i %% 2 == 0 else pair[::-1]):
        seconds, value = timed(fn)
        if name == 'check':
            assert value == [False, False], value
        times[name].append(seconds)
step = 0
for i in range(%(rebuild_n)d):
    pair = [('rebuild_module', rebuild_module), ('rebuild_alone', update)]
    for name, fn in (pair if i %% 2 == 0 else pair[::-1]):
        step += 1
        make_stale(step)
        times[name].append(timed(fn)[0])
os.unlink(MARK)
times['image_bytes'] = os.path.getsize(IMAGE)
times['kernel'] = REL
print(json.dumps(times))
'''


def guest_rounds(vm):
    ssh_ok(vm, 'rm -rf %s && mkdir -p %s && base64 -d | tar -xz -C %s' % (GUEST_DIR, GUEST_DIR, GUEST_DIR),
           stdin_text=package_tree())
    script = GUEST_SCRIPT % {'dir': GUEST_DIR, 'check_n': CHECK_N, 'rebuild_n': REBUILD_N}
    out = ssh_ok(vm, 'python3 -', stdin_text=script)
    ssh_ok(vm, 'rm -rf %s' % GUEST_DIR)
    return json.loads(out.strip().splitlines()[-1])


def report(vm, guest, started, load):
    med = dict((k, statistics.median(v)) for k, v in guest.items() if isinstance(v, list))
    lines = [
        '# kmod_initramfs on Debian\'s real initramfs (test VM)',
        '',
        '- date: %s' % started.strftime('%Y-%m-%d %H:%M UTC'),
        '- machine: %d CPUs (nproc), %s; host kernel %s' % (os.cpu_count(), cpu_model(), platform.release()),
        '- host load average (1 min) before and after: %.2f, %.2f (a shared machine: other VMs count)' % load,
        '- VM: Debian 12, kernel %s, qemu %s, %d vCPUs, %d MiB; image %.1f MB (gzip, MODULES=dep)'
        % (guest['kernel'], vm.accel.upper(), vm.cpus, vm.memory, guest['image_bytes'] / 1e6),
        '- reproduce: `.venv/bin/python bench/initramfs_vm.py`; BENCH_CHECK_N=%d, BENCH_REBUILD_N=%d'
        % (CHECK_N, REBUILD_N),
        '',
        '| what | median |',
        '|---|---|',
        '| check, not stale: `python3 -c` importing the library and running the task in check mode | %.2f s |'
        % med['check'],
        '| `lsinitramfs IMAGE >/dev/null` | %.2f s |' % med['lsinitramfs'],
        '| stale image rebuilt through the task (state=current: check, `update-initramfs -u -k REL`) | %.1f s |'
        % med['rebuild_module'],
        '| `update-initramfs -u -k REL` alone | %.1f s |' % med['rebuild_alone'],
        '',
        'ratios: check / lsinitramfs = %.2f (goal <= 0.5); rebuild through the task / alone = %.3f (goal <= 1.05)'
        % (med['check'] / med['lsinitramfs'], med['rebuild_module'] / med['rebuild_alone']),
        '',
        'Through Ansible, a module run adds AnsibleModule\'s import (about 0.1 s) and Ansible\'s own round trip.',
        '',
        '## Raw seconds',
        '',
        '```',
    ]
    for name in ('check', 'lsinitramfs', 'rebuild_module', 'rebuild_alone'):
        lines.append('%-15s %s' % (name, ' '.join('%.2f' % t for t in guest[name])))
    lines += ['```', '']
    return '\n'.join(lines)


def measure(vm, started):
    load_before = os.getloadavg()[0]
    guest = guest_rounds(vm)
    return report(vm, guest, started, (load_before, os.getloadavg()[0]))


def main():
    started = datetime.datetime.now(datetime.timezone.utc)
    state = os.environ.get('BENCH_VM_STATE')
    if state:
        with open(state) as f:
            text = measure(VM.attach(json.load(f)), started)
    else:
        with VM() as vm:
            print('VM up in %.0f s; measuring' % vm.boot_seconds, file=sys.stderr, flush=True)
            text = measure(vm, started)
    os.makedirs(os.path.dirname(RESULTS), exist_ok=True)
    with open(RESULTS, 'w') as f:
        f.write(text)
    print(text)
    return 0


if __name__ == '__main__':
    sys.exit(main())
