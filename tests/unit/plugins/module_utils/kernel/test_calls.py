"""kernel_calls with an injected syscall function: exact numbers, arguments,
flags, errno wording, fallbacks, the wait loop and /dev/kmsg reading.  No
module syscall ever reaches the host kernel."""

import errno
import lzma
import os

import pytest

from ansible_collections.kernel.kmod.plugins.module_utils.errors import KmodError
from ansible_collections.kernel.kmod.plugins.module_utils.image.elf import ModuleImage
from ansible_collections.kernel.kmod.plugins.module_utils.kernel import calls as kernel_calls
from ansible_collections.kernel.kmod.plugins.module_utils.kernel.calls import (
    KernelCallError, KernelCalls, KernelLog, LoadError, UnloadError, parse_kmsg, syscall_numbers)
from ansible_collections.kernel.kmod.plugins.module_utils.kernel.state import KernelState
from tests.lib.fake_kernel import FakeKernel
from tests.lib.fakeko import build_ko, compress_bytes

X86_64 = {'init_module': 175, 'delete_module': 176, 'finit_module': 313}
ELF_BYTES = b'\x7fELF' + b'\x02\x01\x01' + b'\0' * 57 + b'module body'


class Syscalls(object):
    """Records calls; `script` maps a syscall number to a list of errnos
    (None: success) used one by one; the last one repeats.  An fd argument is
    recorded as ('fd', path it is open on)."""

    def __init__(self, script=None, on_call=None):
        self.calls = []
        self.script = dict(script or {})
        self.on_call = on_call

    def __call__(self, number, *args):
        if number == X86_64['finit_module']:
            args = (('fd', os.readlink('/proc/self/fd/%d' % args[0])),) + args[1:]
        self.calls.append((number,) + args)
        if self.on_call:
            self.on_call(number, args)
        outcomes = self.script.get(number)
        if outcomes:
            err = outcomes.pop(0) if len(outcomes) > 1 else outcomes[0]
            if err is not None:
                raise OSError(err, os.strerror(err))
        return 0


class Clock(object):
    def __init__(self):
        self.now = 1000.0
        self.sleeps = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


def make_calls(root, syscalls, **kw):
    return KernelCalls(str(root), syscall=syscalls, machine='x86_64', pointer_bits=64, **kw)


@pytest.fixture
def kernel(tmp_path):
    k = FakeKernel(tmp_path / 'root')
    k.write()
    append_kmsg(k)  # an empty log, as after boot
    return k


def ko_file(tmp_path, name='dummy.ko', data=ELF_BYTES):
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


# -- syscall numbers ---------------------------------------------------------

@pytest.mark.parametrize('machine,bits,expected', [
    ('x86_64', 64, (175, 176, 313)),
    ('x86_64', 32, (128, 129, 350)),
    ('i686', 32, (128, 129, 350)),
    ('aarch64', 64, (105, 106, 273)),
    ('aarch64', 32, (128, 129, 379)),
    ('armv7l', 32, (128, 129, 379)),
    ('ppc64le', 64, (128, 129, 353)),
    ('ppc', 32, (128, 129, 353)),
    ('s390x', 64, (128, 129, 344)),
    ('riscv64', 64, (105, 106, 273)),
    ('loongarch64', 64, (105, 106, 273)),
    ('mips64', 64, (5168, 5169, 5307)),
    ('mipsel', 32, (4128, 4129, 4348)),
])
def test_syscall_numbers(machine, bits, expected):
    numbers = syscall_numbers(machine, bits)
    assert (numbers['init_module'], numbers['delete_module'], numbers['finit_module']) == expected


def test_unknown_machine():
    with pytest.raises(KmodError) as info:
        syscall_numbers('sparc64', 64)
    assert "'sparc64'" in info.value.msg


