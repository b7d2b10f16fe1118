"""Saving and restoring a VM's module indexes around a test.

The integration tests of kmod_depmod and kmod_load delete or rewrite the
running kernel's index files and may add a directory (updates/, extra/) to
its module directory; these snippets, run over ssh, keep a copy in a backup
directory on the VM and put everything back.  Each expects $mdir to be the
module directory.
"""

import contextlib

MODULE_DIR = 'mdir=/lib/modules/$(uname -r)\n'

# Every modules.* file but depmod's inputs.
CLEAR = r'''for f in "$mdir"/modules.*; do
  case "${f##*/}" in modules.order|modules.builtin|modules.builtin.modinfo) ;; *) rm -f "$f" ;; esac
done
'''


def save(backup, cache, subdir):
    """Copy the indexes to backup, remembering whether $mdir/subdir and the
    depmod cache directory existed."""
    return (
        'rm -rf {backup} && mkdir -p {backup}\n'
        'had_dir=no; test -d "$mdir/{subdir}" && had_dir=yes\n'
        'echo "$had_dir" > {backup}/.had_dir\n'
        'had_cache=no; test -d {cache} && had_cache=yes\n'
        'echo "$had_cache" > {backup}/.had_cache\n'
        'cp -a "$mdir"/modules.* {backup}/\n').format(backup=backup, cache=cache, subdir=subdir)


def restore(backup, cache, subdir):
    """Put the saved indexes back (exit 3 without a backup), remove subdir
    and the cache directory when they were not there before."""
    names = dict(backup=backup, cache=cache, subdir=subdir)
    return ('test "$(cat {backup}/.had_dir 2>/dev/null)" = yes || rmdir "$mdir/{subdir}" 2>/dev/null\n'
            'test -f {backup}/modules.dep || exit 3\n').format(**names) + CLEAR + (
        'cp -a {backup}/modules.* "$mdir"/\n'
        'test "$(cat {backup}/.had_cache 2>/dev/null)" = yes || rm -rf {cache}\n'
        'rm -rf {backup}\n').format(**names)


@contextlib.contextmanager
def prepared(vm, setup, restore):
    """Run setup on the VM (its stdout is yielded), and restore afterwards
    whatever happened, set-up failures included; either failing fails the test."""
    try:
        rc, out, err = vm.ssh(setup)
        assert rc == 0, 'set-up failed (rc %s): %s %s' % (rc, out, err)
        yield out
    finally:
        rc, out, err = vm.ssh(restore)
        assert rc == 0, 'restore failed (rc %s): %s %s' % (rc, out, err)
