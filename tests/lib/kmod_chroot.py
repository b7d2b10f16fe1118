"""kmod 34 (Debian 13's) in a chroot: the second oracle beside the host's kmod 30.

`mmdebstrap --variant=apt --include=kmod --mode=root trixie DIR "deb MIRROR
trixie main"` makes a Debian 13 root holding kmod 34.2 in about 20 s.  The
mirror is read at run time from this machine's apt sources (never written
into the repository); KMOD_TEST_DEBIAN_MIRROR overrides it.  The root is
built once under $KMOD_TEST_CACHE/kmod-root/<recipe hash>/ (default
~/.cache/kernel-kmod), the hash covering the whole mmdebstrap command but
the target: change the recipe or the mirror and a new root is built.

Its tools run as `chroot DIR depmod -b /TREE REL`.  A tree is given to them
the way the host sees it: every host path a run needs (the base directory,
a depmod.d or modprobe.d directory, an external module directory) is copied
to DIR + that path, module files hard-linked, so the chroot's kmod sees the
same absolute paths as the host's, and its messages and the absolute paths
it writes into modules.dep are those of the host's kmod.  After a depmod
run its index files are copied back into the host's tree and the copy
inside DIR is removed.  modprobe in the chroot reads its /proc/cmdline from
a copy of the host's (a plain file in the root), or from a file of ours
bind-mounted in a private mount namespace (root and `unshare`, as the tests
run in CI).
"""

import fcntl
import glob
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import time

SUITE = 'trixie'
COMPONENT = 'main'
# Where the Debian archive is, when the apt sources name none.
MIRROR_ENV = 'KMOD_TEST_DEBIAN_MIRROR'
META = 'root.json'


class ChrootError(RuntimeError):
    """The kmod root could not be built or used (the message says why)."""


def cache_root():
    base = os.environ.get('KMOD_TEST_CACHE') or os.path.join(os.path.expanduser('~'), '.cache', 'kernel-kmod')
    path = os.path.join(base, 'kmod-root')
    os.makedirs(path, exist_ok=True)
    return path


# ---------------------------------------------------------------- the mirror

def _one_line_sources(text):
    """(types, uris, suites, components) of each `deb URI SUITE COMP...` line."""
    out = []
    for line in text.splitlines():
        line = line.split('#', 1)[0].strip()
        line = re.sub(r'\[[^\]]*\]', ' ', line)  # [arch=amd64 signed-by=...]
        words = line.split()
        if len(words) >= 3 and words[0] in ('deb', 'deb-src'):
            out.append(([words[0]], [words[1]], [words[2]], words[3:]))
    return out


def _deb822_sources(text):
    """(types, uris, suites, components) of each stanza of a .sources file."""
    out = []
    for stanza in re.split(r'\n\s*\n', text):
        fields = {}
        key = None
        for line in stanza.splitlines():
            if line.startswith('#'):
                continue
            if line[:1] in (' ', '\t') and key:
                fields[key] += ' ' + line.strip()
                continue
            name, sep, value = line.partition(':')
            if sep:
                key = name.strip().lower()
                fields[key] = value.strip()
        if fields.get('enabled', 'yes').lower() == 'no':
            continue
        if 'uris' in fields and 'suites' in fields:
            out.append((fields.get('types', '').split(), fields['uris'].split(), fields['suites'].split(),
                        fields.get('components', '').split()))
    return out


def debian_mirror(apt_dir='/etc/apt'):
    """The URI of this machine's Debian archive: the first `deb` source of a
    release suite (not -security, -updates, -backports) with the main component.

    apt reads sources.list and the sources.list.d files ending .list or
    .sources (others, such as NAME.list.disabled, it ignores); so do we.
    Returns None when there is none."""
    files = [os.path.join(apt_dir, 'sources.list')]
    files += sorted(glob.glob(os.path.join(apt_dir, 'sources.list.d', '*')))
    for path in files:
        if not os.path.isfile(path):
            continue
        with open(path, errors='replace') as f:
            text = f.read()
        if path.endswith('.sources'):
            entries = _deb822_sources(text)
        elif path.endswith('.list') or path == files[0]:
            entries = _one_line_sources(text)
        else:
            continue
        for types, uris, suites, components in entries:
            if 'deb' in types and COMPONENT in components and any('-' not in s and '/' not in s for s in suites):
                for uri in uris:
                    if re.match(r'(https?|file)://', uri):
                        return uri.rstrip('/')
    return None


def mirror():
    """The mirror to build from: KMOD_TEST_DEBIAN_MIRROR, else the apt sources'."""
    uri = os.environ.get(MIRROR_ENV) or debian_mirror()
    if not uri:
        raise ChrootError('no Debian mirror in /etc/apt/sources.list*: set %s to one' % MIRROR_ENV)
    return uri


# ---------------------------------------------------------------- the recipe

def recipe(mirror_uri, suite=SUITE):
    """The mmdebstrap command that builds the root, with TARGET for its directory."""
    return ['mmdebstrap', '--variant=apt', '--include=kmod', '--mode=root', suite, 'TARGET',
            'deb %s %s %s' % (mirror_uri, suite, COMPONENT)]


def recipe_hash(argv):
    """The cache key of a root: the hash of its whole command."""
    return hashlib.sha256('\0'.join(argv).encode()).hexdigest()[:16]


def parse_kmod_version(text):
    """('34.2', {'XZ': True, 'ZLIB': False, ...}) from `kmod --version`."""
    match = re.search(r'kmod version ([0-9][0-9.]*)', text)
    if not match:
        raise ChrootError('not a kmod version: %r' % text[:200])
    features = {}
    for word in text.split():
        if len(word) > 1 and word[0] in '+-' and word[1:].isalnum():
            features[word[1:].upper()] = word[0] == '+'
    return match.group(1), features