def test_unknown_machine_fails_before_any_call(kernel, tmp_path):
    sc = Syscalls()
    calls = KernelCalls(kernel.root, syscall=sc, machine='vax', pointer_bits=32)
    with pytest.raises(LoadError) as info:
        calls.insert(ko_file(tmp_path))
    assert info.value.errno == errno.ENOSYS
    with pytest.raises(UnloadError):
        calls.delete('dummy')
    assert sc.calls == []


@pytest.mark.skipif(os.uname()[4] != 'x86_64', reason='syscall numbers of getpid/close checked for x86_64')
def test_real_libc_syscall_with_harmless_calls():
    # getpid (39) and close (3): the ctypes plumbing without touching modules
    assert kernel_calls.libc_syscall(39) == os.getpid()
    with pytest.raises(OSError) as info:
        kernel_calls.libc_syscall(3, -1)
    assert info.value.errno == errno.EBADF


# -- insert: finit_module ----------------------------------------------------

def test_insert_plain_file_with_finit(kernel, tmp_path):
    path = ko_file(tmp_path)
    sc = Syscalls()
    calls = make_calls(kernel.root, sc)
    assert calls.insert(path, 'numdummies=2') is None
    assert sc.calls == [(313, ('fd', path), b'numdummies=2\0', 0)]
    assert calls.last_method == 'finit_module'


@pytest.mark.parametrize('vermagic,modversions,flags', [(False, False, 0), (False, True, 1), (True, False, 2),
                                                        (True, True, 3)])
def test_insert_flags(kernel, tmp_path, vermagic, modversions, flags):
    path = ko_file(tmp_path)
    sc = Syscalls()
    make_calls(kernel.root, sc).insert(path, ignore_vermagic=vermagic, ignore_modversions=modversions)
    assert sc.calls == [(313, ('fd', path), b'\0', flags)]


def test_options_are_utf8_bytes_and_none_is_empty(kernel, tmp_path):
    path = ko_file(tmp_path)
    sc = Syscalls()
    calls = make_calls(kernel.root, sc)
    calls.insert(path, 'label="caf\u00e9 bar"')
    calls.insert(path, None)
    assert [c[2] for c in sc.calls] == [b'label="caf\xc3\xa9 bar"\0', b'\0']


def test_options_with_nul_are_refused_before_any_call(kernel, tmp_path):
    sc = Syscalls()
    with pytest.raises(LoadError) as info:
        make_calls(kernel.root, sc).insert(ko_file(tmp_path), 'a=1\0b=2')
    assert info.value.errno == errno.EINVAL
    assert info.value.module == 'dummy'
    assert sc.calls == []


def test_missing_file(kernel, tmp_path):
    sc = Syscalls()
    path = str(tmp_path / 'nowhere' / 'snd-dummy.ko')
    with pytest.raises(LoadError) as info:
        make_calls(kernel.root, sc).insert(path)
    assert info.value.errno == errno.ENOENT
    assert info.value.module == 'snd_dummy'
    assert info.value.path == path
    assert info.value.msg == "could not insert 'snd_dummy': cannot open %s: No such file or directory" % path
    assert sc.calls == []


def test_compressed_file_the_kernel_takes(kernel, tmp_path):
    kernel.set_compression('xz').write()
    path = ko_file(tmp_path, 'dummy.ko.xz', compress_bytes(ELF_BYTES, 'xz'))
    sc = Syscalls()
    calls = make_calls(kernel.root, sc)
    calls.insert(path, 'x=1', ignore_vermagic=True)
    assert sc.calls == [(313, ('fd', path), b'x=1\0', 4 | 2)]
    assert calls.last_method == 'finit_module+compressed'


@pytest.mark.parametrize('kernel_compression', [None, 'zstd', 'gzip'])
def test_compressed_file_the_kernel_cannot_take_is_decompressed_here(kernel, tmp_path, kernel_compression):
    kernel.set_compression(kernel_compression).write()
    path = ko_file(tmp_path, 'dummy.ko.xz', compress_bytes(ELF_BYTES, 'xz'))
    sc = Syscalls()
    calls = make_calls(kernel.root, sc)
    calls.insert(path, 'numdummies=2')
    assert sc.calls == [(175, ELF_BYTES, len(ELF_BYTES), b'numdummies=2\0')]
    assert calls.last_method == 'init_module'


