"""`make lint` and `make docs` leave the user's home alone.

ansible-lint, run on a collection checkout with ANSIBLE_COLLECTIONS_PATH set,
used to install a copy of the collection into ~/.ansible/collections; every
later ansible-playbook run on the machine then found that stale copy before
the checkout. The lint target now runs ansible-lint offline with ANSIBLE_HOME
inside .build; docs/build.sh keeps ansible-core's directories and antsibull's
log (~/antsibull.log by default) in .build too. Each target runs here with
HOME set to an empty directory, which must still be empty afterwards.
"""

import os
import shutil
import subprocess

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VENV = os.path.join(REPO, '.venv')


def everything_under(path):
    found = []
    for root, dirs, files in os.walk(path):
        found.extend(os.path.relpath(os.path.join(root, name), path) for name in dirs + files)
    return sorted(found)


def run_make(target, home):
    env = {key: value for key, value in os.environ.items()
           if not key.startswith('ANSIBLE_') and key not in ('XDG_CACHE_HOME', 'XDG_CONFIG_HOME', 'VIRTUAL_ENV')}
    env['HOME'] = str(home)
    # -o: the virtualenv counts as made, so a checkout whose .venv is shared
    # (a worktree's symlink) is used as it is, never rebuilt by the test.
    return subprocess.run(['make', '--no-print-directory', '-o', '.venv/.stamp', target], cwd=REPO, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, check=False)


@pytest.mark.slow
@pytest.mark.parametrize('target, program', [('lint', 'ansible-lint'), ('docs', 'antsibull-docs')])
def test_make_target_writes_nothing_under_home(tmp_path, target, program):
    if shutil.which('make') is None or not os.path.exists(os.path.join(VENV, 'bin', program)):
        pytest.skip('needs make and %s in .venv (make venv)' % program)
    home = tmp_path / 'home'
    home.mkdir()
    done = run_make(target, home)
    assert done.returncode == 0, done.stdout
    assert everything_under(str(home)) == [], done.stdout
    assert 'was found installed in' not in done.stdout
