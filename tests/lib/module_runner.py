"""Run a module file of this collection the way Ansible runs it on a node.

The module is executed by the Python running the tests with an arguments
file ({"ANSIBLE_MODULE_ARGS": ...}) and the collection importable from
.build; its JSON result is returned.  No mocks.
"""

import json
import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run_module(name, tmp_path, args, check=False, diff=False):
    """The parsed result of plugins/modules/<name>.py run with args."""
    args = dict(args, _ansible_check_mode=check, _ansible_diff=diff)
    args_file = os.path.join(str(tmp_path), 'args-%s.json' % name)
    with open(args_file, 'w') as f:
        json.dump({'ANSIBLE_MODULE_ARGS': args}, f)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([os.path.join(REPO, '.build')] + sys.path))
    proc = subprocess.run([sys.executable, os.path.join(REPO, 'plugins', 'modules', name + '.py'), args_file],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                          env=env, check=False)
    assert proc.stdout, proc.stderr
    return json.loads(proc.stdout)


def warning_texts(result):
    """Warning messages: plain strings before ansible-core 2.19, summaries since."""
    return [w if isinstance(w, str) else w['event']['msg'] for w in result.get('warnings', [])]
