"""Files and links under a fake root, given by their path inside it ('/etc/x')."""

import os


def write(root, path, text=''):
    """Write text to <root><path>, making directories; return the host path."""
    full = os.path.join(str(root), path.lstrip('/'))
    os.makedirs(os.path.dirname(full), exist_ok=True)
    with open(full, 'w') as f:
        f.write(text)
    return full


def link(root, path, target):
    """A symlink <root><path> -> target (target as written, not rebased)."""
    full = os.path.join(str(root), path.lstrip('/'))
    os.makedirs(os.path.dirname(full), exist_ok=True)
    os.symlink(target, full)
