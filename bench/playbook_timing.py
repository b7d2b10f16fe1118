"""What the VM benchmarks share: one playbook's wall time from the controller.
Not a benchmark itself."""

import os
import subprocess
import tempfile
import time

from tests.vm.ansible_run import ansible_tool

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def time_playbook(vm, text, env, what):
    """Seconds of `ansible-playbook` running the playbook `text` against the
    VM (Ansible's start-up included); RuntimeError naming `what` when it fails."""
    with tempfile.NamedTemporaryFile('w', suffix='.yml', delete=False) as f:
        f.write(text)
    try:
        cmd = [ansible_tool('ansible-playbook'), '-i', vm.inventory, f.name]
        start = time.perf_counter()
        proc = subprocess.run(cmd, env=env, cwd=REPO, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, universal_newlines=True, check=False)
        elapsed = time.perf_counter() - start
    finally:
        os.remove(f.name)
    if proc.returncode != 0:
        raise RuntimeError('%s failed (rc %s):\n%s' % (what, proc.returncode, proc.stdout[-3000:]))
    return elapsed
