"""Our modprobe.d reading against the real `modprobe -c`: the host's kmod 30
and kmod 34.2 in a Debian 13 chroot (the `kmod` fixture runs each test with
both; kmod 33 and later read weakdep lines, so ours does for kmod 34).

`modprobe -c -C PATH... -d ROOT -S RELEASE` prints the configuration it read
(blacklist, install, remove, alias, options, softdep lines; kmod 33+ adds
weakdep), then '# End of configuration files' and a dump of the module
dir's alias indexes.  ROOT/lib/modules/RELEASE is a small fake module dir
without indexes, so that dump is empty and its modules.softdep is ours.
modprobe always appends what /proc/cmdline says; where we may (root and
`unshare`), it runs in a private mount namespace with a fake /proc/cmdline
bind-mounted over the real one, otherwise the host's own is used.

The comparison is byte for byte on the configuration part, rendered with
kmod_quirks=True, and on the line numbers of the bad lines kmod warns about.
"""

import os
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ansible_collections.kernel.kmod.plugins.module_utils.config import modprobe as mc
from tests.lib.fake_cmdline import FAKE_CMDLINE, host_cmdline

pytestmark = pytest.mark.conformance

RELEASE = '0.0-fake'
END = b'\n# End of configuration files'


def has_weakdep(kmod):
    return kmod.major >= 33


def without_glued_weakdep_blank(config):
    """kmod 33+ keeps the blank of 'weakdep m  a' (two separators) glued to the
    first name (' a'), a name no module has; we drop it on purpose (see
    config/modprobe.py), so its -c line is compared without that blank: a
    space or tab, or any other character isspace() takes (\\r, \\v, \\f; a
    fuzz run found 'weakdep 0 \\r:')."""
    return re.sub(rb'(?m)^(weakdep [^ \t\n]+ )[ \t\r\x0b\x0c]', rb'\1', config)


class Kmod(object):
    """One run of modprobe -c: config part (bytes) and bad-line warnings."""

    def __init__(self, stdout, stderr):
        assert END in stdout, stdout
        self.config = without_glued_weakdep_blank(stdout[:stdout.index(END)])
        self.index_dump = stdout[stdout.index(END):].split(b'\n', 3)[-1]
        self.stderr = stderr.decode('utf-8', 'replace')

    def bad_lines(self):
        return sorted((m.group(1), int(m.group(2))) for m in re.finditer(
            r'kmod_config_parse: (.*) line (\d+): ignoring bad line', self.stderr))


def run_kmod(kmod, tmp, paths, cmdline_text=None):
    fake_root = os.path.join(tmp, 'fakeroot')
    os.makedirs(os.path.join(fake_root, 'lib', 'modules', RELEASE), exist_ok=True)
    argv = ['-c', '-d', fake_root, '-S', RELEASE]
    for p in paths:
        argv += ['-C', p]
    cl = None
    if cmdline_text is not None:
        assert FAKE_CMDLINE
        cl = os.path.join(tmp, 'cmdline')
        with open(cl, 'wb') as f:
            f.write(cmdline_text.encode('utf-8', 'surrogateescape'))
    r = kmod.modprobe(argv, share=[tmp], cmdline_file=cl, binary=True)
    assert r.returncode == 0, r.stderr
    return Kmod(r.stdout, r.stderr)


def ours(kmod, tmp, paths, cmdline_text=None):
    module_dir = os.path.join(tmp, 'fakeroot', 'lib', 'modules', RELEASE)
    return mc.load_modprobe_config(paths=paths, module_dir=module_dir, weakdep=has_weakdep(kmod),
                                   cmdline=host_cmdline() if cmdline_text is None else cmdline_text)


def our_bad_lines(config):
    out = []
    for w in config.warnings:
        m = re.match(r'(.*):(\d+): ignoring bad line', w)
        if m:
            out.append((m.group(1), int(m.group(2))))
    return sorted(out)


def write_tree(tmp, files):
    """files: {relative path: bytes or str}; returns nothing."""
    for rel, content in files.items():
        full = os.path.join(tmp, rel)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        if isinstance(content, str):
            content = content.encode('utf-8', 'surrogateescape')
        with open(full, 'wb') as f:
            f.write(content)


def compare(kmod, tmp, paths, cmdline_text=None, check_lines=True):
    theirs = run_kmod(kmod, tmp, paths, cmdline_text)
    config = ours(kmod, tmp, paths, cmdline_text)
    rendered = config.render(kmod_quirks=True).encode('utf-8', 'surrogateescape')
    assert rendered == theirs.config
    assert theirs.index_dump == b''
    if check_lines:
        assert our_bad_lines(config) == theirs.bad_lines()
    return config, theirs