@pytest.mark.parametrize('compress', ['gz', 'zst'])
def test_other_compressions_decompressed_here(kernel, tmp_path, compress):
    path = ko_file(tmp_path, 'dummy.ko.' + compress, compress_bytes(ELF_BYTES, compress))
    sc = Syscalls()
    make_calls(kernel.root, sc).insert(path)
    assert sc.calls == [(175, ELF_BYTES, len(ELF_BYTES), b'\0')]


def test_enosys_from_finit_falls_back_to_init_module(kernel, tmp_path):
    path = ko_file(tmp_path)
    sc = Syscalls({313: [errno.ENOSYS]})
    calls = make_calls(kernel.root, sc)
    calls.insert(path, 'a=b')
    assert sc.calls == [(313, ('fd', path), b'a=b\0', 0), (175, ELF_BYTES, len(ELF_BYTES), b'a=b\0')]
    assert calls.last_method == 'init_module'


def test_enosys_on_a_compressed_finit_decompresses(kernel, tmp_path):
    kernel.set_compression('xz').write()
    path = ko_file(tmp_path, 'dummy.ko.xz', compress_bytes(ELF_BYTES, 'xz'))
    sc = Syscalls({313: [errno.ENOSYS]})
    make_calls(kernel.root, sc).insert(path)
    assert sc.calls == [(313, ('fd', path), b'\0', 4), (175, ELF_BYTES, len(ELF_BYTES), b'\0')]


def test_forced_fallback_strips_the_version_checks(kernel, tmp_path):
    path = build_ko(str(tmp_path / 'fake.ko.xz'), compress='xz',
                    modinfo=['license=GPL', 'vermagic=6.1.0 SMP mod_unload modversions '],
                    versions=[(0x1234, 'module_layout')])
    sc = Syscalls()
    make_calls(kernel.root, sc).insert(path, ignore_vermagic=True, ignore_modversions=True)
    [(number, image, length, params)] = sc.calls
    assert (number, length, params) == (175, len(image), b'\0')
    plain = lzma.decompress(open(path, 'rb').read())
    assert len(image) == len(plain) and image != plain
    assert ModuleImage(image).modinfo == [('license', 'GPL')]


def test_corrupt_compressed_file_is_a_load_error(kernel, tmp_path):
    path = ko_file(tmp_path, 'dummy.ko.xz', b'\xfd7zXZ\x00' + b'broken')
    sc = Syscalls()
    with pytest.raises(LoadError) as info:
        make_calls(kernel.root, sc).insert(path)
    assert info.value.msg.startswith("could not insert 'dummy': %s: corrupt xz data" % path)
    assert sc.calls == []


def test_errors_other_than_enosys_do_not_fall_back(kernel, tmp_path):
    sc = Syscalls({313: [errno.ENOEXEC]})
    with pytest.raises(LoadError):
        make_calls(kernel.root, sc).insert(ko_file(tmp_path))
    assert [c[0] for c in sc.calls] == [313]


# -- insert: errors ----------------------------------------------------------

@pytest.mark.parametrize('err,reason', [
    (errno.EEXIST, 'Module already in kernel'),
    (errno.ENOENT, 'Unknown symbol in module, or unknown parameter (see dmesg)'),
    (errno.ENOEXEC, 'Invalid module format'),
    (errno.ESRCH, 'Module has wrong symbol version'),
    (errno.EINVAL, 'Invalid parameters'),
    (errno.EPERM, 'Operation not permitted (loading modules needs root with CAP_SYS_MODULE, and no kernel lockdown)'),
    (errno.ENOSYS, 'Function not implemented: the kernel has no loadable module support'),
    (errno.EBUSY, 'EBUSY (Device or resource busy)'),
])
def test_insert_error_words(kernel, tmp_path, err, reason):
    path = ko_file(tmp_path, 'snd-dummy.ko')
    sc = Syscalls({313: [err], 175: [err]})
    with pytest.raises(LoadError) as info:
        make_calls(kernel.root, sc).insert(path)
    e = info.value
    assert e.msg == "could not insert 'snd_dummy': %s" % reason
    assert (e.errno, e.module, e.path, e.kernel_log) == (err, 'snd_dummy', path, [])
    assert e.fail_kwargs() == {'msg': e.msg, 'errno': err, 'errno_name': errno.errorcode[err],
                               'path': path, 'module': 'snd_dummy'}


