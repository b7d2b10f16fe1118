"""Benchmark: kmod_facts on a real kernel (the test VM), against kmod's own tools.

Boots the test VM (tests/vm, TCG unless KMOD_VM_ACCEL=kvm) and measures, in
rounds whose order rotates so every row sees the same load:

(a) in the VM, what a node runs, each a cold process:
    - `module`: the module file, `python3 kmod_facts.py args.json` with
      default options (args.json is {"ANSIBLE_MODULE_ARGS": {}}), from the
      very files Ansible ships for it (the AnsiballZ payload of one real
      `ansible -m kernel.kmod.kmod_facts` run, kept with
      ANSIBLE_KEEP_REMOTE_FILES and unpacked with its `explode` command),
      under PYTHONDONTWRITEBYTECODE=1 and checked to leave no __pycache__:
      every file is compiled on every run, as from AnsiballZ's zip;
    - `floor`: `python3 -c 'import ansible.module_utils.basic'` from the
      same payload, also compiled afresh: what every module run pays before
      its own first line;
    - `ansiballz` and `ansiballz_ping`: Ansible's own wrapper files
      (AnsiballZ_kmod_facts.py, AnsiballZ_ping.py) run as Ansible runs them,
      unpacking their zip first: the whole cost on the node, and its floor;
(b) in the VM, `lsmod >/dev/null; modprobe -c >/dev/null` through /bin/sh;
(c) a breakdown, the library alone: gather_facts(root='/') warm (imports
    done, one process), and as a fresh `python3 -c` process with the
    library's .pyc files and without them (`python3 -B` on a copy that has
    none);
(d) from the controller, the whole module through Ansible
    (`ansible -m kernel.kmod.kmod_facts`, wall time) against an
    `ansible -m ansible.builtin.command -a lsmod` round trip, alternating,
    which shows how much of it is Ansible's own cost.

Medians, and ratios taken from the same run; the host's load average (1 min)
before, between and after, and the guest's.  Writes bench/results/facts_vm.md
(date, machine, VM kernel, the command) and prints it.  Never used as a test:
nothing here asserts a time.

Run: .venv/bin/python bench/facts_vm.py   (also part of make bench)
Environment: BENCH_FACTS_N (rounds of (a)-(c), default 7),
BENCH_FACTS_BASE (a git revision: also time the module as it was there,
`module_base`, from the same payload with the collection's files of that
revision, in the same rounds: a before/after under the same load),
BENCH_ANSIBLE_N (rounds of (d), default 5), BENCH_VM_STATE (the state file
`tests/vm/vm.py up` writes, $KMOD_TEST_CACHE/vm/running[-NAME].json: measure
that running VM instead of booting one).
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

FACTS_N = int(os.environ.get('BENCH_FACTS_N', '7'))
ANSIBLE_N = int(os.environ.get('BENCH_ANSIBLE_N', '5'))
RESULTS = os.path.join(HERE, 'results', 'facts_vm.md')
GUEST_DIR = '/tmp/kmod-bench'
TOOLS_CMD = 'lsmod >/dev/null; modprobe -c >/dev/null'
MODULE_IN_PAYLOAD = 'ansible_collections/kernel/kmod/plugins/modules/kmod_facts.py'
# The rows of (a)-(c), in the order of the first round (later rounds rotate it).
GUEST_ROWS = ('module', 'floor', 'ansiballz', 'ansiballz_ping', 'tools', 'warm', 'cold', 'nopyc')
BASE = os.environ.get('BENCH_FACTS_BASE')

# Runs in the VM: rounds of every row, the order rotated each round; prints
# one JSON document of per-round seconds (and the guest's load average).
GUEST_SCRIPT = r'''
import json, os, subprocess, sys, time
D = %(dir)r
sys.path.insert(0, D + '/pyc')
from ansible_collections.kernel.kmod.plugins.module_utils.facts.gather import gather_facts

COLD = ("import sys; sys.path.insert(0, %%r); "
        "from ansible_collections.kernel.kmod.plugins.module_utils.facts.gather import gather_facts; "
        "gather_facts(root='/')")
# As AnsiballZ runs a module: nothing of the payload compiled beforehand, nothing written.
NODE_ENV = dict(os.environ, PYTHONPATH=D + '/payload', PYTHONDONTWRITEBYTECODE='1')
QUIET = dict(stdout=subprocess.DEVNULL, check=True)

def module():
    subprocess.run([sys.executable, D + '/payload/' + %(module)r, D + '/args.json'], env=NODE_ENV, **QUIET)

def module_base():
    subprocess.run([sys.executable, D + '/base/' + %(module)r, D + '/args.json'],
                   env=dict(NODE_ENV, PYTHONPATH=D + '/base'), **QUIET)

def floor():
    subprocess.run([sys.executable, '-c', 'import ansible.module_utils.basic'], env=NODE_ENV, **QUIET)

def ansiballz():
    subprocess.run([sys.executable, D + '/AnsiballZ_kmod_facts.py'], **QUIET)

def ansiballz_ping():
    subprocess.run([sys.executable, D + '/AnsiballZ_ping.py'], **QUIET)

def tools():
    subprocess.run(%(tools)r, shell=True, check=True)

def warm():
    gather_facts(root='/')

def cold():
    subprocess.run([sys.executable, '-c', COLD %% (D + '/pyc')], check=True)

def nopyc():
    subprocess.run([sys.executable, '-B', '-c', COLD %% (D + '/nopyc')], check=True)

# A sanity check of what is timed: the module's own result, the library's facts.
out = subprocess.run([sys.executable, D + '/payload/' + %(module)r, D + '/args.json'], env=NODE_ENV,
                     stdout=subprocess.PIPE, check=True).stdout
result = json.loads(out.decode().strip().splitlines()[-1])
kmod = result['ansible_facts']['kmod']
assert kmod['running'] and kmod['loaded'] and not result.get('failed'), 'the module described no running kernel'
facts, warnings = gather_facts(root='/')
assert sorted(facts['loaded']) == sorted(kmod['loaded']), 'the module and the library disagree'
runs = [(name, globals()[name]) for name in %(rows)r]
for _name, fn in runs:   # warm-up
    fn()
times = dict((name, []) for name, _fn in runs)
for i in range(%(n)d):
    k = i %% len(runs)
    for name, fn in runs[k:] + runs[:k]:
        start = time.perf_counter()
        fn()
        times[name].append(time.perf_counter() - start)
for top, dirs, _files in list(os.walk(D + '/payload')) + list(os.walk(D + '/base')):
    assert '__pycache__' not in dirs, 'compiled files appeared in the payload: %%s' %% top
times['loaded'] = len(kmod['loaded'])
times['builtin'] = len(kmod['builtin'])
times['config_files'] = len(kmod['config']['files'])
times['result_bytes'] = len(out)
times['guest_load'] = open('/proc/loadavg').read().split()[0]
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


def ansible_once(vm, args, env=None):
    cmd = [ansible_tool('ansible'), 'all', '-i', vm.inventory] + args
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env or ansible_env(), cwd=REPO, stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, check=False)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError('%s failed (rc %s):\n%s' % (' '.join(args), proc.returncode, proc.stdout[-2000:]))
    return elapsed


def node_payload(vm):
    """Put into GUEST_DIR what Ansible runs on the node: AnsiballZ_kmod_facts.py and
    AnsiballZ_ping.py as one real run of each left them (ANSIBLE_KEEP_REMOTE_FILES),
    and kmod_facts's payload unpacked by the wrapper's own `explode` (payload/)."""
    env = ansible_env()
    env['ANSIBLE_KEEP_REMOTE_FILES'] = '1'   # implies no pipelining: the wrapper is written to a file
    for module, wrapper in (('kernel.kmod.kmod_facts', 'AnsiballZ_kmod_facts.py'),
                            ('ansible.builtin.ping', 'AnsiballZ_ping.py')):
        ansible_once(vm, ['-m', module, '-e', 'ansible_pipelining=false'], env)
        ssh_ok(vm, 'set -e; f=$(ls -t ~/.ansible/tmp/ansible-tmp-*/%s | head -n 1); d=$(dirname "$f"); '
                   'cp "$f" %s/; rm -rf "$d"' % (wrapper, GUEST_DIR))
    ssh_ok(vm, 'set -e; cd %s; mkdir x; cp AnsiballZ_kmod_facts.py x/; python3 x/AnsiballZ_kmod_facts.py explode >/dev/null; '
               'mv x/debug_dir payload; rm -rf x payload/args; '
               'echo \'{"ANSIBLE_MODULE_ARGS": {}}\' > args.json; test -f payload/%s'
           % (GUEST_DIR, MODULE_IN_PAYLOAD))
    if BASE:
        base_payload(vm)


def base_payload(vm):
    """GUEST_DIR/base: the payload with each of the collection's files as it was at BASE."""
    listing = ssh_ok(vm, 'cd %s/payload && find ansible_collections -name "*.py"' % GUEST_DIR).split()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode='w:gz') as tar:
        prefix = 'ansible_collections/kernel/kmod/'
        for path in listing:
            if not path.startswith(prefix):
                continue
            repo_path = path[len(prefix):]
            shown = subprocess.run(['git', '-C', REPO, 'show', '%s:%s' % (BASE, repo_path)],
                                   stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, check=False)
            if shown.returncode != 0:
                continue   # a file BASE did not have (an __init__.py Ansible writes)
            info = tarfile.TarInfo(path)
            info.size = len(shown.stdout)
            tar.addfile(info, io.BytesIO(shown.stdout))
    ssh_ok(vm, 'cd %s && cp -a payload base && base64 -d | tar -xz -C base' % GUEST_DIR,
           stdin_text=base64.b64encode(buf.getvalue()).decode('ascii'))


