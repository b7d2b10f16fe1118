"""Benchmark: kmod_facts on a real kernel (the test VM), against kmod's own tools.

Boots the test VM (tests/vm, TCG unless KMOD_VM_ACCEL=kvm) and measures:

(a) in the VM, the library call kmod_facts makes, gather_facts(root='/'),
    timed inside one Python process (warm: imports done), and the same as a
    fresh `python3 -c` process per call (cold: interpreter start and imports
    included, the way a tool runs), once with the library's .pyc files and
    once without (`python3 -B` on a copy that has none: how the module runs
    from Ansible's AnsiballZ zip, which is compiled on every run);
(b) in the VM, `lsmod >/dev/null; modprobe -c >/dev/null` through /bin/sh,
    interleaved with (a) round by round so both see the same load;
(c) from the controller, the whole module through Ansible
    (`ansible -m kernel.kmod.kmod_facts`, wall time) against an
    `ansible -m ansible.builtin.command -a lsmod` round trip, alternating,
    which shows how much of (c) is Ansible's own cost.

Medians, and ratios taken from the same run.  Writes bench/results/facts_vm.md
(date, machine, VM kernel, the command) and prints it.  Never used as a test:
nothing here asserts a time.

Run: make bench   (or: .venv/bin/python bench/facts_vm.py)
Environment: BENCH_FACTS_N (rounds of (a)/(b), default 20),
BENCH_ANSIBLE_N (rounds of (c), default 5), BENCH_VM_STATE (the state file
`tests/vm/vm.py up` writes, $KMOD_TEST_CACHE/vm/running.json: measure that
running VM instead of booting one).
"""

import base64
import datetime
import io
import json
import os
import platform
import statistics
import subprocess
import sys
import tarfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, REPO)

from tests.lib.library_payload import add_library  # noqa: E402
from tests.vm.ansible_run import ansible_env, ansible_tool  # noqa: E402
from tests.vm.vm import VM  # noqa: E402

FACTS_N = int(os.environ.get('BENCH_FACTS_N', '20'))
ANSIBLE_N = int(os.environ.get('BENCH_ANSIBLE_N', '5'))
RESULTS = os.path.join(HERE, 'results', 'facts_vm.md')
GUEST_DIR = '/tmp/kmod-bench'
TOOLS_CMD = 'lsmod >/dev/null; modprobe -c >/dev/null'

# Runs in the VM: rounds of (a) warm, cold, cold without .pyc and (b), the
# order rotated each round; prints one JSON document of per-round seconds.
GUEST_SCRIPT = r'''
import json, subprocess, sys, time
sys.path.insert(0, %(dir)r + '/pyc')
from ansible_collections.kernel.kmod.plugins.module_utils.facts.gather import gather_facts

COLD = ("import sys; sys.path.insert(0, %%r); "
        "from ansible_collections.kernel.kmod.plugins.module_utils.facts.gather import gather_facts; "
        "gather_facts(root='/')")

def warm():
    gather_facts(root='/')

def cold():
    subprocess.run([sys.executable, '-c', COLD %% (%(dir)r + '/pyc')], check=True)

def nopyc():
    subprocess.run([sys.executable, '-B', '-c', COLD %% (%(dir)r + '/nopyc')], check=True)

def tools():
    subprocess.run(%(tools)r, shell=True, check=True)

facts, warnings = gather_facts(root='/')   # warm-up, and a sanity check
assert facts['running'] and facts['loaded'], 'facts describe no running kernel'
runs = [('warm', warm), ('cold', cold), ('nopyc', nopyc), ('tools', tools)]
for _name, fn in runs:
    fn()
times = dict((name, []) for name, _fn in runs)
for i in range(%(n)d):
    for name, fn in runs[i %% 4:] + runs[:i %% 4]:
        start = time.perf_counter()
        fn()
        times[name].append(time.perf_counter() - start)
times['loaded'] = len(facts['loaded'])
times['builtin'] = len(facts['builtin'])
times['config_files'] = len(facts['config']['files'])
print(json.dumps(times))
'''