@pytest.mark.parametrize('err', [errno.EKEYREJECTED, errno.ENOKEY, errno.EPERM])
def test_signature_enforcement_words(kernel, tmp_path, err):
    kernel.set_sig_enforce(True).write()
    with pytest.raises(LoadError) as info:
        make_calls(kernel.root, Syscalls({313: [err]})).insert(ko_file(tmp_path))
    assert info.value.msg == ("could not insert 'dummy': %s: module signatures are enforced and the module is "
                              "unsigned or not signed by a trusted key" % os.strerror(err))


def test_key_rejected_without_enforcement_is_plain(kernel, tmp_path):
    kernel.set_sig_enforce(False).write()
    with pytest.raises(LoadError) as info:
        make_calls(kernel.root, Syscalls({313: [errno.EKEYREJECTED]})).insert(ko_file(tmp_path))
    assert info.value.msg == "could not insert 'dummy': EKEYREJECTED (Key was rejected by service)"


def test_modules_disabled_words(kernel, tmp_path):
    kernel.set_modules_disabled(1).write()
    with pytest.raises(LoadError) as info:
        make_calls(kernel.root, Syscalls({313: [errno.EPERM]})).insert(ko_file(tmp_path))
    assert info.value.msg == ("could not insert 'dummy': Operation not permitted: module loading is disabled "
                              "(/proc/sys/kernel/modules_disabled is 1)")


# -- kernel log --------------------------------------------------------------

def kmsg_path(kernel):
    return os.path.join(kernel.root, 'dev', 'kmsg')


def append_kmsg(kernel, *records):
    path = kmsg_path(kernel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'ab') as f:
        for r in records:
            f.write(r.encode('utf-8') + b'\n')


def test_refused_load_carries_the_kernel_lines_about_the_module(kernel, tmp_path):
    append_kmsg(kernel, "4,100,5000,-;dummy: old line from before the call")

    def kernel_logs(number, args):
        append_kmsg(kernel,
                    "6,101,6000,-;eth0: link up",
                    "4,102,6001,-;dummy: `abc' invalid for parameter `numdummies'",
                    " SUBSYSTEM=module",
                    " DEVICE=+module:dummy",
                    "3,103,6002,c,more;snd-dummy-like dummy trailer")
    sc = Syscalls({313: [errno.EINVAL]}, on_call=kernel_logs)
    with pytest.raises(LoadError) as info:
        make_calls(kernel.root, sc).insert(ko_file(tmp_path), 'numdummies=abc')
    e = info.value
    assert e.kernel_log == ["dummy: `abc' invalid for parameter `numdummies'", 'snd-dummy-like dummy trailer']
    assert e.msg == ("could not insert 'dummy': Invalid parameters (kernel log: dummy: `abc' invalid for "
                     "parameter `numdummies'; snd-dummy-like dummy trailer)")
    assert e.fail_kwargs()['kernel_log'] == e.kernel_log


def test_dash_spelling_of_the_name_counts(kernel, tmp_path):
    sc = Syscalls({313: [errno.ENOENT]},
                  on_call=lambda n, a: append_kmsg(kernel, '4,1,1,-;snd-dummy: Unknown symbol foo (err -2)'))
    with pytest.raises(LoadError) as info:
        make_calls(kernel.root, sc).insert(ko_file(tmp_path, 'snd_dummy.ko'))
    assert info.value.kernel_log == ['snd-dummy: Unknown symbol foo (err -2)']


