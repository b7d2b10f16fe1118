"""Boot a throwaway VM, run one playbook against it, tear the VM down.

    python tests/vm/run_playbook.py PLAYBOOK [ansible-playbook arguments...]

Exits with ansible-playbook's exit code (`make demo` runs this).  The image
is built on first use and cached (see tests/vm/image.py).
"""

import os
import subprocess
import sys
import time

if __package__ in (None, ''):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
from tests.vm.ansible_run import ansible_env, ansible_tool  # noqa: E402
from tests.vm.image import ImageError  # noqa: E402
from tests.vm.vm import VM, VMError  # noqa: E402


def main(argv):
    if not argv or argv[0] in ('-h', '--help'):
        print(__doc__.strip(), file=sys.stderr)
        return 2
    playbook, extra = argv[0], argv[1:]
    if not os.path.exists(playbook):
        print('no such playbook: %s' % playbook, file=sys.stderr)
        return 2
    cmd = [ansible_tool('ansible-playbook')]
    try:
        with VM() as vm:
            print('VM up in %.0f s (kernel %s); running %s' % (vm.boot_seconds, vm.image.kernel_release, playbook),
                  file=sys.stderr, flush=True)
            started = time.monotonic()
            rc = subprocess.call(cmd + ['-i', vm.inventory, playbook] + extra, env=ansible_env())
            print('ansible-playbook exited %d after %.0f s; tearing the VM down' % (rc, time.monotonic() - started),
                  file=sys.stderr, flush=True)
            return rc
    except (VMError, ImageError) as e:
        print(str(e), file=sys.stderr)
        return 1


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
