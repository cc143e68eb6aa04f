"""WinRM's "xpress" stream compression: the MS-WSMV note <134> block framing and a decoder for
MS-XCA 2.2 LZ77+Huffman (section 2.2.4, decompression). Sans-IO: bytes in, bytes out.

Windows PowerShell 5.1 asks for ``<rsp:CompressionType>xpress</rsp:CompressionType>`` on every
Create unless ``-NoCompression`` is given; the client then frames the (base64-decoded) data of each
``rsp:Send/rsp:Stream`` as blocks and expects ``rsp:ReceiveResponse/rsp:Stream`` data framed the
same way. A block is::

    u16le original_size - 1
    u16le compressed_size - 1
    compressed_size bytes: the original bytes when the two sizes are equal (a "stored" block),
                           else one LZ77+Huffman stream that decodes to exactly original_size bytes

with at most 65536 original bytes per block, so one Huffman table per block. The server only needs
to *decode* what the client sends; its own output can always go as stored blocks
(:func:`encode_stored`), which the note's decoder rule reads as is.

Why hand-written: no well-kept, permissively licensed Python decoder exists. dissect.util's pure
Python LZXPRESS Huffman decoder (Apache-2.0) takes no output size, decodes the EOF symbol as a
match, mis-decodes Windows-made data and fails on full 64 KiB blocks; libfwnt-python (``pyfwnt``)
is LGPL-3.0+ and labelled alpha; xpress-lz77 is GPL-3.0. This module follows the MS-XCA text and
was written from it (Samba's and wimlib's decoders were read for the corner cases, not copied).

How it was checked (``tests/frontends/wsman/test_xpress.py``): the MS-XCA 3.2 example; Hypothesis
round trips of random, run-length and CLIXML-like data of 1 byte to 140,000 bytes, framed as
Windows frames them with an independent compressor (wimlib's XPRESS, the format of Windows'
``COMPRESSION_FORMAT_XPRESS_HUFF``), each compressed block also decoded by libfwnt's C decoder
and compared; hand-built streams for the length escapes, multi-table (> 64 KiB) streams and
matches that cross a table boundary, also compared with libfwnt; and garbage, truncation and
decompression-bomb inputs, which must raise :class:`XpressError` and nothing else, quickly,
without producing more than ``limit`` bytes.

Speed (pure Python; ``bench/bench_xpress.py``): stored blocks are a memory copy; compressed blocks
decode at ~44 MB/s of output for CLIXML and ~6 MB/s for literal-only data (libfwnt's C decoder:
6-8 times that), through a flat 2**15-entry decoding table indexed by the next 15 bits, a bit
buffer refilled from 16-bit words read out of two ``array('H')`` views of the input (even and odd
byte positions, since the length escape bytes can leave the word reader on an odd byte), and slice
copies for matches.
"""

from __future__ import annotations

import struct
import sys
from array import array

__all__ = [
    "HEADER_SIZE",
    "MAX_BLOCK",
    "XpressError",
    "decode_stream",
    "encode_stored",
    "framed_size",
    "lz77_huffman_decompress",
]

#: Bytes of framing before each block's data (u16le original_size-1, u16le compressed_size-1).
HEADER_SIZE = 4
#: The largest original (and stored) size of one block: the sizes are 16-bit values minus one.
MAX_BLOCK = 65536

_TABLE_BYTES = 256  # 512 code lengths, one nibble each (even symbol in the low nibble)
_CHUNK = 65536  # MS-XCA: a new Huffman table after every 65536 output bytes of one stream
_LOOKUP_BITS = 15  # the longest code; the decoding table is indexed by the next 15 bits
_PAD = bytes(8)  # zero words past the input so the word reader never has to test for the end
_HEADER = struct.Struct("<HH")


class XpressError(ValueError):
    """The data is not a valid xpress-framed stream, or decodes to more than allowed."""