def test_lines_naming_no_module_only_for_signature_refusals(kernel, tmp_path):
    kernel.set_sig_enforce(True).write()
    lines = ['6,%d,1,-;line %d' % (i, i) for i in range(15)]
    sc = Syscalls({313: [errno.EKEYREJECTED]}, on_call=lambda n, a: append_kmsg(kernel, *lines))
    with pytest.raises(LoadError) as info:
        make_calls(kernel.root, sc).insert(ko_file(tmp_path))
    assert info.value.kernel_log == ['line %d' % i for i in range(5, 15)]
    sc = Syscalls({313: [errno.ENOEXEC]}, on_call=lambda n, a: append_kmsg(kernel, *lines))
    with pytest.raises(LoadError) as info:
        make_calls(kernel.root, sc).insert(ko_file(tmp_path))
    assert info.value.kernel_log == []


def test_already_loaded_attaches_no_log(kernel, tmp_path):
    sc = Syscalls({313: [errno.EEXIST]}, on_call=lambda n, a: append_kmsg(kernel, '4,1,1,-;dummy: something'))
    with pytest.raises(LoadError) as info:
        make_calls(kernel.root, sc).insert(ko_file(tmp_path))
    assert info.value.kernel_log == []


def test_unreadable_kmsg_never_fails(kernel, tmp_path):
    os.remove(kmsg_path(kernel))
    os.makedirs(kmsg_path(kernel))  # a directory: open works, reads fail
    with pytest.raises(LoadError) as info:
        make_calls(kernel.root, Syscalls({313: [errno.EINVAL]})).insert(ko_file(tmp_path))
    assert info.value.kernel_log == []
    assert info.value.msg == "could not insert 'dummy': Invalid parameters"


def test_missing_kmsg_never_fails(kernel, tmp_path):
    os.remove(kmsg_path(kernel))
    with pytest.raises(LoadError) as info:
        make_calls(kernel.root, Syscalls({313: [errno.EINVAL]})).insert(ko_file(tmp_path))
    assert info.value.kernel_log == []


class FakeKmsg(object):
    """/dev/kmsg as the kernel serves it: one record per read, EPIPE when
    records were overwritten, None (EAGAIN) when there is nothing new."""

    def __init__(self, reads):
        self.reads = list(reads)
        self.seeks = []
        self.closed = False

    def seek(self, offset, whence):
        self.seeks.append((offset, whence))

    def read(self, size):
        assert size >= 8192
        if not self.reads:
            return None
        item = self.reads.pop(0)
        if isinstance(item, BaseException):
            raise item
        return item

    def close(self):
        self.closed = True


def test_kernel_log_reads_records_one_by_one():
    fake = FakeKmsg([b'6,1,10,-;dummy: a\n SUBSYSTEM=x\n', BrokenPipeError(errno.EPIPE, 'overwritten'),
                     b'6,3,12,-;dummy: b\n', None, b'6,4,13,-;too late\n'])
    log = KernelLog('/dev/kmsg', opener=lambda path: fake)
    log.start()
    assert fake.seeks == [(0, os.SEEK_END)]
    assert log.read_new() == ['dummy: a', 'dummy: b']
    log.close()
    assert fake.closed


def test_kernel_log_stops_on_other_errors_and_open_failures():
    fake = FakeKmsg([b'6,1,10,-;x\n', OSError(errno.EINVAL, 'buffer too small')])
    log = KernelLog('/dev/kmsg', opener=lambda path: fake)
    log.start()
    assert log.read_new() == ['x']

    def refuse(path):
        raise PermissionError(errno.EACCES, 'no')
    log = KernelLog('/dev/kmsg', opener=refuse)
    log.start()
    assert log.read_new() == []