def ensure_root(log=None):
    """The cached KmodRoot of the current recipe, built first when missing.

    Building needs root and mmdebstrap: without them this fails (the
    conformance tests need this oracle; it is not optional).  Two processes
    asking at once build once: the second waits on a lock."""
    if shutil.which('mmdebstrap') is None:
        raise ChrootError('mmdebstrap is not installed (tests/apt-packages.txt lists it: run `make deps`)')
    if os.geteuid() != 0:
        raise ChrootError('the kmod 34 root is built with mmdebstrap --mode=root and used with chroot: run as root')
    argv = recipe(mirror())
    key = recipe_hash(argv)
    base = cache_root()
    final = os.path.join(base, key)
    if os.path.exists(os.path.join(final, META)):
        return KmodRoot(final)
    with open(os.path.join(base, '.lock-' + key), 'w') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if os.path.exists(os.path.join(final, META)):
            return KmodRoot(final)
        started = time.monotonic()
        work = tempfile.mkdtemp(prefix='.build-%s-' % key, dir=base)
        try:
            _build(work, argv, log)
            meta = dict(json.load(open(os.path.join(work, META))), seconds=round(time.monotonic() - started, 1))
            with open(os.path.join(work, META), 'w') as f:
                json.dump(meta, f, indent=1)
            os.rename(work, final)
        except BaseException:
            shutil.rmtree(work, ignore_errors=True)
            raise
    return KmodRoot(final)


def _build(work, argv, log):
    rootfs = os.path.join(work, 'root')
    cmd = [rootfs if word == 'TARGET' else word for word in argv]
    if log:
        log('building the kmod root of %s (once; %s)' % (SUITE, work))
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                          universal_newlines=True, check=False)
    if proc.returncode != 0:
        raise ChrootError('mmdebstrap failed (%d):\n%s' % (proc.returncode, proc.stdout[-3000:]))
    # the file our modprobe runs see as /proc/cmdline is bind-mounted here
    with open(os.path.join(rootfs, 'proc', 'cmdline'), 'w'):
        pass
    out = subprocess.run(['chroot', rootfs, 'kmod', '--version'], stdout=subprocess.PIPE,
                         universal_newlines=True, check=True).stdout
    version, features = parse_kmod_version(out)
    with open(os.path.join(work, META), 'w') as f:
        # the recipe as written in this file: the mirror is in the key, never in a file
        json.dump({'recipe': recipe('MIRROR'), 'suite': SUITE, 'kmod_version': version, 'features': features,
                   'built_at': time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}, f, indent=1)


# ---------------------------------------------------------------- using it

def _link_or_copy(src, dst):
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def mirror_path(src, dst):
    """src (a file or a directory tree) at dst: regular files hard-linked
    where they can be, symlinks kept as symlinks."""
    if os.path.islink(src) or not os.path.isdir(src):
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        if os.path.islink(src):
            os.symlink(os.readlink(src), dst)
        else:
            _link_or_copy(src, dst)
        return
    shutil.copytree(src, dst, symlinks=True, copy_function=_link_or_copy)


class KmodRoot(object):
    """A built root: path (the directory chroot enters), version ('34.2'),
    major (34) and features ({'XZ': True, ...}) of its kmod."""

    def __init__(self, path):
        self.home = path
        self.path = os.path.join(path, 'root')
        with open(os.path.join(path, META)) as f:
            self.meta = json.load(f)
        self.version = self.meta['kmod_version']
        self.major = int(self.version.split('.')[0])
        self.features = self.meta['features']

    def inside(self, host_path):
        """Where host_path is placed inside the root (the chroot sees it as host_path)."""
        host_path = os.path.abspath(host_path)
        if host_path == '/' or host_path.startswith(self.path + os.sep):
            raise ChrootError('%s cannot be shared into %s' % (host_path, self.path))
        return self.path + host_path

    def share(self, host_paths):
        """Copy each host path to the same path inside the root; returns the copies."""
        placed = []
        try:
            for host_path in host_paths:
                target = self.inside(host_path)
                if os.path.lexists(target):
                    raise ChrootError('%s is already shared into the kmod root' % host_path)
                mirror_path(os.path.abspath(host_path), target)
                placed.append(target)
        except BaseException:
            self.unshare(placed)
            raise
        return placed

    @staticmethod
    def unshare(placed):
        for target in placed:
            if os.path.isdir(target) and not os.path.islink(target):
                shutil.rmtree(target, ignore_errors=True)
            elif os.path.lexists(target):
                os.unlink(target)

    def copy_host_cmdline(self):
        """The root's /proc/cmdline file made the host's own (replaced whole, so
        concurrent readers see the old or the new text)."""
        with open('/proc/cmdline', 'rb') as f:
            text = f.read()
        target = os.path.join(self.path, 'proc', 'cmdline')
        if os.path.exists(target):
            with open(target, 'rb') as f:
                if f.read() == text:
                    return
        tmp = '%s.%d' % (target, os.getpid())
        with open(tmp, 'wb') as f:
            f.write(text)
        os.rename(tmp, target)

    def command(self, argv, cmdline_file=None):
        """argv run inside the root; with cmdline_file, that file is its /proc/cmdline."""
        argv = ['chroot', self.path] + list(argv)
        if cmdline_file is None:
            return argv
        return ['unshare', '-m', 'sh', '-c', 'mount --bind "$0" "$1" && shift && exec "$@"',
                cmdline_file, os.path.join(self.path, 'proc', 'cmdline')] + argv