TRICKY = {
    'every directive': {
        'd/a.conf': ('# comment\n\nalias  pci:v*d*sv-x  snd-hda-intel\nblacklist pcspkr extra words\n'
                     'options snd-hda-intel  power_save=1\tindex=0 # not a comment\n'
                     'install fake /bin/true   $CMDLINE_OPTS\nremove fake /bin/echo bye\n'
                     'softdep a-b pre: c-d e post: f\nsoftdep g post: h\n'),
    },
    'masking and ordering': {
        'd1/b.conf': 'alias b1 m\n', 'd1/a.conf': 'alias a1 m\n', 'd2/b.conf': 'alias b2 m\n',
        'd2/0.conf': 'alias zero m\n', 'd2/.hidden.conf': 'alias hidden m\n', 'd2/c.txt': 'alias txt m\n',
        'single.file': 'alias single m\n',
    },
    'continuations and backslashes': {
        'd/a.conf': 'alias x\\\ny z\nalias a\\b c\noptions m a\\\n  b\\\n\\\n c\nblacklist\\\n q\n\\\n\nbad\\\nline\n',
    },
    'bad lines': {
        'd/a.conf': ('  # indented comment\nfoo bar\nalias onlyone\nalias\nblacklist\noptions m\noptions m \n'
                     'options m  \ninstall m\nremove m \nsoftdep m\nsoftdep m \nalias a] b\nalias a b[\n'
                     'blacklist [x\noptions a[-]b x=1\ninclude /etc/x\nconfig y\nweakdep a b\nALIAS a b\n'),
    },
    'weakdep blanks': {
        'd/a.conf': ('weakdep 0 \r:\nweakdep m \x0bx\nweakdep n\t\rx \ry\nweakdep o \x0cx\r\nweakdep p  \rx\n'
                     'weakdep q \r\tx\nweakdep r  x\n'),
    },
    'softdep quirks': {
        'd/a.conf': ('softdep m  pre: x\nsoftdep n   pre: y\nsoftdep o\tpre: z\nsoftdep p \tpre: z\n'
                     'softdep q pre: a pre: b post: c pre: d\nsoftdep r x y pre: z\nsoftdep s post: a pre: b\n'
                     'softdep t pre:\tpost:  \nsoftdep u pre:a post:\x0bb\rc\n'),
    },
    'odd bytes': {
        'd/a.conf': b'alias \xff\xfe x\noptions m a=\x01\x02\ralias nul\x00after x\n\x00alias hidden y\nblacklist \xc3\xa9\n',
    },
    'brackets and patterns': {
        'd/a.conf': 'alias usb:v[0-9a-f]-x* m-1\nalias [-] m\nalias a[b-c]-d[-e] m\ninstall foo-* /bin/x\n',
    },
}


@pytest.mark.parametrize('case', sorted(TRICKY))
def test_tricky_configs(kmod, tmp_path, case):
    tmp = str(tmp_path)
    write_tree(tmp, TRICKY[case])
    paths = sorted({os.path.join(tmp, rel.split('/')[0]) for rel in TRICKY[case]})
    # kmod names the last physical line of a continued directive, we the first.
    continued = any(b'\\\n' in (c if isinstance(c, bytes) else c.encode()) for c in TRICKY[case].values())
    compare(kmod, tmp, paths, check_lines=not continued)


def test_explicit_file_paths_and_duplicates(kmod, tmp_path):
    tmp = str(tmp_path)
    write_tree(tmp, {'d/a.conf': 'alias a m\n', 'd/b.conf': 'alias b m\n', 'x/b.conf': 'alias xb m\n',
                     'f': 'alias f m\n'})
    compare(kmod, tmp, [os.path.join(tmp, 'x', 'b.conf'), os.path.join(tmp, 'd'), os.path.join(tmp, 'f'),
                        os.path.join(tmp, 'missing')])


def test_dev_null_mask_and_modules_softdep(kmod, tmp_path):
    tmp = str(tmp_path)
    write_tree(tmp, {'d2/a.conf': 'blacklist masked\n', 'd2/z.conf': 'blacklist z\n',
                     'fakeroot/lib/modules/%s/modules.softdep' % RELEASE:
                         '# Soft dependencies extracted from modules themselves.\nsoftdep m pre: n\n'})
    os.makedirs(os.path.join(tmp, 'd1'))
    os.symlink('/dev/null', os.path.join(tmp, 'd1', 'a.conf'))
    config, _output = compare(kmod, tmp, [os.path.join(tmp, 'd1'), os.path.join(tmp, 'd2')])
    assert [d.module for d in config.blacklists][:1] == ['z']
    assert config.softdeps_for('m') == (['n'], [])


def test_merged_usr_duplicate_dir(kmod, tmp_path):
    tmp = str(tmp_path)
    write_tree(tmp, {'usr/lib/modprobe.d/a.conf': 'options m x=1\n'})
    os.symlink('usr/lib', os.path.join(tmp, 'lib'))
    compare(kmod, tmp, [os.path.join(tmp, 'usr/lib/modprobe.d'), os.path.join(tmp, 'lib/modprobe.d')])