def guest_rounds(vm):
    ssh_ok(vm, 'rm -rf %s && mkdir -p %s' % (GUEST_DIR, GUEST_DIR))
    tree = package_tree()
    for sub in ('pyc', 'nopyc'):
        where = '%s/%s' % (GUEST_DIR, sub)
        ssh_ok(vm, 'mkdir -p %s && base64 -d | tar -xz -C %s' % (where, where), stdin_text=tree)
    node_payload(vm)
    script = GUEST_SCRIPT % {'dir': GUEST_DIR, 'tools': TOOLS_CMD, 'n': FACTS_N, 'module': MODULE_IN_PAYLOAD,
                             'rows': guest_rows()}
    out = ssh_ok(vm, 'python3 -', stdin_text=script)
    ssh_ok(vm, 'rm -rf %s' % GUEST_DIR)
    return json.loads(out.strip().splitlines()[-1])


def guest_rows():
    return GUEST_ROWS + (('module_base',) if BASE else ())


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


def paired(times, top, bottom):
    """Median over the rounds of top's time / bottom's time in the same round."""
    return statistics.median(t / b for t, b in zip(times[top], times[bottom]))


def report(vm, guest, kernel, controller, started, load):
    med = dict((k, statistics.median(v)) for k, v in guest.items() if isinstance(v, list))
    amed = dict((k, statistics.median(v)) for k, v in controller.items())
    tools = med['tools']
    lines = [
        '# kmod_facts on a real kernel (test VM)',
        '',
        '- date: %s' % started.strftime('%Y-%m-%d %H:%M UTC'),
        '- machine: %d CPUs (nproc), %s; host kernel %s' % (os.cpu_count(), cpu_model(), platform.release()),
        '- host load average (1 min) before the VM rows, after them, after the Ansible rows: %.2f, %.2f, %.2f '
        '(a shared machine: other helpers\' VMs and builds count); the guest\'s after its rows: %s' % (load + (guest['guest_load'],)),
        '- VM: Debian 12, kernel %s, qemu %s, %d vCPUs, %d MiB; %d modules loaded, %d builtin, %d config files; '
        'the module\'s result is %d bytes of JSON'
        % (kernel, vm.accel.upper(), vm.cpus, vm.memory, guest['loaded'], guest['builtin'], guest['config_files'],
           guest['result_bytes']),
        '- reproduce: `%s.venv/bin/python bench/facts_vm.py` (or `make bench`); '
        'BENCH_FACTS_N=%d, BENCH_ANSIBLE_N=%d' % ('BENCH_FACTS_BASE=%s ' % BASE if BASE else '', FACTS_N, ANSIBLE_N),
        '',
        '## In the VM: the module as a node runs it, against kmod\'s tools (median of %d rounds, order rotated)' % FACTS_N,
        '',
        'Cold processes; nothing of Ansible\'s payload is compiled beforehand (PYTHONDONTWRITEBYTECODE=1, '
        'no __pycache__ before or after), as when AnsiballZ imports it from its zip.',
        '',
        '| what | median | / tools |',
        '|---|---|---|',
        '| `python3 kmod_facts.py args.json` (default options, the files Ansible ships) | %.3f s | %.2f |'
        % (med['module'], med['module'] / tools),
        '| floor: `python3 -c \'import ansible.module_utils.basic\'` (same files) | %.3f s | %.2f |'
        % (med['floor'], med['floor'] / tools),
        '| the module above its floor (module - floor) | %.3f s | %.2f |'
        % (med['module'] - med['floor'], (med['module'] - med['floor']) / tools),
        '| `python3 AnsiballZ_kmod_facts.py` (Ansible\'s wrapper: unzip, then the module) | %.3f s | %.2f |'
        % (med['ansiballz'], med['ansiballz'] / tools),
        '| `python3 AnsiballZ_ping.py` (the wrapper\'s floor: the smallest AnsibleModule) | %.3f s | %.2f |'
        % (med['ansiballz_ping'], med['ansiballz_ping'] / tools),
        '| `%s` | %.3f s | 1.00 |' % (TOOLS_CMD, tools),
    ]
    if BASE:
        lines += [
            '| the module file as at `%s` (BENCH_FACTS_BASE; same payload otherwise) | %.3f s | %.2f |'
            % (BASE, med['module_base'], med['module_base'] / tools),
            '',
            'now / at %s: the module %.2f, above the floor %.2f'
            % (BASE, med['module'] / med['module_base'],
               (med['module'] - med['floor']) / (med['module_base'] - med['floor'])),
        ]
    lines += [
        '',
        'ratios: module / tools = %.2f; floor / tools = %.2f; AnsiballZ kmod_facts / tools = %.2f, '
        '/ AnsiballZ ping = %.2f'
        % (med['module'] / tools, med['floor'] / tools, med['ansiballz'] / tools,
           med['ansiballz'] / med['ansiballz_ping']),
        '',
        'the same as medians of the ratios within each round (rows of one round ran one after another, '
        'so they saw nearly the same load): module / tools = %.2f; floor / tools = %.2f; module / floor = %.2f%s'
        % (paired(guest, 'module', 'tools'), paired(guest, 'floor', 'tools'), paired(guest, 'module', 'floor'),
           '; module now / at %s = %.2f' % (BASE, paired(guest, 'module', 'module_base')) if BASE else ''),
        '',
        '## Breakdown: the library alone (same rounds)',
        '',
        '| what | median | / tools |',
        '|---|---|---|',
        '| `gather_facts(root=\'/\')` in a warm Python process | %.3f s | %.2f |' % (med['warm'], med['warm'] / tools),
        '| `python3 -c` importing and calling `gather_facts(root=\'/\')`, with .pyc | %.3f s | %.2f |'
        % (med['cold'], med['cold'] / tools),
        '| the same, compiling the library (no .pyc) | %.3f s | %.2f |' % (med['nopyc'], med['nopyc'] / tools),
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
    for name in guest_rows():
        lines.append('%-14s %s' % (name, ' '.join('%.3f' % t for t in guest[name])))
    for name in ('kmod_facts', 'command_lsmod'):
        lines.append('%-14s %s' % (name, ' '.join('%.2f' % t for t in controller[name])))
    lines += ['```', '']
    return '\n'.join(lines)


def measure(vm, started):
    load_before = os.getloadavg()[0]
    kernel = ssh_ok(vm, 'uname -r').strip()
    guest = guest_rounds(vm)
    load_between = os.getloadavg()[0]
    controller = ansible_rounds(vm)
    return report(vm, guest, kernel, controller, started, (load_before, load_between, os.getloadavg()[0]))


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