def test_kernel_log_stops_on_a_flood(monkeypatch):
    monkeypatch.setattr(kernel_calls, 'KMSG_MAX_RECORDS', 5)
    fake = FakeKmsg([b'6,%d,1,-;line\n' % i for i in range(20)])
    log = KernelLog('/dev/kmsg', opener=lambda path: fake)
    log.start()
    assert log.read_new() == ['line'] * 5


def test_parse_kmsg_skips_what_is_not_a_record():
    chunk = (b'6,1,10,-;good one\n'
             b'garbage without header\n'
             b'x,1,10,-;bad prio\n'
             b'6,1,10;too few fields\n'
             b' KEY=value\n'
             b'12,99,123456789,c,extra;caf\xc3\xa9 \\x09tab;semi\n'
             b'\n')
    assert parse_kmsg(chunk) == ['good one', 'caf\u00e9 \\x09tab;semi']


# -- delete ------------------------------------------------------------------

def test_delete_passes_nonblock(kernel):
    sc = Syscalls()
    assert make_calls(kernel.root, sc).delete('dummy') is None
    assert sc.calls == [(176, b'dummy\0', os.O_NONBLOCK)]


def test_force_adds_trunc_and_names_are_normalised(kernel):
    sc = Syscalls()
    make_calls(kernel.root, sc).delete('snd-dummy', force=True)
    assert sc.calls == [(176, b'snd_dummy\0', os.O_NONBLOCK | os.O_TRUNC)]


@pytest.mark.parametrize('name', ['', '.', '..', 'a/b', '/lib/modules/x/dummy.ko', 'a\0b', 'a b', 'a\nb', None])
def test_bad_names_are_refused_without_a_call(kernel, name):
    sc = Syscalls()
    with pytest.raises(UnloadError) as info:
        make_calls(kernel.root, sc).delete(name)
    assert info.value.errno == errno.EINVAL
    assert sc.calls == []


def test_not_loaded(kernel):
    with pytest.raises(UnloadError) as info:
        make_calls(kernel.root, Syscalls({176: [errno.ENOENT]})).delete('dummy')
    e = info.value
    assert (e.msg, e.errno, e.module, e.path, e.kernel_log) == (
        'Module dummy is not currently loaded', errno.ENOENT, 'dummy', None, [])


def test_in_use_names_the_holders(kernel):
    kernel.add_module('bridge', used_by=['br_netfilter'], refcnt=1).add_module('br_netfilter').write()
    with pytest.raises(UnloadError) as info:
        make_calls(kernel.root, Syscalls({176: [errno.EAGAIN]})).delete('bridge')
    assert info.value.msg == 'Module bridge is in use by: br_netfilter'
    assert info.value.errno == errno.EAGAIN


def test_in_use_without_sysfs(kernel):
    with pytest.raises(UnloadError) as info:
        make_calls(kernel.root, Syscalls({176: [errno.EAGAIN]})).delete('dummy')
    assert info.value.msg == 'Module dummy is in use'


@pytest.mark.parametrize('err,msg', [
    (errno.EBUSY, 'Module dummy is in use (it is still loading or unloading, or it has no exit function and '
                  'only a forced removal takes it out)'),
    (errno.EPERM, 'could not remove module dummy: EPERM (Operation not permitted)'),
    (errno.ENOSYS, 'could not remove module dummy: Function not implemented: the kernel cannot unload modules'),
    (errno.EFAULT, 'could not remove module dummy: EFAULT (Bad address)'),
])
def test_delete_error_words(kernel, err, msg):
    with pytest.raises(UnloadError) as info:
        make_calls(kernel.root, Syscalls({176: [err]})).delete('dummy')
    assert info.value.msg == msg


def test_delete_with_modules_disabled(kernel):
    kernel.set_modules_disabled(1).write()
    with pytest.raises(UnloadError) as info:
        make_calls(kernel.root, Syscalls({176: [errno.EPERM]})).delete('dummy')
    assert info.value.msg == ('could not remove module dummy: Operation not permitted: module loading and '
                              'unloading is disabled (/proc/sys/kernel/modules_disabled is 1)')


