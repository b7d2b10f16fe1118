"""initramfs images built by the tests: cpio newc archives (written with
initramfs.cpio's writer, which only the tests use), an optional uncompressed
early part, the main part compressed as a generator would."""

import bz2
import gzip
import lzma
import shutil
import subprocess

from ansible_collections.kernel.kmod.plugins.module_utils.initramfs.cpio import write_archive

EARLY = [('kernel', None), ('kernel/x86', None), ('kernel/x86/microcode', None),
         ('kernel/x86/microcode/GenuineIntel.bin', b'\x01microcode')]


def compress(data, compression):
    if compression is None:
        return data
    if compression == 'gzip':
        return gzip.compress(data, 6)
    if compression == 'xz':
        return lzma.compress(data, check=lzma.CHECK_CRC32)
    if compression == 'lzma':
        return lzma.compress(data, format=lzma.FORMAT_ALONE)
    if compression == 'bzip2':
        return bz2.compress(data)
    program = {'zstd': ['zstd', '-q', '-c'], 'lz4': ['lz4', '-l', '-q', '-c']}[compression]
    if shutil.which(program[0]) is None:
        return None
    return subprocess.run(program, input=data, stdout=subprocess.PIPE, check=True).stdout


def build_image(files, compression='gzip', early=False, pad=512):
    """The bytes of an image of files [(name, data or None for a dir)]; None
    when the compression program is missing here."""
    main = compress(write_archive(files), compression)
    if main is None:
        return None
    if not early:
        return main
    first = write_archive(EARLY)
    first += b'\0' * ((-len(first)) % pad)
    return first + main
