# -*- coding: utf-8 -*-
# Copyright (c) kernel.kmod contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What modinfo(8) shows about a module's appended signature.

A signed module ends with the signature, a 12-byte `struct module_signature`
(u8 algo, u8 hash, u8 id_type, u8 signer_len, u8 key_id_len, 3 padding bytes,
be32 sig_len) and the magic string.  Kernels since 4.x sign with id_type 2, a
DER PKCS#7 SignedData whose signer info names the signing key by issuer and
serial number.  A small DER walker reads just enough of it: the issuer's
common name (signer), the serial number (sig_key), the digest algorithm
(sig_hashalgo) and the signature bytes.  Nothing is verified.  Malformed
data gives None values, never an exception.
"""

import struct

SIG_ID_NAMES = {0: 'PGP', 1: 'X509', 2: 'PKCS#7'}
PKEY_ID_PKCS7 = 2

# the kernel's enum pkey_hash_algo, for signatures that are not PKCS#7
HASH_ALGO_NAMES = ('md4', 'md5', 'sha1', 'rmd160', 'sha256', 'sha384', 'sha512', 'sha224', 'sm3')

# DER-encoded object identifier contents -> digest name
_DIGEST_OIDS = {
    '1.2.840.113549.2.5': 'md5',
    '1.3.14.3.2.26': 'sha1',
    '2.16.840.1.101.3.4.2.1': 'sha256',
    '2.16.840.1.101.3.4.2.2': 'sha384',
    '2.16.840.1.101.3.4.2.3': 'sha512',
    '2.16.840.1.101.3.4.2.4': 'sha224',
    '2.16.840.1.101.3.4.2.8': 'sha3-256',
    '2.16.840.1.101.3.4.2.9': 'sha3-384',
    '2.16.840.1.101.3.4.2.10': 'sha3-512',
    '1.2.156.10197.1.401': 'sm3',
}
_OID_SIGNED_DATA = '1.2.840.113549.1.7.2'
_OID_COMMON_NAME = '2.5.4.3'

# universal tags
_INTEGER = 0x02
_OCTET_STRING = 0x04
_OID = 0x06
_SEQUENCE = 0x30
_SET = 0x31
_CONTEXT_0 = 0xa0
_STRING_TAGS = (0x0c, 0x13, 0x14, 0x16, 0x1e, 0x1c)  # UTF8, Printable, T61, IA5, BMP, Universal


class _Malformed(Exception):
    """Internal: the DER does not have the expected shape."""


def _tlv(data, pos, end):
    """(tag, content start, content end) of the DER element at pos."""
    if pos + 2 > end:
        raise _Malformed('element header past the end')
    tag = data[pos]
    if tag & 0x1f == 0x1f:
        raise _Malformed('high tag numbers are not used in module signatures')
    first = data[pos + 1]
    pos += 2
    if first < 0x80:
        length = first
    else:
        count = first & 0x7f
        if count == 0 or count > 4 or pos + count > end:
            raise _Malformed('bad length')
        length = int.from_bytes(data[pos:pos + count], 'big')
        pos += count
    if pos + length > end:
        raise _Malformed('element runs past its container')
    return tag, pos, pos + length


def _children(data, start, end):
    """The (tag, start, end) of every element inside a constructed one."""
    out = []
    pos = start
    while pos < end:
        tag, cstart, cend = _tlv(data, pos, end)
        out.append((tag, cstart, cend))
        pos = cend
    return out


def _expect(element, tag):
    if element[0] != tag:
        raise _Malformed('tag 0x%02x where 0x%02x was expected' % (element[0], tag))
    return element


def _oid(data, element):
    _expect(element, _OID)
    raw = data[element[1]:element[2]]
    if not raw or raw[-1] & 0x80:
        raise _Malformed('bad object identifier')
    parts = []
    value = 0
    for byte in raw:
        value = (value << 7) | (byte & 0x7f)
        if not byte & 0x80:
            parts.append(value)
            value = 0
    first = min(parts[0] // 40, 2)
    return '.'.join(str(p) for p in [first, parts[0] - 40 * first] + parts[1:])


def _hex(raw):
    return ':'.join('%02X' % b for b in raw)


def _common_name(data, name):
    """The first commonName value of an X.501 Name, or None."""
    for rdn in _children(data, name[1], name[2]):
        _expect(rdn, _SET)
        for attribute in _children(data, rdn[1], rdn[2]):
            fields = _children(data, _expect(attribute, _SEQUENCE)[1], attribute[2])
            if len(fields) >= 2 and _oid(data, fields[0]) == _OID_COMMON_NAME:
                value = fields[1]
                if value[0] not in _STRING_TAGS:
                    raise _Malformed('commonName is not a string')
                raw = bytes(data[value[1]:value[2]])
                if value[0] == 0x1e:
                    return raw.decode('utf-16-be', 'replace')
                return raw.decode('utf-8', 'replace')
    return None


def _parse_pkcs7(data):
    """(signer, sig_key, sig_hashalgo, signature) from DER SignedData."""
    top = _children(data, 0, len(data))
    if not top:
        raise _Malformed('empty')
    content_info = _children(data, _expect(top[0], _SEQUENCE)[1], top[0][2])
    if len(content_info) < 2 or _oid(data, content_info[0]) != _OID_SIGNED_DATA:
        raise _Malformed('not PKCS#7 SignedData')
    explicit = _children(data, _expect(content_info[1], _CONTEXT_0)[1], content_info[1][2])
    if not explicit:
        raise _Malformed('empty SignedData')
    signed_data = _children(data, _expect(explicit[0], _SEQUENCE)[1], explicit[0][2])
    # version, digestAlgorithms, contentInfo, [0] certificates, [1] crls, signerInfos
    signer_infos = signed_data[-1] if signed_data else None
    if signer_infos is None or len(signed_data) < 4:
        raise _Malformed('SignedData without signer infos')
    infos = _children(data, _expect(signer_infos, _SET)[1], signer_infos[2])
    if not infos:
        raise _Malformed('no signer info')
    fields = _children(data, _expect(infos[0], _SEQUENCE)[1], infos[0][2])
    if len(fields) < 5:
        raise _Malformed('short signer info')
    # version, sid, digestAlgorithm, [0] signed attributes, signatureAlgorithm, signature, ...
    sid = fields[1]
    signer = None
    if sid[0] == _SEQUENCE:
        parts = _children(data, sid[1], sid[2])
        if len(parts) != 2:
            raise _Malformed('issuer and serial number expected')
        issuer, serial = parts
        signer = _common_name(data, _expect(issuer, _SEQUENCE))
        raw_serial = bytes(data[_expect(serial, _INTEGER)[1]:serial[2]])
        sig_key = _hex(raw_serial.lstrip(b'\0'))
    elif sid[0] == 0x80:  # [0] subjectKeyIdentifier (CMS)
        sig_key = _hex(data[sid[1]:sid[2]])
    else:
        raise _Malformed('unknown signer identifier')
    digest = _children(data, _expect(fields[2], _SEQUENCE)[1], fields[2][2])
    if not digest:
        raise _Malformed('empty digest algorithm')
    oid = _oid(data, digest[0])
    hash_algo = _DIGEST_OIDS.get(oid, oid)
    rest = fields[3:]
    if rest and rest[0][0] == _CONTEXT_0:
        rest = rest[1:]  # signed attributes
    if len(rest) < 2:
        raise _Malformed('no signature value')
    value = _expect(rest[1], _OCTET_STRING)
    return signer, sig_key, hash_algo, _hex(data[value[1]:value[2]])


def parse_signature(signature_info, signature):
    """modinfo's signature fields from the 12-byte trailer and the signature bytes.

    Returns {'sig_id', 'signer', 'sig_key', 'sig_hashalgo', 'signature'}; the
    last four are None when the data cannot be read (signature is
    colon-separated upper-case hex like sig_key).
    """
    out = {'sig_id': None, 'signer': None, 'sig_key': None, 'sig_hashalgo': None, 'signature': None}
    if not signature_info or len(signature_info) != 12 or signature is None:
        return out
    _algo, hash_id, id_type, signer_len, key_id_len, sig_len = struct.unpack('>BBBBB3xI', signature_info)
    out['sig_id'] = SIG_ID_NAMES.get(id_type)
    if sig_len != len(signature):
        return out
    if id_type == PKEY_ID_PKCS7:
        try:
            signer, sig_key, hash_algo, value = _parse_pkcs7(bytes(signature))
        except (_Malformed, ValueError, IndexError):
            return out
        out.update(signer=signer, sig_key=sig_key, sig_hashalgo=hash_algo, signature=value)
        return out
    # older formats: signer name, key id and signature laid end to end
    if signer_len + key_id_len > len(signature):
        return out
    raw = bytes(signature)
    out['signer'] = raw[:signer_len].decode('utf-8', 'replace')
    out['sig_key'] = _hex(raw[signer_len:signer_len + key_id_len])
    out['sig_hashalgo'] = HASH_ALGO_NAMES[hash_id] if hash_id < len(HASH_ALGO_NAMES) else None
    out['signature'] = _hex(raw[signer_len + key_id_len:])
    return out


def module_signature(image):
    """parse_signature() of a parsed ModuleImage; None when it is not signed."""
    if not image.signed:
        return None
    return parse_signature(image.signature_info, image.signature)
