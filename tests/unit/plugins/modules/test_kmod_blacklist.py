"""kmod_blacklist run as Ansible runs it: the module file executed with an args file."""

import os

from tests.lib.module_runner import run_module as run_module_file, warning_texts


def test_bad_name_fails_clearly_and_writes_nothing(tmp_path):
    target = str(tmp_path / 'modprobe.d' / 'x.conf')
    result = run_module_file('kmod_blacklist', tmp_path, {'name': ['pcspkr', 'a b'], 'path': target})
    assert result['failed'] is True
    assert result['msg'] == "'a b' is not a module name: use letters, digits, \"-\" and \"_\" only (no paths, " \
                            "patterns, blanks or control characters)"
    assert 'exception' not in result and not os.path.exists(target)


def test_check_mode_with_the_alias_reports_and_writes_nothing(tmp_path):
    target = str(tmp_path / 'modprobe.d' / 'x.conf')
    result = run_module_file('kmod_blacklist', tmp_path, {'name': 'snd-pcsp', 'blacklist_file': target},
                             check=True, diff=True)
    assert result['changed'] is True and result['file'] == 'create' and result['name'] == ['snd_pcsp']
    assert result['diff'][0]['after'].endswith('\nblacklist snd_pcsp\n')
    assert result['initramfs_stale'] is False and not os.path.exists(target)
    assert any('is not in a directory modprobe reads' in w for w in warning_texts(result))


def test_the_result_keeps_its_state_when_the_file_exists(tmp_path):
    # AnsibleModule adds a file's owner, mode and 'state' to a result with a 'path': the file is
    # returned as blacklist_file, so 'state' stays the task's (a role read 'file' there)
    target = str(tmp_path / 'modprobe.d' / 'x.conf')
    os.makedirs(os.path.dirname(target))
    with open(target, 'w') as f:
        f.write('blacklist pcspkr\n')
    result = run_module_file('kmod_blacklist', tmp_path, {'name': 'pcspkr', 'path': target}, check=True)
    assert result['state'] == 'present' and result['blacklist_file'] == target
    assert 'path' not in result and 'mode' not in result