def framed_size(n: int) -> int:
    """Bytes that :func:`encode_stored` makes of ``n`` bytes: the data plus 4 per started 64 KiB block."""
    return n + HEADER_SIZE * -(-n // MAX_BLOCK)


def encode_stored(data: bytes) -> bytes:
    """Frames ``data`` as stored blocks of at most 64 KiB (equal sizes: the client reads them as is)."""
    n = len(data)
    if n <= MAX_BLOCK:  # the usual case: one block, one copy
        return _HEADER.pack(n - 1, n - 1) + data if n else b""
    parts: list[bytes | memoryview] = []
    view = memoryview(data)
    for start in range(0, n, MAX_BLOCK):
        piece = view[start : start + MAX_BLOCK]
        parts.append(_HEADER.pack(len(piece) - 1, len(piece) - 1))
        parts.append(piece)
    return b"".join(parts)


def decode_stream(data: bytes | bytearray | memoryview, limit: int) -> bytes:
    """Decodes MS-WSMV <134> framed data (the bytes of one ``rsp:Stream``) into the original bytes.

    Raises :class:`XpressError` on any malformation, naming the block and its offset, and as soon
    as a block's header claims more output than ``limit`` allows in total (before decoding it).
    """
    view = memoryview(data).cast("B")
    n = len(view)
    parts: list[bytes | bytearray | memoryview] = []
    total = 0
    offset = 0
    index = 0
    while offset < n:
        where = f"block {index} at offset {offset}"
        if n - offset < HEADER_SIZE:
            raise XpressError(f"{where}: the 4-byte block header is cut short ({n - offset} bytes left)")
        original, compressed = _HEADER.unpack_from(view, offset)
        original += 1
        compressed += 1
        start = offset + HEADER_SIZE
        if compressed > n - start:
            raise XpressError(f"{where}: the block claims {compressed} bytes of data but {n - start} remain")
        if total + original > limit:
            raise XpressError(
                f"{where}: the block would bring the decoded data to {total + original} bytes,"
                f" over the limit of {limit}"
            )
        body = view[start : start + compressed]
        if original == compressed:
            parts.append(body)  # stored: no copy until the final join
        else:
            try:
                parts.append(_decompress(body.tobytes(), original))
            except XpressError as exc:
                raise XpressError(f"{where}: {exc}") from None
        total += original
        offset = start + compressed
        index += 1
    if len(parts) == 1 and isinstance(parts[0], memoryview):
        return parts[0].tobytes()
    return b"".join(parts)


def lz77_huffman_decompress(data: bytes, size: int) -> bytes:
    """Decodes one raw MS-XCA 2.2 LZ77+Huffman stream that must yield exactly ``size`` bytes.

    Any size is accepted (a new Huffman table follows every 65536 output bytes); the caller bounds
    ``size``. Raises :class:`XpressError` if the stream is malformed.
    """
    if size < 0:
        raise XpressError(f"negative output size {size}")
    return bytes(_decompress(bytes(data), size))


def _decoding_table(src: bytes, pos: int) -> list[int]:
    """The MS-XCA 2.2.4 decoding table of the 256-byte code-length table at ``src[pos:]``.

    Entry i (i = the next 15 bits of the stream) is ``symbol << 4 | code_length``. Codes are
    canonical: by length, then by symbol. The table must fill exactly 2**15 entries: an
    over-subscribed or incomplete code (or one with no symbol at all) is invalid, as in MS-XCA.
    """
    by_length: list[list[int]] = [[] for _ in range(16)]
    for i, b in enumerate(src[pos : pos + _TABLE_BYTES]):
        if b & 15:
            by_length[b & 15].append(2 * i)
        if b >> 4:
            by_length[b >> 4].append(2 * i + 1)
    filled = sum(len(by_length[length]) << (_LOOKUP_BITS - length) for length in range(1, 16))
    if filled != 1 << _LOOKUP_BITS:
        problem = "over-subscribed" if filled > 1 << _LOOKUP_BITS else "incomplete" if filled else "empty"
        raise XpressError(f"the Huffman code lengths at input offset {pos} describe an {problem} code")
    table: list[int] = []
    for length in range(1, 16):
        span = 1 << (_LOOKUP_BITS - length)
        for symbol in by_length[length]:
            table += [symbol << 4 | length] * span
    return table


def _words(src: bytes) -> tuple[array[int], array[int]]:
    """Little-endian 16-bit words of ``src`` (zero-padded) starting at even and at odd byte offsets."""
    padded = src + _PAD
    even = array("H", padded[: len(padded) & ~1])
    odd = array("H", padded[1 : 1 + ((len(padded) - 1) & ~1)])
    if sys.byteorder == "big":
        even.byteswap()
        odd.byteswap()
    return even, odd


def _decompress(src: bytes, size: int) -> bytearray:
    """The MS-XCA 2.2.4 loop, driven by the output size (the EOF symbol need not be read)."""
    n = len(src)
    even, odd = _words(src)
    out = bytearray()
    append = out.append
    op = 0
    pos = 0  # where the current Huffman table starts
    while op < size:
        if n - pos < _TABLE_BYTES:
            raise XpressError(f"the input ends at offset {n} inside the Huffman table that starts at {pos}")
        table = _decoding_table(src, pos)
        # The bit buffer: the low `cnt` bits of `buf` are unread, read from the top (MS-XCA's
        # NextBits holds 16 + ExtraBitCount of them). It starts with two words and takes one more
        # whenever fewer than 16 are left, so a 15-bit code or offset can always be read, and the
        # byte position for the length escapes is right after the last word taken, as in MS-XCA.
        p = pos + _TABLE_BYTES
        par = p & 1
        words = odd if par else even
        wi = p >> 1
        buf = words[wi] << 16 | words[wi + 1]
        wi += 2
        cnt = 32
        stop = min(size, op + _CHUNK)  # a match may run past `stop`, not past `size`
        try:
            while op < stop:
                entry = table[buf >> (cnt - 15) & 0x7FFF]
                cnt -= entry & 15
                if cnt < 16:
                    buf = (buf << 16 | words[wi]) & 0xFFFFFFFF
                    wi += 1
                    cnt += 16
                symbol = entry >> 4
                if symbol < 256:
                    append(symbol)
                    op += 1
                    continue
                # A match: low 4 bits the length - 3 (15: more in the byte stream), high 4 bits the
                # offset's bit count. Symbol 256 is the EOF marker only once the output is complete,
                # and the loop stops before then; before, it is a match of 3 at offset 1.
                length = symbol & 15
                nbits = (symbol >> 4) - 16
                if length == 15:
                    q = 2 * wi + par  # the byte after the words read so far
                    if q >= n:
                        raise XpressError(f"the match length byte at offset {q} is past the end of the input")
                    length = src[q] + 15
                    q += 1
                    if length == 270:  # 255: the length (minus 3) is the next LE16, or if 0 the LE32
                        if q + 2 > n:
                            raise XpressError(f"the 16-bit match length at offset {q} is past the end of the input")
                        length = src[q] | src[q + 1] << 8
                        q += 2
                        if length == 0:
                            if q + 4 > n:
                                raise XpressError(f"the 32-bit match length at offset {q} is past the end of the input")
                            length = int.from_bytes(src[q : q + 4], "little")
                            q += 4
                        if length < 15:  # MS-XCA: these lengths have shorter encodings
                            raise XpressError(f"invalid escaped match length {length} before offset {q}")
                    par = q & 1
                    words = odd if par else even
                    wi = q >> 1
                length += 3
                if nbits:
                    distance = (1 << nbits) | (buf >> (cnt - nbits) & ((1 << nbits) - 1))
                    cnt -= nbits
                    if cnt < 16:
                        buf = (buf << 16 | words[wi]) & 0xFFFFFFFF
                        wi += 1
                        cnt += 16
                else:
                    distance = 1
                if distance > op:
                    raise XpressError(f"match offset {distance} is beyond the {op} bytes decoded")
                if op + length > size:
                    raise XpressError(f"a match of {length} bytes at output {op} runs past the {size} bytes expected")
                start = op - distance
                if distance >= length:
                    out += out[start : start + length]
                else:  # overlapping: the copy repeats the last `distance` bytes
                    out += (out[start:op] * (length // distance + 1))[:length]
                op += length
        except IndexError:  # the word reader ran past the zero padding
            raise XpressError(f"the bit stream runs past the end of the input ({n} bytes)") from None
        # Words taken past the input read as zeros; that is fine (Windows' and wimlib's streams end
        # with a word the decoder loads but does not need) as long as none of their bits were used.
        after = 2 * wi + par
        unreal = max(0, (after - n + 1) // 2)  # trailing words not wholly inside the input
        if 16 * unreal > cnt:
            raise XpressError(f"the bit stream runs past the end of the input ({n} bytes)")
        pos = after
    return out