def test_refused_forced_removal_carries_kernel_lines(kernel):
    sc = Syscalls({176: [errno.EBUSY]},
                  on_call=lambda n, a: append_kmsg(kernel, '4,1,1,-;dummy: still here', '4,2,2,-;other'))
    with pytest.raises(UnloadError) as info:
        make_calls(kernel.root, sc).delete('dummy', force=True)
    assert info.value.kernel_log == ['dummy: still here']


# -- delete: waiting ---------------------------------------------------------

def test_no_wait_means_one_try(kernel):
    clock = Clock()
    sc = Syscalls({176: [errno.EAGAIN]})
    with pytest.raises(UnloadError):
        make_calls(kernel.root, sc, clock=clock, sleep=clock.sleep).delete('dummy')
    assert len(sc.calls) == 1
    assert clock.sleeps == []


def test_wait_retries_with_doubling_delays(kernel):
    clock = Clock()
    sc = Syscalls({176: [errno.EAGAIN] * 4 + [None]})
    make_calls(kernel.root, sc, clock=clock, sleep=clock.sleep).delete('dummy', wait=True)
    assert len(sc.calls) == 5
    assert set(sc.calls) == {(176, b'dummy\0', os.O_NONBLOCK)}
    assert clock.sleeps == [0.001, 0.002, 0.004, 0.008]


def test_wait_stops_at_the_bound(kernel):
    clock = Clock()
    sc = Syscalls({176: [errno.EAGAIN]})
    with pytest.raises(UnloadError) as info:
        make_calls(kernel.root, sc, clock=clock, sleep=clock.sleep).delete('dummy', wait=0.01)
    assert clock.sleeps == pytest.approx([0.001, 0.002, 0.004, 0.003])
    assert len(sc.calls) == 5
    assert info.value.msg == 'Module dummy is in use (still, after waiting 0.01 s)'
    assert info.value.errno == errno.EAGAIN


def test_wait_true_uses_wait_seconds(kernel):
    clock = Clock()
    sc = Syscalls({176: [errno.EAGAIN]})
    calls = make_calls(kernel.root, sc, clock=clock, sleep=clock.sleep, wait_seconds=1.0)
    with pytest.raises(UnloadError):
        calls.delete('dummy', wait=True)
    # 1, 2, 4 ... 256 ms (511 ms in all), then the 489 ms left
    assert clock.sleeps == pytest.approx([0.001 * 2 ** i for i in range(9)] + [0.489])


def test_wait_does_not_retry_other_errors(kernel):
    clock = Clock()
    sc = Syscalls({176: [errno.EAGAIN, errno.ENOENT]})
    with pytest.raises(UnloadError) as info:
        make_calls(kernel.root, sc, clock=clock, sleep=clock.sleep).delete('dummy', wait=5)
    assert info.value.errno == errno.ENOENT
    assert clock.sleeps == [0.001]


@pytest.mark.skipif(os.uname()[4] != 'x86_64', reason='host numbers checked for x86_64')
def test_numbers_of_this_host_and_a_32_bit_process_on_it():
    assert KernelCalls(syscall=Syscalls()).numbers() == X86_64
    assert KernelCalls(syscall=Syscalls(), pointer_bits=32).numbers() == {
        'init_module': 128, 'delete_module': 129, 'finit_module': 350}


