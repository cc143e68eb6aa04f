"""The xpress framing (MS-WSMV note <134>) and the LZ77+Huffman decoder (MS-XCA 2.2.4).

Oracles: wimlib's XPRESS compressor (an independent implementation of the format Windows writes)
for round trips, libfwnt's C decoder (pyfwnt) for differential decoding, and a tiny test-side
writer with a fixed 9-bit code for streams wimlib never makes (long-length escapes, several
Huffman tables, matches across a table boundary), itself checked against pyfwnt.
"""

from __future__ import annotations

import random
import struct
import time
import tracemalloc

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aobo.frontends.wsman.xpress import (
    HEADER_SIZE,
    MAX_BLOCK,
    XpressError,
    decode_stream,
    encode_stored,
    framed_size,
    lz77_huffman_decompress,
)
from tests.xpress_support import (
    blocks,
    clixml_like,
    frame_like_windows,
    pyfwnt_available,
    pyfwnt_decompress,
    wimlib_available,
    xpress_huffman_compress,
)

needs_wimlib = pytest.mark.skipif(not wimlib_available(), reason="wimlib (Debian libwim15) is not installed")
needs_pyfwnt = pytest.mark.skipif(not pyfwnt_available(), reason="pyfwnt (PyPI libfwnt-python) is not installed")

LIMIT = 16 * 1024 * 1024
SIZES = [1, 61, 265, 266, 267, 300, 4096, 65535, 65536, 65537, 140000]
KINDS = ["random", "runs", "clixml", "mixture"]


# ---------------------------------------------------------------------------------------- data


def _runs(r: random.Random, size: int) -> bytes:
    out = bytearray()
    while len(out) < size:
        out += bytes([r.randrange(256)]) * min(int(r.expovariate(1 / 40)) + 1, 5000)
    return bytes(out[:size])


def make_data(kind: str, size: int, seed: int) -> bytes:
    r = random.Random(seed)
    if kind == "random":
        return r.randbytes(size)
    if kind == "runs":
        return _runs(r, size)
    if kind == "clixml":
        return clixml_like(size, r)
    out = bytearray()
    while len(out) < size:
        out += make_data(r.choice(KINDS[:3]), r.randint(1, 3000), r.randrange(1 << 30))
    return bytes(out[:size])


def compressed_block(original: bytes, packed: bytes) -> bytes:
    return struct.pack("<HH", len(original) - 1, len(packed) - 1) + packed


# -------------------------------------------------- a test-side writer with a fixed 9-bit code


