# -*- coding: utf-8 -*-
# Copyright (c) kernel.kmod contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The frame layout of zstd data (RFC 8878, section 3.1), read without decompressing.

What a frame header declares and where each frame ends tell, before any
decompression, how many bytes a zstd file stands for: enough to hand many
files to one `zstd` process and cut its output back into files.
"""

ZSTD_MAGIC = b'\x28\xb5\x2f\xfd'
# skippable frames: magic 0x184D2A50 to 0x184D2A5F, a 4-byte size, that many bytes
_SKIPPABLE_HIGH = b'\x2a\x4d\x18'
# a frame header's Frame_Content_Size field width by its flag (0: none unless single-segment)
_SIZE_WIDTHS = (0, 2, 4, 8)
_DICT_ID_WIDTHS = (0, 1, 2, 4)
_RLE, _RESERVED = 1, 3


def frame_header(data, at=0):
    """(declared content size or None, offset of the first block header) of
    the zstd frame starting at `at`, or None if no whole header is there."""
    if data[at:at + 4] != ZSTD_MAGIC or len(data) < at + 5:
        return None
    descriptor = data[at + 4]
    if descriptor & 0x08:  # reserved bit: no encoder sets it
        return None
    single_segment = bool(descriptor & 0x20)
    width = _SIZE_WIDTHS[descriptor >> 6]
    if width == 0 and single_segment:
        width = 1
    where = at + 5 + (0 if single_segment else 1) + _DICT_ID_WIDTHS[descriptor & 3]
    end = where + width
    if end > len(data):
        return None
    if width == 0:
        return None, end
    size = int.from_bytes(data[where:end], 'little')
    return (size + 256 if width == 2 else size), end


def declared_size(data):
    """The number of bytes the zstd data stands for, when it is nothing but
    whole frames that each declare their content size (skippable frames
    count 0); None when a frame leaves its size out, is cut short, or
    anything else is there.  Only headers are read: the blocks are stepped
    over by their declared lengths, so a corrupt block is found by the
    decompressor, not here."""
    total, at, end = 0, 0, len(data)
    if end == 0:
        return None
    while at < end:
        if data[at + 1:at + 4] == _SKIPPABLE_HIGH and data[at] & 0xf0 == 0x50:
            if at + 8 > end:
                return None
            at += 8 + int.from_bytes(data[at + 4:at + 8], 'little')
            if at > end:
                return None
            continue
        header = frame_header(data, at)
        if header is None or header[0] is None:
            return None
        checksum = 4 if data[at + 4] & 0x04 else 0  # Content_Checksum_flag: 4 bytes after the last block
        size, at = header
        while True:
            if at + 3 > end:
                return None
            block = int.from_bytes(data[at:at + 3], 'little')
            kind = (block >> 1) & 3
            if kind == _RESERVED:
                return None
            at += 3 + (1 if kind == _RLE else block >> 3)
            if block & 1:  # Last_Block
                break
        at += checksum
        if at > end:
            return None
        total += size
    return total if at == end else None