def test_set_param_writes_the_parameter_file(kernel, tmp_path):
    kernel.add_module('kvm', params={'halt_poll_ns': '200000'}).add_module(
        'brd', params={'rd_nr': '2'}, param_modes={'rd_nr': 0o444})
    kernel.write()
    calls = KernelCalls(kernel.root, syscall=Syscalls(), machine='x86_64', pointer_bits=64)
    calls.set_param('kvm', 'halt_poll_ns', '0')
    assert KernelState(kernel.root).module_params('kvm') == {'halt_poll_ns': '0'}
    with pytest.raises(KernelCallError) as info:
        calls.set_param('brd', 'rd_nr', '4')
    assert info.value.errno == errno.EACCES
    assert info.value.msg == ('could not set parameter rd_nr of module brd: it is read-only (mode 0444); only '
                              'loading the module sets it')
    with pytest.raises(KernelCallError) as info:
        calls.set_param('kvm', 'nosuch', '1')
    assert info.value.errno == errno.ENOENT
    target = str(tmp_path / 'target')
    with open(target, 'w') as f:
        f.write('keep\n')
    os.symlink(target, os.path.join(kernel.root, 'sys/module/kvm/parameters/link'))
    with pytest.raises(KernelCallError) as info:
        calls.set_param('kvm', 'link', '1')
    assert 'is not a parameter file' in info.value.msg
    with open(target) as f:
        assert f.read() == 'keep\n'
    for bad in ('', '..', 'a/b', 'a\0'):
        with pytest.raises(KernelCallError):
            calls.set_param('kvm', bad, '1')


def _judged(path):
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    try:
        kernel_calls.check_trusted(fd, path)
    finally:
        os.close(fd)


def test_check_trusted_judges_the_file_and_every_directory_above():
    from tests.lib.trusted_dir import TrustedDir
    with TrustedDir() as top:
        sub = os.path.join(top, 'sub')
        os.mkdir(sub, 0o755)
        path = os.path.join(sub, 'dummy.ko')
        with open(path, 'wb') as f:
            f.write(b'\x7fELF')
        os.chmod(path, 0o644)
        _judged(path)
        os.chmod(path, 0o664)
        with pytest.raises(LoadError) as info:
            _judged(path)
        assert info.value.errno == errno.EPERM
        assert info.value.msg == ("could not insert 'dummy': refusing an untrusted module file: %s is writable by "
                                  "group (mode 0664) (allow_untrusted lifts this)" % path)
        os.chmod(path, 0o644)
        os.chmod(sub, 0o757)
        with pytest.raises(LoadError) as info:
            _judged(path)
        assert '%s is writable by others (mode 0757)' % sub in info.value.msg
        os.chmod(sub, 0o755)
        if os.geteuid() == 0:
            os.chown(path, 65534, -1)
            with pytest.raises(LoadError) as info:
                _judged(path)
            assert '%s is owned by uid 65534, not root' % path in info.value.msg


def test_check_trusted_follows_a_merged_usr_symlink_on_the_way():
    # /lib -> usr/lib as on Debian 12: the link's own 0777 must not refuse the module
    from tests.lib.trusted_dir import TrustedDir
    with TrustedDir() as top:
        os.makedirs(os.path.join(top, 'usr', 'lib', 'modules'), 0o755)
        os.symlink('usr/lib', os.path.join(top, 'lib'))
        path = os.path.join(top, 'lib', 'modules', 'dummy.ko')
        with open(path, 'wb') as f:
            f.write(b'\x7fELF')
        os.chmod(path, 0o644)
        _judged(path)


def test_check_trusted_refuses_what_is_under_tmp(tmp_path):
    path = str(tmp_path / 'dummy.ko')
    with open(path, 'wb') as f:
        f.write(b'\x7fELF')
    with pytest.raises(LoadError) as info:
        _judged(path)
    assert '/tmp is writable by group and others (mode 1777)' in info.value.msg


def test_insert_trusted_only_opens_no_symlink_and_loads_nothing_untrusted(kernel, tmp_path):
    sc = Syscalls()
    calls = make_calls(kernel.root, sc)
    target = str(tmp_path / 'real.ko')
    with open(target, 'wb') as f:
        f.write(b'\x7fELF')
    link = str(tmp_path / 'dummy.ko')
    os.symlink(target, link)
    with pytest.raises(LoadError) as info:
        calls.insert(link, trusted_only=True)
    assert info.value.errno == errno.ELOOP
    with pytest.raises(LoadError) as info:
        calls.insert(target, trusted_only=True)
    assert info.value.errno == errno.EPERM
    assert sc.calls == []