class FixedCodeWriter:
    """Writes MS-XCA LZ77+Huffman with every one of the 512 symbols given a 9-bit code (a complete
    canonical code: symbol s is written as s in 9 bits), so that any literal/match sequence can be
    spelt out. It places 16-bit words and escape bytes where the MS-XCA decoder expects them: the
    decoder holds two words ahead, so the word that carries bit b is reserved once bit b-16 is
    read, and a length escape byte goes after the words reserved so far. A new table starts once
    65536 bytes have been decoded since the previous one began (a match may run past that)."""

    def __init__(self) -> None:
        self.out = bytearray()
        self.decoded = bytearray()
        self._start_table()

    def _start_table(self) -> None:
        self.out += b"\x99" * 256
        self.slots: list[int] = []
        self.words: list[int] = []  # the complete 16-bit words written so far
        self.pending = 0  # and the bits of the next one, `bits % 16` of them
        self.bits = 0
        self.table_end = len(self.decoded) + 65536
        self._reserve()

    def _reserve(self) -> None:
        needed = max(2, 1 + -(-self.bits // 16))
        while len(self.slots) < needed:
            self.slots.append(len(self.out))
            self.out += b"\0\0"

    def _put(self, value: int, nbits: int) -> None:
        pending = self.pending << nbits | value
        left = self.bits % 16 + nbits
        while left >= 16:
            left -= 16
            self.words.append(pending >> left & 0xFFFF)
        self.pending = pending & ((1 << left) - 1)
        self.bits += nbits
        self._reserve()

    def _flush(self) -> None:
        words = [*self.words, self.pending << (16 - self.bits % 16) & 0xFFFF] if self.bits % 16 else self.words
        for slot, value in zip(self.slots, words + [0] * len(self.slots), strict=False):
            self.out[slot : slot + 2] = value.to_bytes(2, "little")

    def _next_table_if_due(self) -> None:
        if len(self.decoded) >= self.table_end:
            self._flush()
            self._start_table()

    def literal(self, value: int) -> None:
        self._next_table_if_due()
        self._put(value, 9)
        self.decoded.append(value)

    def match(self, length: int, offset: int, *, wide: bool = False, escaped: int | None = None) -> None:
        """``wide``: spell the length with the 32-bit escape; ``escaped``: write this raw 16-bit
        escape value instead of the right one (to make invalid streams)."""
        self._next_table_if_due()
        extra = length - 3
        nbits = offset.bit_length() - 1
        self._put(256 + (15 if escaped is not None else min(extra, 15)) | nbits << 4, 9)
        if extra >= 15 or escaped is not None:
            if extra - 15 < 255 and not wide and escaped is None:
                self.out.append(extra - 15)
            else:
                self.out.append(255)
                if escaped is not None:
                    self.out += escaped.to_bytes(2, "little")
                elif extra < 65536 and not wide:
                    self.out += extra.to_bytes(2, "little")
                else:
                    self.out += b"\0\0" + extra.to_bytes(4, "little")
        if nbits:
            self._put(offset - (1 << nbits), nbits)
        for _ in range(length):
            self.decoded.append(self.decoded[-offset] if offset <= len(self.decoded) else 0)

    def finish(self, *, eof: bool = True) -> tuple[bytes, bytes]:
        """(stream, what it decodes to); ``eof`` writes the end-of-data symbol 256 as Windows does
        (with the last table, even when the output ends exactly at a table boundary)."""
        if eof:
            self._put(256, 9)
        self._flush()
        return bytes(self.out), bytes(self.decoded)


# ------------------------------------------------------------------------ MS-XCA 3.2 example


def ms_xca_example_1() -> bytes:
    """MS-XCA 3.2 example 1: "abcdefghijklmnopqrstuvwxyz" as 26 literals (reference §3.6)."""
    stream = bytearray(276)
    stream[48:62] = bytes.fromhex("50 55 55 55 55 55 55 55 55 55 55 45 44 04")
    stream[128] = 0x04  # the EOF symbol 256 has a 4-bit code
    stream[256:276] = bytes.fromhex("d8 52 3e d7 94 11 5b e9 19 5f f9 d6 7c df 8d 04 00 00 00 00")
    return bytes(stream)


def test_ms_xca_example_1_decodes_to_the_alphabet() -> None:
    stream = ms_xca_example_1()
    assert len(stream) == 276
    assert lz77_huffman_decompress(stream, 26) == b"abcdefghijklmnopqrstuvwxyz"
    framed = struct.pack("<HH", 25, 275) + stream
    assert decode_stream(framed, LIMIT) == b"abcdefghijklmnopqrstuvwxyz"


def test_ms_xca_example_1_stops_at_the_output_size() -> None:
    # the EOF symbol follows the 26 literals: driven by the size, it is never read as a match
    assert lz77_huffman_decompress(ms_xca_example_1(), 20) == b"abcdefghijklmnopqrst"
    with pytest.raises(XpressError):  # past the EOF symbol the stream is zeros, then nothing
        lz77_huffman_decompress(ms_xca_example_1(), 200)


@needs_pyfwnt
def test_ms_xca_example_1_agrees_with_pyfwnt() -> None:
    assert pyfwnt_decompress(ms_xca_example_1(), 26) == b"abcdefghijklmnopqrstuvwxyz"


# ----------------------------------------------------------------------------- stored blocks


def test_encode_stored_frames_blocks_of_at_most_64k() -> None:
    assert encode_stored(b"") == b""
    assert encode_stored(b"x") == b"\x00\x00\x00\x00x"
    one = encode_stored(bytes(65536))
    assert one[:4] == b"\xff\xff\xff\xff" and len(one) == 65540
    two = encode_stored(b"a" * 65536 + b"b")
    assert two[:4] == b"\xff\xff\xff\xff" and two[65540:65544] == b"\x00\x00\x00\x00" and two[-1:] == b"b"
    assert len(two) == 65536 + 1 + 8
    assert HEADER_SIZE == 4 and MAX_BLOCK == 65536


@pytest.mark.parametrize("n", [0, 1, 61, 65535, 65536, 65537, 131072, 131073, 200000])
def test_framed_size_is_what_encode_stored_makes(n: int) -> None:
    assert framed_size(n) == len(encode_stored(bytes(n)))


@pytest.mark.parametrize("n", [1, 61, 266, 65535, 65536, 65537, 140000])
def test_stored_blocks_decode_as_is(n: int) -> None:
    data = random.Random(n).randbytes(n)
    framed = encode_stored(data)
    assert len(list(blocks(framed))) == -(-n // 65536)
    assert decode_stream(framed, LIMIT) == data


def test_end_of_pipeline_input_is_one_stored_block() -> None:
    # the 61-byte message Windows sends as a stored block with the header 3C 00 3C 00 (reference §3.4)
    message = bytes(range(61))
    assert encode_stored(message)[:4] == bytes.fromhex("3c003c00")
    assert decode_stream(bytes.fromhex("3c003c00") + message, LIMIT) == message


@given(st.binary(max_size=70000))
@settings(max_examples=40, deadline=None)
def test_stored_round_trip(data: bytes) -> None:
    assert decode_stream(encode_stored(data), LIMIT) == data


def test_decode_accepts_bytearray_and_memoryview() -> None:
    framed = encode_stored(b"hello")
    assert decode_stream(bytearray(framed), LIMIT) == b"hello"
    assert decode_stream(memoryview(framed), LIMIT) == b"hello"
    assert decode_stream(b"", LIMIT) == b""


# ---------------------------------------------------------------------- framing malformations


@pytest.mark.parametrize("tail", [b"\x00", b"\x00\x00", b"\x00\x00\x00"])
def test_truncated_header(tail: bytes) -> None:
    with pytest.raises(XpressError, match="block 0 at offset 0: the 4-byte block header is cut short"):
        decode_stream(tail, LIMIT)
    with pytest.raises(XpressError, match=f"block 1 at offset 6: .* cut short \\({len(tail)} bytes left\\)"):
        decode_stream(encode_stored(b"ab") + tail, LIMIT)


def test_compressed_size_larger_than_what_remains() -> None:
    with pytest.raises(XpressError, match="block 0 at offset 0: the block claims 100 bytes of data but 10 remain"):
        decode_stream(struct.pack("<HH", 99, 99) + bytes(10), LIMIT)
    with pytest.raises(XpressError, match="block 1 at offset 5: the block claims 300 bytes"):
        decode_stream(encode_stored(b"z") + struct.pack("<HH", 999, 299) + bytes(299), LIMIT)


@pytest.mark.parametrize(
    ("original", "body"),
    [
        (1000, b"\x12" * 10),  # shorter than a Huffman table
        (1000, bytes(300)),  # an all-zero table: no code at all
        (1000, b"\x11" * 256 + bytes(40)),  # every symbol 1 bit long: over-subscribed
        (1000, b"\x01" + bytes(255) + bytes(40)),  # a single 1-bit code: incomplete
        (10, random.Random(3).randbytes(300)),  # garbage, bigger than the output
        (65536, random.Random(4).randbytes(5000)),
    ],
)
def test_compressed_block_with_garbage_raises_xpress_error(original: int, body: bytes) -> None:
    framed = encode_stored(b"ok") + struct.pack("<HH", original - 1, len(body) - 1) + body
    with pytest.raises(XpressError, match=r"^block 1 at offset 6: "):
        decode_stream(framed, LIMIT)


def test_table_errors_name_the_problem() -> None:
    with pytest.raises(XpressError, match="empty code"):
        lz77_huffman_decompress(bytes(300), 5)
    with pytest.raises(XpressError, match="over-subscribed code"):
        lz77_huffman_decompress(b"\x11" * 256 + bytes(40), 5)
    with pytest.raises(XpressError, match="incomplete code"):
        lz77_huffman_decompress(b"\x01" + bytes(255) + bytes(40), 5)
    with pytest.raises(XpressError, match="inside the Huffman table"):
        lz77_huffman_decompress(b"\x99" * 255, 5)


def test_match_offset_beyond_the_output() -> None:
    w = FixedCodeWriter()
    for value in b"abcdefghijkl":
        w.literal(value)
    w.match(4, 13)  # one further back than the 12 bytes decoded
    stream, decoded = w.finish()
    with pytest.raises(XpressError, match="match offset 13 is beyond the 12 bytes decoded"):
        lz77_huffman_decompress(stream, len(decoded))
    framed = encode_stored(b"x") + struct.pack("<HH", len(decoded) - 1, len(stream) - 1) + stream
    with pytest.raises(XpressError, match=r"^block 1 at offset 5: match offset 13 is beyond the 12 bytes decoded$"):
        decode_stream(framed, LIMIT)


def test_match_running_past_the_original_size() -> None:
    w = FixedCodeWriter()
    w.literal(1)
    w.match(100, 1)
    stream, decoded = w.finish()
    assert lz77_huffman_decompress(stream, 101) == decoded
    with pytest.raises(XpressError, match="a match of 100 bytes at output 1 runs past the 50 bytes expected"):
        lz77_huffman_decompress(stream, 50)


def test_input_overrun() -> None:
    w = FixedCodeWriter()
    for value in range(40):
        w.literal(value)
    stream, decoded = w.finish(eof=False)
    assert lz77_huffman_decompress(stream, 40) == decoded
    # 360 bits fill 22.5 words; the decoder also loads a 24th, which may be missing
    assert len(stream) == 256 + 48
    assert lz77_huffman_decompress(stream[:-2], 40) == decoded
    for cut in (3, 4, 20, 40, len(stream) - 256):
        with pytest.raises(XpressError, match="runs past the end of the input"):
            lz77_huffman_decompress(stream[:-cut], 40)
    with pytest.raises(XpressError, match="runs past the end of the input"):
        lz77_huffman_decompress(stream, 5000)  # far past the zero padding


def test_escape_bytes_past_the_input() -> None:
    w = FixedCodeWriter()
    w.literal(7)
    w.match(5000, 1)
    stream, decoded = w.finish(eof=False)
    assert lz77_huffman_decompress(stream, len(decoded)) == decoded
    # 18 bits read: the decoder holds three words, and the escape (255, then a 16-bit length) follows them
    assert stream[262:265] == b"\xff" + (5000 - 3).to_bytes(2, "little")
    for cut, what in ((262, "length byte"), (263, "16-bit match length"), (264, "16-bit match length")):
        with pytest.raises(XpressError, match=what):
            lz77_huffman_decompress(stream[:cut], len(decoded))


# --------------------------------------------------------- the fixed-code writer vs pyfwnt


def _length_escapes(w: FixedCodeWriter) -> None:
    for value in b"hello, world":
        w.literal(value)
    w.match(18, 7)  # the first length that needs an escape byte (0)
    w.match(272, 5)  # escape byte 254
    w.match(273, 12)  # escape 255, then a 16-bit length
    w.match(65535, 3)  # the largest 16-bit length


def _wide_lengths(w: FixedCodeWriter) -> None:
    w.literal(0)
    w.match(1000, 1, wide=True)  # the 32-bit escape (newer MS-XCA) for a length that fits 16 bits
    w.match(70000, 1000, wide=True)  # and for one that does not, across the first 64 KiB


def _three_tables(w: FixedCodeWriter) -> None:
    r = random.Random(7)
    while len(w.decoded) < 140000:
        if len(w.decoded) > 8 and r.random() < 0.3:
            w.match(r.randint(3, 600), r.randint(1, min(len(w.decoded), 65535)))
        else:
            w.literal(r.randrange(256))


def _match_across_a_table_boundary(w: FixedCodeWriter) -> None:
    for i in range(65530):
        w.literal(i * 31 & 255)
    w.match(100, 1000)  # ends 94 bytes into the second 64 KiB: the next table starts after it
    for i in range(70000):
        w.literal(i * 7 & 255)


def _exactly_64k(w: FixedCodeWriter) -> None:
    for i in range(65536):
        w.literal(i * 13 & 255)


def _64k_plus_one(w: FixedCodeWriter) -> None:
    _exactly_64k(w)
    w.literal(1)  # a second table for one byte


WRITER_CASES = {
    "length escapes": _length_escapes,
    "32-bit lengths": _wide_lengths,
    "three tables": _three_tables,
    "match across a table boundary": _match_across_a_table_boundary,
    "exactly 64k": _exactly_64k,
    "64k plus one": _64k_plus_one,
}


@needs_pyfwnt
@pytest.mark.parametrize("name", list(WRITER_CASES))
@pytest.mark.parametrize("eof", [True, False])
def test_hand_built_streams_agree_with_pyfwnt(name: str, eof: bool) -> None:
    w = FixedCodeWriter()
    WRITER_CASES[name](w)
    stream, decoded = w.finish(eof=eof)
    assert pyfwnt_decompress(stream, len(decoded)) == decoded  # the writer is right ...
    assert lz77_huffman_decompress(stream, len(decoded)) == decoded  # ... and so is the decoder


def test_escaped_length_under_15_is_invalid() -> None:
    w = FixedCodeWriter()
    w.literal(1)
    w.match(17, 1, escaped=14)  # MS-XCA: a 16-bit length under 15 is not valid
    stream, _ = w.finish()
    with pytest.raises(XpressError, match="invalid escaped match length 14"):
        lz77_huffman_decompress(stream, 18)


def test_a_block_of_64k_from_a_tiny_stream_is_fine_within_the_limit() -> None:
    w = FixedCodeWriter()
    w.literal(ord("a"))
    w.match(65535, 1)
    stream, decoded = w.finish()
    assert len(stream) < 300 and decoded == b"a" * 65536
    framed = compressed_block(decoded, stream)
    assert decode_stream(framed, 65536) == decoded
    with pytest.raises(XpressError, match="over the limit of 65535"):
        decode_stream(framed, 65535)


# ------------------------------------------------------------------- wimlib round trips


@needs_wimlib
def test_wimlib_compresses_what_windows_compresses() -> None:
    # the test oracle itself: smaller output for compressible data, None when it cannot shrink
    packed = xpress_huffman_compress(bytes(65536))
    assert packed is not None and len(packed) < 300
    assert xpress_huffman_compress(random.Random(1).randbytes(1000)) is None
    assert lz77_huffman_decompress(packed, 65536) == bytes(65536)


@needs_wimlib
@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("kind", KINDS)
def test_windows_framing_round_trip(kind: str, size: int) -> None:
    data = make_data(kind, size, seed=size)
    framed = frame_like_windows(data)
    compressed = [(n, body) for n, body in blocks(framed) if n != len(body)]
    if kind in ("clixml", "runs") and size >= 4096:
        assert compressed, "the test should exercise the decoder"
    assert decode_stream(framed, LIMIT) == data
    if pyfwnt_available():
        for n, body in compressed:
            assert pyfwnt_decompress(body, n) == lz77_huffman_decompress(body, n)


@needs_wimlib
@given(kind=st.sampled_from(KINDS), size=st.sampled_from(SIZES), seed=st.integers(0, 2**32 - 1))
@settings(max_examples=60, deadline=None)
def test_windows_framing_round_trip_hypothesis(kind: str, size: int, seed: int) -> None:
    data = make_data(kind, size, seed)
    framed = frame_like_windows(data)
    assert decode_stream(framed, LIMIT) == data
    if pyfwnt_available():
        for n, body in blocks(framed):
            if n != len(body):
                assert pyfwnt_decompress(body, n) == lz77_huffman_decompress(body, n)


@needs_wimlib
@given(
    st.binary(min_size=1, max_size=4000) | st.text(alphabet='<>/=" abcdeSNObjRef0123', max_size=4000).map(str.encode)
)
@settings(max_examples=80, deadline=None)
def test_small_inputs_round_trip(data: bytes) -> None:
    if not data:
        data = b"-"
    framed = frame_like_windows(data)
    assert decode_stream(framed, LIMIT) == data
    packed = xpress_huffman_compress(data) if len(data) >= 2 else None
    if packed is not None:  # also below Windows' 300-byte threshold: the decoder does not care
        assert lz77_huffman_decompress(packed, len(data)) == data
        if pyfwnt_available():
            assert pyfwnt_decompress(packed, len(data)) == data


# -------------------------------------------------------------------------- robustness


def _decodes_or_raises(data: bytes, limit: int = 1 << 20) -> None:
    started = time.perf_counter()
    try:
        out = decode_stream(data, limit)
    except XpressError:
        pass
    else:
        assert len(out) <= limit
        assert len(out) == sum(n for n, _ in blocks(data))
    assert time.perf_counter() - started < 2


@given(st.binary(max_size=3000))
@settings(max_examples=300, deadline=None)
def test_garbage_only_raises_xpress_error(data: bytes) -> None:
    _decodes_or_raises(data)


@given(original=st.integers(1, 65536), body=st.binary(min_size=1, max_size=2000))
@settings(max_examples=200, deadline=None)
def test_garbage_compressed_block_only_raises_xpress_error(original: int, body: bytes) -> None:
    _decodes_or_raises(struct.pack("<HH", original - 1, len(body) - 1) + body)


@given(bits=st.binary(min_size=0, max_size=600), original=st.integers(1, 65536))
@settings(max_examples=200, deadline=None)
def test_valid_table_with_garbage_bits_only_raises_xpress_error(bits: bytes, original: int) -> None:
    body = b"\x99" * 256 + bits  # a complete code, so the garbage reaches the decoding loop
    if len(body) == original:
        body += b"\0"
    _decodes_or_raises(struct.pack("<HH", original - 1, len(body) - 1) + body, limit=65536)


def _mutation_bases() -> list[tuple[int, bytes]]:
    if not wimlib_available():
        return []
    bases = []
    for kind, size in (("clixml", 4096), ("clixml", 65536), ("mixture", 20000), ("runs", 3000)):
        data = make_data(kind, size, seed=11)
        packed = xpress_huffman_compress(data)
        assert packed is not None
        bases.append((len(data), packed))
    return bases


MUTATION_BASES = _mutation_bases()


@needs_wimlib
@given(st.data())
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_mutated_real_blocks_only_raise_xpress_error(data: st.DataObject) -> None:
    original, packed = data.draw(st.sampled_from(MUTATION_BASES))
    body = bytearray(packed)
    for _ in range(data.draw(st.integers(1, 8))):
        body[data.draw(st.integers(0, len(body) - 1))] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, 40))
    if cut:
        body = body[:-cut]
    claimed = data.draw(st.sampled_from([original, original - 1, 65536, 1]))
    if claimed == len(body) or not body:
        return
    _decodes_or_raises(struct.pack("<HH", claimed - 1, len(body) - 1) + bytes(body))


def test_decompression_bomb_hits_the_limit_before_producing_more() -> None:
    w = FixedCodeWriter()
    w.literal(0)
    w.match(65535, 1)
    stream, _ = w.finish()
    block = compressed_block(bytes(65536), stream)
    bomb = block * (1024 * 1024 // len(block))  # a 1 MiB Send claiming ~270 MB
    assert len(bomb) <= 1024 * 1024 and sum(n for n, _ in blocks(bomb)) > 250_000_000
    limit = 4 * 1024 * 1024
    tracemalloc.start()
    try:
        started = time.perf_counter()
        with pytest.raises(XpressError, match=r"^block 64 at offset \d+: .* over the limit of 4194304$"):
            decode_stream(bomb, limit)
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # the blocks decoded so far, plus one block in the making, its match copies and the decoder's
    # fixed working set (the 2**15-entry decoding table is ~256 KiB): nothing that grows with the claims
    assert peak < limit + 512 * 1024
    assert elapsed < 5
    assert len(decode_stream(bomb[: 64 * len(block)], limit)) == limit  # exactly at the limit is fine


def test_limit_counts_stored_blocks_too() -> None:
    framed = encode_stored(bytes(100)) + encode_stored(bytes(50))
    assert len(decode_stream(framed, 150)) == 150
    with pytest.raises(XpressError, match=r"^block 1 at offset 104: .* to 150 bytes, over the limit of 149$"):
        decode_stream(framed, 149)