def package_tree():
    """base64 of a tar.gz: ansible_collections/kernel/kmod/plugins/module_utils with its packages and __init__.py files."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode='w:gz') as tar:
        prefix = 'ansible_collections/kernel/kmod/plugins'
        for pkg in ('ansible_collections', 'ansible_collections/kernel', 'ansible_collections/kernel/kmod', prefix):
            info = tarfile.TarInfo(pkg + '/__init__.py')
            info.size = 0
            tar.addfile(info, io.BytesIO(b''))
        add_library(tar, prefix + '/module_utils')
    return base64.b64encode(buf.getvalue()).decode('ascii')


def ssh_ok(vm, cmd, stdin_text=None):
    rc, out, err = vm.ssh(cmd, input=stdin_text, timeout=3600)
    if rc != 0:
        raise RuntimeError('in the VM, %s failed (rc %s): %s' % (cmd[:80], rc, err.strip()))
    return out


def guest_rounds(vm):
    tree = package_tree()
    for sub in ('pyc', 'nopyc'):
        where = '%s/%s' % (GUEST_DIR, sub)
        ssh_ok(vm, 'rm -rf %s && mkdir -p %s && base64 -d | tar -xz -C %s' % (where, where, where), stdin_text=tree)
    script = GUEST_SCRIPT % {'dir': GUEST_DIR, 'tools': TOOLS_CMD, 'n': FACTS_N}
    out = ssh_ok(vm, 'python3 -', stdin_text=script)
    ssh_ok(vm, 'rm -rf %s' % GUEST_DIR)
    return json.loads(out.strip().splitlines()[-1])


def ansible_once(vm, args):
    cmd = [ansible_tool('ansible'), 'all', '-i', vm.inventory] + args
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=ansible_env(), cwd=REPO, stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, check=False)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError('%s failed (rc %s):\n%s' % (' '.join(args), proc.returncode, proc.stdout[-2000:]))
    return elapsed


def ansible_rounds(vm):
    runs = [('kmod_facts', ['-m', 'kernel.kmod.kmod_facts']),
            ('command_lsmod', ['-m', 'ansible.builtin.command', '-a', 'lsmod'])]
    for _name, args in runs:     # warm-up: ssh control master, Ansible's caches
        ansible_once(vm, args)
    times = dict((name, []) for name, _args in runs)
    for i in range(ANSIBLE_N):
        for name, args in (runs if i % 2 == 0 else runs[::-1]):
            times[name].append(ansible_once(vm, args))
    return times


def cpu_model():
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or 'unknown'


def report(vm, guest, kernel, controller, started, load):
    med = dict((k, statistics.median(v)) for k, v in guest.items() if isinstance(v, list))
    amed = dict((k, statistics.median(v)) for k, v in controller.items())
    lines = [
        '# kmod_facts on a real kernel (test VM)',
        '',
        '- date: %s' % started.strftime('%Y-%m-%d %H:%M UTC'),
        '- machine: %d CPUs (nproc), %s; host kernel %s' % (os.cpu_count(), cpu_model(), platform.release()),
        '- host load average (1 min) before and after: %.2f, %.2f (a shared machine: other VMs count)' % load,
        '- VM: Debian 12, kernel %s, qemu %s, %d vCPUs, %d MiB; %d modules loaded, %d builtin, %d config files'
        % (kernel, vm.accel.upper(), vm.cpus, vm.memory, guest['loaded'], guest['builtin'], guest['config_files']),
        '- reproduce: `make bench` (or `.venv/bin/python bench/facts_vm.py`); '
        'BENCH_FACTS_N=%d, BENCH_ANSIBLE_N=%d' % (FACTS_N, ANSIBLE_N),
        '',
        '## In the VM: the library against kmod\'s tools (median of %d interleaved rounds)' % FACTS_N,
        '',
        '| what | median |',
        '|---|---|',
        '| `gather_facts(root=\'/\')` in a warm Python process | %.3f s |' % med['warm'],
        '| `python3 -c` importing and calling `gather_facts(root=\'/\')` | %.3f s |' % med['cold'],
        '| the same, compiling the library (no .pyc, as from AnsiballZ) | %.3f s |' % med['nopyc'],
        '| `%s` | %.3f s |' % (TOOLS_CMD, med['tools']),
        '',
        'ratios: warm / tools = %.2f; cold / tools = %.2f; no .pyc / tools = %.2f'
        % (med['warm'] / med['tools'], med['cold'] / med['tools'], med['nopyc'] / med['tools']),
        '',
        '## From the controller: through Ansible (median of %d alternating rounds, wall time)' % ANSIBLE_N,
        '',
        '| what | median |',
        '|---|---|',
        '| `ansible -m kernel.kmod.kmod_facts` | %.2f s |' % amed['kmod_facts'],
        '| `ansible -m ansible.builtin.command -a lsmod` | %.2f s |' % amed['command_lsmod'],
        '',
        'ratio kmod_facts / command lsmod = %.2f; difference %.2f s (the rest is Ansible\'s own round trip)'
        % (amed['kmod_facts'] / amed['command_lsmod'], amed['kmod_facts'] - amed['command_lsmod']),
        '',
        '## Raw seconds',
        '',
        '```',
    ]
    for name in ('warm', 'cold', 'nopyc', 'tools'):
        lines.append('%-14s %s' % (name, ' '.join('%.3f' % t for t in guest[name])))
    for name in ('kmod_facts', 'command_lsmod'):
        lines.append('%-14s %s' % (name, ' '.join('%.2f' % t for t in controller[name])))
    lines += ['```', '']
    return '\n'.join(lines)


def measure(vm, started):
    load_before = os.getloadavg()[0]
    kernel = ssh_ok(vm, 'uname -r').strip()
    guest = guest_rounds(vm)
    controller = ansible_rounds(vm)
    return report(vm, guest, kernel, controller, started, (load_before, os.getloadavg()[0]))


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
