"""kmod_initramfs run as Ansible runs it: bad input fails clearly, without a traceback."""

from tests.lib.module_runner import run_module as run_module_file


def test_bad_state_is_refused_by_the_argument_spec(tmp_path):
    result = run_module_file('kmod_initramfs', tmp_path, {'state': 'sometimes'})
    assert result['failed'] is True and 'state' in result['msg'] and 'exception' not in result


def test_bad_release_fails_clearly(tmp_path):
    result = run_module_file('kmod_initramfs', tmp_path, {'kernel_release': ['../../etc']}, check=True)
    assert result['failed'] is True and 'exception' not in result
    # which error comes first depends on this machine having a generator; both are plain messages
    assert result['msg'].startswith('no initramfs generator found') or 'is not a kernel release name' in result['msg']
