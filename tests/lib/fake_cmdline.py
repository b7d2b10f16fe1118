"""Running kmod's tools under a kernel command line of our choosing.

modprobe always reads /proc/cmdline.  As root, with `unshare`, a private
mount namespace can bind a file of ours over it for one command; elsewhere
the tests fall back to the host's own command line.
"""

import os
import shutil
import subprocess


def can_fake_cmdline():
    """True when a command can be run with a fake /proc/cmdline here."""
    if os.geteuid() != 0 or not shutil.which('unshare'):
        return False
    r = subprocess.run(['unshare', '-m', 'sh', '-c', 'mount --bind /dev/null /proc/cmdline'],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return r.returncode == 0


FAKE_CMDLINE = can_fake_cmdline()


def host_cmdline():
    """This machine's own kernel command line, as text."""
    with open('/proc/cmdline', 'rb') as f:
        return f.read().decode('utf-8', 'surrogateescape')


def under_cmdline(argv, cmdline_file):
    """argv wrapped so that it sees cmdline_file as /proc/cmdline (needs FAKE_CMDLINE)."""
    return ['unshare', '-m', 'sh', '-c', 'mount --bind "$0" /proc/cmdline && exec "$@"', cmdline_file] + list(argv)
