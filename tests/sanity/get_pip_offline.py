"""Stand-in for the pip bootstrap script that ansible-test downloads.

ansible-test fetches get-pip.py from a host this machine cannot reach, and
says the script may be saved by hand under ~/.ansible/test/cache/.  This file
is what tests/sanity/run.sh saves there: it bootstraps pip with the standard
library's ensurepip, then lets that pip install the requested packages from
the package index (which is reachable).  It is run as __main__ by
ansible-test's quiet_pip.py with pip's own arguments.
"""

import subprocess
import sys

args = [a for a in sys.argv[1:] if a not in ('--no-setuptools', '--no-wheel')]
subprocess.check_call([sys.executable, '-m', 'ensurepip', '--default-pip'],
                      stdout=subprocess.DEVNULL)
sys.exit(subprocess.call([sys.executable, '-m', 'pip', 'install'] + args))
