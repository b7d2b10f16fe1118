"""The library (plugins/module_utils, with its packages) as a base64 tar.gz,
for scripts that run it on the VM without Ansible.

library_payload(prefix) puts every .py file under prefix/ (their paths
relative to module_utils kept), __pycache__ left out.  guest_script(body)
is a whole script for `python3 -` on the VM: the payload unpacked as the
collection's package tree, then body, which imports from
ansible_collections.kernel.kmod.plugins.module_utils as modules do.
"""

import base64
import io
import os
import tarfile

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODULE_UTILS = os.path.join(REPO, 'plugins', 'module_utils')


def library_files():
    """Paths of the library's .py files relative to module_utils, sorted."""
    found = []
    for top, dirs, files in os.walk(MODULE_UTILS):
        dirs[:] = [d for d in dirs if d != '__pycache__']
        found += [os.path.relpath(os.path.join(top, f), MODULE_UTILS) for f in files if f.endswith('.py')]
    return sorted(found)


def add_library(tar, prefix=''):
    """Add the library's files to an open tarfile under prefix."""
    for rel in library_files():
        tar.add(os.path.join(MODULE_UTILS, rel), arcname=os.path.join(prefix, rel) if prefix else rel)


def library_payload(prefix=''):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode='w:gz') as tar:
        add_library(tar, prefix)
    return base64.b64encode(buf.getvalue()).decode('ascii')


_UNPACK = r'''
import base64 as _base64, io as _io, os as _os, sys as _sys, tarfile as _tarfile, tempfile as _tempfile
_top = _tempfile.mkdtemp(prefix='kmod-library-')
_base = _os.path.join(_top, 'ansible_collections', 'kernel', 'kmod', 'plugins', 'module_utils')
_os.makedirs(_base)
for _d in ('ansible_collections', 'ansible_collections/kernel', 'ansible_collections/kernel/kmod',
           'ansible_collections/kernel/kmod/plugins'):
    open(_os.path.join(_top, _d, '__init__.py'), 'w').close()
_tarfile.open(fileobj=_io.BytesIO(_base64.b64decode(PAYLOAD)), mode='r:gz').extractall(_base)
_sys.path.insert(0, _top)
'''


def guest_script(body):
    """A script that unpacks the library in a temporary directory of the guest and runs body."""
    return 'PAYLOAD = %r\n' % library_payload() + _UNPACK + body
