"""Test-side helpers for WinRM's "xpress" stream compression (MS-WSMV note <134>).

aobo only *decodes* LZ77+Huffman (:mod:`aobo.frontends.wsman.xpress`); the tests need an
independent compressor and an independent decoder to check it against:

* wimlib (Debian ``libwim15``, LGPL-3.0+/GPL-3.0+), through ctypes: its XPRESS compressor writes
  MS-XCA 2.2 LZ77+Huffman, the format of Windows' ``COMPRESSION_FORMAT_XPRESS_HUFF``, for blocks up
  to 64 KiB (one Huffman table per block). It is the round-trip oracle.
* ``pyfwnt`` (PyPI ``libfwnt-python``, libyal, LGPL-3.0+): a C decoder, the differential oracle.

Both are test-only and optional: the helpers report whether they are there and the tests skip when
they are not. Nothing here is imported by the package.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import random
import struct
from collections.abc import Iterator
from functools import cache
from typing import Any

BLOCK = 65536  # the largest WS-Man block, and wimlib's max_block_size for XPRESS
WINDOWS_MIN_COMPRESS = 300  # Windows' compressor refuses inputs under ~300 bytes (reference §3.4)

_WIMLIB_COMPRESSION_TYPE_XPRESS = 1
_WIMLIB_LEVEL = 0  # 0: wimlib's default level


@cache
def _wimlib() -> tuple[Any, int] | None:
    """(library, compressor handle) or None; one compressor for the whole test session."""
    name = ctypes.util.find_library("wim") or "libwim.so.15"
    try:
        lib = ctypes.CDLL(name)
    except OSError:
        return None
    # int wimlib_create_compressor(enum wimlib_compression_type, size_t max_block_size,
    #                              unsigned int compression_level, struct wimlib_compressor **)
    lib.wimlib_create_compressor.argtypes = [
        ctypes.c_int,
        ctypes.c_size_t,
        ctypes.c_uint,
        ctypes.POINTER(ctypes.c_void_p),
    ]
    lib.wimlib_create_compressor.restype = ctypes.c_int
    # size_t wimlib_compress(const void *in, size_t in_size, void *out, size_t out_avail, struct wimlib_compressor *)
    lib.wimlib_compress.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p]
    lib.wimlib_compress.restype = ctypes.c_size_t
    lib.wimlib_free_compressor.argtypes = [ctypes.c_void_p]
    lib.wimlib_free_compressor.restype = None
    handle = ctypes.c_void_p()
    rc = lib.wimlib_create_compressor(_WIMLIB_COMPRESSION_TYPE_XPRESS, BLOCK, _WIMLIB_LEVEL, ctypes.byref(handle))
    if rc != 0 or not handle.value:
        return None
    return lib, handle.value  # never freed: it lives as long as the test process


def wimlib_available() -> bool:
    return _wimlib() is not None


def xpress_huffman_compress(block: bytes) -> bytes | None:
    """One raw MS-XCA LZ77+Huffman stream for ``block`` (1..65536 bytes), or None if not smaller."""
    loaded = _wimlib()
    if loaded is None:
        raise RuntimeError("wimlib (libwim.so.15) is not available")
    if not 0 < len(block) <= BLOCK:
        raise ValueError(f"a block is 1..{BLOCK} bytes, not {len(block)}")
    lib, handle = loaded
    out = ctypes.create_string_buffer(len(block))
    # out_avail = len - 1: wimlib returns 0 when the result would not be strictly smaller
    size = lib.wimlib_compress(block, len(block), out, len(block) - 1, handle)
    return out.raw[:size] if size else None


def frame_like_windows(data: bytes) -> bytes:
    """The MS-WSMV <134> framing as Windows writes it: 64 KiB pieces, each compressed with
    LZ77+Huffman when that is possible and smaller, stored otherwise (and always under 300 bytes)."""
    framed = bytearray()
    for start in range(0, len(data), BLOCK):
        piece = data[start : start + BLOCK]
        packed = xpress_huffman_compress(piece) if len(piece) >= WINDOWS_MIN_COMPRESS else None
        body = piece if packed is None else packed
        framed += struct.pack("<HH", len(piece) - 1, len(body) - 1) + body
    return bytes(framed)


def pyfwnt_available() -> bool:
    try:
        import pyfwnt  # noqa: F401
    except ImportError:
        return False
    return True


def pyfwnt_decompress(data: bytes, size: int) -> bytes:
    """libfwnt's C decoder of one raw LZ77+Huffman stream that decodes to ``size`` bytes."""
    import pyfwnt

    return bytes(pyfwnt.lzxpress_huffman_decompress(data, size))


def clixml_like(size: int, r: random.Random) -> bytes:
    """``size`` bytes of CLIXML shaped like PSRP output of mailboxes: what Windows compresses most."""
    parts: list[bytes] = []
    length = 0
    ref = 0
    while length < size:
        name = "".join(r.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(r.randint(3, 12)))
        part = (
            f'<Obj RefId="{ref}"><TN RefId="0"><T>Deserialized.Microsoft.Exchange.Data.Directory.Management.Mailbox</T>'
            f'</TN><MS><S N="Name">{name}</S><S N="PrimarySmtpAddress">{name}@contoso.com</S>'
            f'<I32 N="Count">{r.randint(0, 10**6)}</I32><B N="IsShared">{str(r.random() < 0.5).lower()}</B></MS></Obj>'
        ).encode()
        parts.append(part)
        length += len(part)
        ref += 1
    return b"".join(parts)[:size]


def blocks(framed: bytes) -> Iterator[tuple[int, bytes]]:
    """(original size, block data) of each MS-WSMV <134> block, read independently of aobo's
    decoder: the test's own reader of the framing."""
    offset = 0
    while offset < len(framed):
        assert len(framed) - offset >= 4, f"truncated block header at {offset}"
        original, compressed = struct.unpack_from("<HH", framed, offset)
        block = framed[offset + 4 : offset + 5 + compressed]
        assert len(block) == compressed + 1, f"the block at {offset} is cut short"
        yield original + 1, block
        offset += 5 + compressed


def unframe(framed: bytes) -> bytes:
    """The original data: stored blocks as they are, the others through pyfwnt's C decoder."""
    return b"".join(block if n == len(block) else pyfwnt_decompress(block, n) for n, block in blocks(framed))
