import errno

from ansible_collections.kernel.kmod.plugins.module_utils.errors import KmodError, TaskError, describe_errno


def test_from_os_error_keeps_errno_and_path():
    exc = OSError(errno.EACCES, 'Permission denied', '/etc/modprobe.d/x.conf')
    err = KmodError.from_os_error(exc, 'cannot read')
    assert err.errno == errno.EACCES
    assert err.path == '/etc/modprobe.d/x.conf'
    assert str(err) == 'cannot read /etc/modprobe.d/x.conf: Permission denied'
    kw = err.fail_kwargs()
    assert kw['errno_name'] == 'EACCES' and kw['path'] == '/etc/modprobe.d/x.conf'


def test_describe_errno():
    assert describe_errno(errno.ENOENT).startswith('ENOENT (')


def test_task_error_keeps_the_cause_and_adds_what_was_done():
    cause = KmodError('cannot write /etc/x: full', errno=28, path='/etc/x', module='dummy')
    err = TaskError(cause, {'inserted': ['dummy'], 'msg': 'not this one'}, warnings=['w'])
    assert (err.msg, err.errno, err.path, err.module, err.warnings) == (cause.msg, 28, '/etc/x', 'dummy', ['w'])
    assert err.fail_kwargs()['inserted'] == ['dummy'] and err.fail_kwargs()['msg'] == cause.msg