def test_host_default_dirs(kmod, tmp_path):
    """The system's own configuration, read from its default directories: the
    host's for kmod 30, the chroot's (read by us under its root) for kmod 34.

    kmod 30 as Debian builds it reads /etc, /run, /usr/local/lib and /lib
    modprobe.d; on merged /usr, /usr/lib/modprobe.d is the same directory.
    """
    tmp = str(tmp_path)
    fake_root = os.path.join(tmp, 'fakeroot')
    os.makedirs(os.path.join(fake_root, 'lib', 'modules', RELEASE))
    r = kmod.modprobe(['-c', '-d', fake_root, '-S', RELEASE], share=[tmp], binary=True)
    theirs = Kmod(r.stdout, r.stderr)
    system_root = getattr(getattr(kmod, 'root', None), 'path', '/')
    config = mc.load_modprobe_config(root=system_root, module_dir=os.path.join(fake_root, 'lib', 'modules', RELEASE),
                                     weakdep=has_weakdep(kmod), cmdline=host_cmdline())
    assert config.render(kmod_quirks=True).encode('utf-8', 'surrogateescape') == theirs.config


@pytest.mark.skipif(not FAKE_CMDLINE, reason='needs root and unshare to fake /proc/cmdline')
@pytest.mark.parametrize('text', [
    'root=/dev/vda a-b.c=1 "q.r=x y" s.t="u v" w.x.y=1 z. c.=1 n[.x=1 m].y=2 k[-].x=1 p.q="open',
    'a.b=1\tc.d=2\ve.f=3\fg.h=4\ri.j=5\nk.l=6\0m.n=7',
    'a"b.c=1 a.b"c=1 ""a.b=1 "a.b" "a b.c=1" a.b=1 x="a b.c=1" d.e=1 0.0.0.0:2024 y.z=0.0.0.0:2024',
    '',
])
def test_cmdline(kmod, tmp_path, text):
    compare(kmod, str(tmp_path), ['/dev/null'], cmdline_text=text)


@pytest.mark.skipif(not FAKE_CMDLINE, reason='needs root and unshare to fake /proc/cmdline')
def test_cmdline_documented_differences(kmod, tmp_path):
    """Where we differ from kmod on purpose (see cmdline.py)."""
    text = 'modprobe.blacklist=a-b,,c modprobe.foo=1 .e=1 x.y=1'
    theirs = run_kmod(kmod, str(tmp_path), ['/dev/null'], text)
    assert theirs.config == (b'blacklist a-b\nblacklist \nblacklist c\noptions modprobe foo=1\n'
                             b'options  e=1\noptions x y=1\n')
    config = ours(kmod, str(tmp_path), ['/dev/null'], text)
    assert config.render() == 'blacklist a_b\nblacklist c\noptions x y=1\n'


# ------------------------------------------------------------- random configs

NAME = st.text(alphabet='ab-_[]*?0', min_size=0, max_size=5)
BLANK = st.sampled_from([' ', '  ', '\t', ' \t', '   '])
WORD = st.text(alphabet='abc-_=.,"#\\:[]*\t\r\x0b\xe9', min_size=0, max_size=6)
SECTION = st.sampled_from(['pre:', 'post:', 'pre: ', ' post:'])


@st.composite
def directive(draw):
    cmd = draw(st.sampled_from(['alias', 'blacklist', 'options', 'install', 'remove', 'softdep',
                                'weakdep', 'include', 'bogus', '#', '', ' #']))
    parts = [cmd]
    for _line in range(draw(st.integers(0, 5))):
        parts.append(draw(st.one_of(NAME, WORD, SECTION)))
    line = ''
    for i, part in enumerate(parts):
        line += part + (draw(BLANK) if i < len(parts) - 1 else '')
    if draw(st.booleans()):
        line += draw(st.sampled_from(['', ' ', '  ', '\t', ' # c', '\\\n', '\\\nx']))
    return line


@st.composite
def config_text(draw):
    lines = draw(st.lists(directive(), max_size=8))
    text = '\n'.join(lines)
    if draw(st.booleans()):
        text += '\n'
    # A '\\' ending the file is where we differ on purpose.
    return text.rstrip('\\') if not text.endswith('\\\n') else text


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(texts=st.lists(config_text(), min_size=1, max_size=3))
def test_random_configs(kmod, tmp_path_factory, texts):
    tmp = str(tmp_path_factory.mktemp('rand'))
    files = {'d/%d.conf' % i: t for i, t in enumerate(texts)}
    write_tree(tmp, files)
    theirs = run_kmod(kmod, tmp, [os.path.join(tmp, 'd')])
    config = ours(kmod, tmp, [os.path.join(tmp, 'd')])
    assert config.render(kmod_quirks=True).encode('utf-8', 'surrogateescape') == theirs.config
    # kmod names the last physical line of a continued directive, we the first.
    if not any('\\\n' in t for t in texts):
        assert our_bad_lines(config) == theirs.bad_lines()
