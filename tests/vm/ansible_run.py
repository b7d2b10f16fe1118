"""Run ansible-playbook or ad-hoc `ansible -m` against a test VM and parse the results.

The collection is found through ANSIBLE_COLLECTIONS_PATH (the Makefile points
it at .build, where ansible_collections/kernel/kmod links to this checkout);
results come back through the kmod_json callback in tests/vm/callback/.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CALLBACK_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'callback')


def ansible_tool(name):
    """ansible-playbook / ansible from the interpreter's own venv first, then PATH."""
    beside = os.path.join(os.path.dirname(sys.executable), name)
    if os.path.exists(beside):
        return beside
    found = shutil.which(name)
    if found is None:
        raise RuntimeError('%s not found (run `make venv`)' % name)
    return found


def ansible_env(results_file=None, collections_path=None):
    """The environment for Ansible: collection path, no host key prompts, optional JSON results.

    collections_path: use only the collections installed there (not this
    checkout, not sys.path), as a user who installed the tarball does.
    """
    env = dict(os.environ)
    if collections_path:
        env['ANSIBLE_COLLECTIONS_PATH'] = collections_path
        env['ANSIBLE_COLLECTIONS_SCAN_SYS_PATH'] = 'False'
    else:
        env.setdefault('ANSIBLE_COLLECTIONS_PATH', os.path.join(REPO, '.build'))
        link = os.path.join(REPO, '.build', 'ansible_collections', 'kernel', 'kmod')
        if not os.path.islink(link) and not os.path.exists(link):
            os.makedirs(os.path.dirname(link), exist_ok=True)
            os.symlink(REPO, link)
    # Ansible's own files (tmp, cp, galaxy cache) stay in the checkout, not in the user's ~/.ansible.
    env.setdefault('ANSIBLE_HOME', os.path.join(REPO, '.build', 'ansible-home'))
    env['ANSIBLE_HOST_KEY_CHECKING'] = 'False'
    env['ANSIBLE_RETRY_FILES_ENABLED'] = 'False'
    env.setdefault('ANSIBLE_NOCOLOR', '1')
    env.setdefault('ANSIBLE_FORCE_COLOR', '0')
    if results_file:
        env['ANSIBLE_CALLBACK_PLUGINS'] = CALLBACK_DIR
        env['ANSIBLE_STDOUT_CALLBACK'] = 'kmod_json'
        env['ANSIBLE_LOAD_CALLBACK_PLUGINS'] = 'True'   # ad-hoc runs ignore stdout callbacks without it
        env['KMOD_ANSIBLE_JSON'] = results_file
    return env


class AnsibleResult(object):
    """rc, stdout, stderr, tasks (list of per-host task results), stats (per host)."""

    def __init__(self, rc, stdout, stderr, tasks, stats):
        self.rc = rc
        self.stdout = stdout
        self.stderr = stderr
        self.tasks = tasks
        self.stats = stats

    def task(self, name):
        """The one result of the task called name (AssertionError if not exactly one)."""
        found = [t for t in self.tasks if t['task'] == name]
        assert len(found) == 1, 'expected one result for task %r, got %d; tasks: %s' % (
            name, len(found), [t['task'] for t in self.tasks])
        return found[0]

    @property
    def changed(self):
        return any(t['changed'] for t in self.tasks)

    def __repr__(self):
        return 'AnsibleResult(rc=%r, tasks=%r)' % (self.rc, [(t['task'], t['status']) for t in self.tasks])


def _run(cmd, timeout, collections_path=None):
    fd, results = tempfile.mkstemp(prefix='kmod-ansible-', suffix='.json')
    os.close(fd)
    try:
        proc = subprocess.run(cmd, env=ansible_env(results, collections_path), cwd=REPO, stdin=subprocess.DEVNULL, check=False,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              universal_newlines=True, timeout=timeout)
        with open(results) as f:
            text = f.read()
    finally:
        os.remove(results)
    doc = json.loads(text) if text.strip() else {'tasks': [], 'stats': {}}
    return AnsibleResult(proc.returncode, proc.stdout, proc.stderr, doc['tasks'], doc['stats'])


def _mode_args(extra_vars, check, diff):
    args = []
    if extra_vars:
        args += ['--extra-vars', json.dumps(extra_vars)]
    if check:
        args.append('--check')
    if diff:
        args.append('--diff')
    return args


def run_playbook(vm, playbook, extra_vars=None, check=False, diff=False, args=(), timeout=1800, collections_path=None):
    """Run a playbook (a path, or the YAML text of one) against the VM: an AnsibleResult.

    collections_path: as ansible_env takes it."""
    path, tmp = playbook, None
    if '\n' in playbook or not os.path.exists(playbook):
        fd, tmp = tempfile.mkstemp(prefix='kmod-play-', suffix='.yml')
        with os.fdopen(fd, 'w') as f:
            f.write(playbook)
        path = tmp
    try:
        cmd = [ansible_tool('ansible-playbook'), '-i', vm.inventory, path]
        return _run(cmd + _mode_args(extra_vars, check, diff) + list(args), timeout, collections_path)
    finally:
        if tmp:
            os.remove(tmp)


def run_module(vm, module, args=None, check=False, diff=False, timeout=900, collections_path=None):
    """Run one module ad hoc (`ansible -m`) against the VM and return its result dict.

    The dict is the module's return value plus `_status` (ok, changed,
    failed, skipped or unreachable, as Ansible judged it).  collections_path:
    as ansible_env takes it.
    """
    cmd = [ansible_tool('ansible'), 'all', '-i', vm.inventory, '-m', module]
    if args:
        cmd += ['-a', json.dumps(args) if isinstance(args, dict) else args]
    res = _run(cmd + _mode_args(None, check, diff), timeout, collections_path)
    if len(res.tasks) != 1:
        raise AssertionError('ansible -m %s gave %d results (rc %s):\n%s\n%s'
                             % (module, len(res.tasks), res.rc, res.stdout, res.stderr))
    out = dict(res.tasks[0]['result'])
    out['_status'] = res.tasks[0]['status']
    return out
