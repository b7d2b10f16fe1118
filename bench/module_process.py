"""What bench/depmod_module.py and bench/depmod_incremental.py share: kmod_depmod
run as a node runs it (the module file as a process, AnsibleModule included,
default options) on hard-linked copies of Debian's tree, against kmod's depmod.
Not a benchmark itself."""

import filecmp
import hashlib
import json
import os
import resource
import subprocess
import sys
import time

from tests.lib.compressed_tree import INPUTS, delete_outputs

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)

DEPMOD = '/sbin/depmod'
DEFAULT_CACHE = '/var/cache/kernel-kmod/depmod'
MODULE = os.path.join(REPO, 'plugins', 'modules', 'kmod_depmod.py')
ENV = dict(os.environ, PYTHONPATH=os.pathsep.join([os.path.join(REPO, '.build'), REPO] + sys.path))


def children_cpu():
    """CPU seconds (user + system) of every child process waited for so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(cmd, **kwargs):
    """(seconds, stdout) of a command that must succeed."""
    start = time.perf_counter()
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, check=False,
                          **kwargs)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError('%s failed: %s %s' % (cmd[:3], proc.stdout[-500:], proc.stderr[-500:]))
    return elapsed, proc.stdout


def fresh_copy(tree, top, name):
    """A copy of the tree's module directory, module files hard-linked, no indexes."""
    root = os.path.join(top, name)
    dest = os.path.join(root, 'lib', 'modules', tree.release)
    os.makedirs(os.path.dirname(dest))
    subprocess.run(['cp', '-al', tree.module_dir, dest], check=True)
    delete_outputs(dest)
    return root


def outputs(module_dir):
    return sorted(e for e in os.listdir(module_dir) if e.startswith('modules.') and e not in INPUTS)


def same_outputs(a, b):
    names = outputs(a)
    return names == outputs(b) and all(filecmp.cmp(os.path.join(a, n), os.path.join(b, n), shallow=False)
                                       for n in names)


def run_module(root, release, args_dir, env=None):
    """(seconds, result) of the module with only basedir and kernel_release set."""
    path = os.path.join(args_dir, 'args.json')
    with open(path, 'w') as f:
        json.dump({'ANSIBLE_MODULE_ARGS': {'basedir': root, 'kernel_release': release}}, f)
    elapsed, out = timed([sys.executable, MODULE, path], env=env or ENV)
    result = json.loads(out)
    if result.get('failed'):
        raise RuntimeError('kmod_depmod failed: %s' % result.get('msg'))
    return elapsed, result


def forget_cache(module_dir, release):
    """Remove the default cache_dir's files of a copy (named after its path's hash)."""
    ident = hashlib.sha256(os.path.abspath(module_dir).encode('utf-8', 'surrogateescape')).hexdigest()[:16]
    for entry in os.listdir(DEFAULT_CACHE) if os.path.isdir(DEFAULT_CACHE) else ():
        if entry.startswith('%s-%s.' % (release, ident)):
            os.unlink(os.path.join(DEFAULT_CACHE, entry))
