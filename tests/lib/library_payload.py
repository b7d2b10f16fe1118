"""The library (plugins/module_utils, with its packages) as a base64 tar.gz,
for scripts that run it on the VM without Ansible.

library_payload(prefix) puts every .py file under prefix/ (their paths
relative to module_utils kept), __pycache__ left out.
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
