"""The entry codec: round trips, and a clean miss (None) for anything else."""

from __future__ import annotations

import json
import math
import pickle
import struct
import zlib

import pytest
import xxhash
from hypothesis import given, settings
from hypothesis import strategies as st

from routecache.middleware import entry as entry_module
from routecache.middleware.config import CacheConfig
from routecache.middleware.entry import _FRAMING as _FRAMING
from routecache.middleware.entry import (
    FLAG_MUST_REVALIDATE,
    FLAG_NO_CACHE,
    FLAG_SHARED_AUTH,
    Codec,
    Entry,
    decode_entry,
    encode_entry,
)
from routecache.middleware.errors import ConfigurationError

_HEAD = struct.Struct(">3sBHBBdddddHBH")
_CODEC_BYTE = 7  # offset of the codec u8 in the header
_SUM = 8  # the XXH3-64 checksum that ends every entry


def reseal(data: bytes | bytearray) -> bytes:
    """``data`` (an entry whose bytes were changed) with a checksum that matches again,
    so that the structural checks behind the checksum are what gets tested."""
    head = bytes(data[:-_SUM])
    return head + struct.pack(">Q", xxhash.xxh3_64_intdigest(head))


def make(**overrides: object) -> Entry:
    fields: dict[str, object] = {
        "status": 200,
        "headers": [(b"content-type", b"text/plain"), (b"x-a", b"1")],
        "body": b"hello",
        "stored_at": 1_700_000_000.25,
        "fresh_for": 60.0,
        "initial_age": 1.5,
        "swr": 10.0,
        "sie": 20.0,
        "flags": FLAG_NO_CACHE | FLAG_SHARED_AUTH,
        "etag": b'"abc"',
        "vary": [("accept-encoding", "gzip"), ("x-absent", None), ("x-empty", "")],
        "tags": ["item:7", "items", "caf\u00e9"],
    }
    fields.update(overrides)
    return Entry(**fields)  # type: ignore[arg-type]


def same(a: Entry, b: Entry | None) -> None:
    assert b is not None
    for attr in Entry.__slots__:
        assert getattr(a, attr) == getattr(b, attr), attr


# -- round trips -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"vary": [], "tags": [], "etag": None},
        {"etag": None},
        {"etag": b'W/"weak"'},
        {"body": b""},
        {"headers": []},
        {"status": 404, "flags": FLAG_MUST_REVALIDATE},
        {"status": 599},
        {"status": 100},
        {"headers": [(b"x-bin", bytes(range(0x21, 0x7F)) + b" \t" + bytes(range(0x80, 256)))]},
        {"headers": [(b"x-empty", b""), (b"!#$%&'*+-.^_`|~09az", b"v")]},
        {"body": bytes(range(256)) * 4},
        {"tags": ["\udcff-surrogate-escaped"]},
        {"fresh_for": 0.0, "initial_age": 0.0, "swr": 0.0, "sie": 0.0},
        {"vary": [("accept-language", "\u00e9")]},
    ],
)
def test_round_trip(overrides: dict[str, object]) -> None:
    original = make(**overrides)
    same(original, decode_entry(encode_entry(original)))


@pytest.mark.parametrize("compression", ["zlib", "zstd"])
def test_round_trip_compressed(compression: str) -> None:
    body = b"routecache " * 5000
    original = make(body=body)
    data = Codec(compression, compress_min_size=1024).encode(original)
    assert data[_CODEC_BYTE] == {"zlib": 1, "zstd": 2}[compression]
    assert len(data) < len(body) // 4
    same(original, decode_entry(data))
    same(original, decode_entry(memoryview(data)))
    same(original, decode_entry(bytearray(data)))


def test_small_or_incompressible_bodies_stay_raw() -> None:
    codec = Codec("zlib", compress_min_size=1024)
    assert codec.encode(make(body=b"a" * 1023))[_CODEC_BYTE] == 0
    noise = bytes((i * 7919 + 13) % 251 for i in range(50_000))
    noise = zlib.compress(noise, 9)  # already compressed: no further gain
    data = codec.encode(make(body=noise))
    assert data[_CODEC_BYTE] == 0
    same(make(body=noise), decode_entry(data))
    assert Codec(None, compress_min_size=0).encode(make(body=b"a" * 100_000))[_CODEC_BYTE] == 0


def test_large_body_round_trips_with_default_codec() -> None:
    body = bytes(range(256)) * 8192  # 2 MiB, compressible
    original = make(body=body)
    data = encode_entry(original)
    assert data[_CODEC_BYTE] != 0
    same(original, decode_entry(data))


def test_auto_uses_zstd_when_installed() -> None:
    data = Codec("auto", compress_min_size=10).encode(make(body=b"x" * 1000))
    assert data[_CODEC_BYTE] == 2


def test_entry_helpers() -> None:
    e = make(stored_at=1000.0, initial_age=5.0, fresh_for=60.0)
    assert e.age(1010.0) == 15.0
    assert e.age(990.0) == 5.0  # clock going backwards never makes it younger
    assert e.ttl(1010.0) == 45.0
    assert e.header(b"x-a") == b"1"
    assert e.header(b"missing") is None
    assert "200" in repr(e)


# -- anything else decodes to None ------------------------------------------------------------


@pytest.mark.parametrize(
    "overrides",
    [{}, {"body": b"z" * 40_000}, {"vary": [], "tags": [], "etag": None, "headers": []}],
)
def test_every_truncation_decodes_to_none(overrides: dict[str, object]) -> None:
    data = encode_entry(make(**overrides))
    assert decode_entry(data) is not None
    for n in range(len(data)):
        assert decode_entry(data[:n]) is None, n


def test_trailing_bytes_decode_to_none() -> None:
    data = encode_entry(make())
    assert decode_entry(data + b"\x00") is None


@pytest.mark.parametrize(
    "data",
    [
        None,
        b"",
        b"RCE",
        b"\x00" * 200,
        pickle.dumps({"status": 200, "body": b"x"}),
        json.dumps({"status": 200}).encode(),
        b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
    ],
)
def test_foreign_data_decodes_to_none(data: bytes | None) -> None:
    assert decode_entry(data) is None


def _patched_head(data: bytes, **changes: object) -> bytes:
    names = [
        "magic", "version", "status", "flags", "codec", "stored_at", "initial_age",
        "fresh_for", "swr", "sie", "n_headers", "n_vary", "n_tags",
    ]  # fmt: skip
    values = dict(zip(names, _HEAD.unpack_from(data, 0), strict=True))
    values.update(changes)
    return reseal(_HEAD.pack(*(values[n] for n in names)) + data[_HEAD.size :])


@pytest.mark.parametrize(
    "changes",
    [
        {"magic": b"XYZ"},
        {"magic": b"rce"},
        {"version": 0},
        {"version": 1},  # the format before checksums: a miss, then overwritten
        {"version": 3},
        {"version": 255},
        {"codec": 3},
        {"codec": 1},  # claims zlib but the body is raw
        {"status": 99},
        {"status": 600},
        {"stored_at": math.nan},
        {"fresh_for": math.nan},
        {"initial_age": math.inf},
        {"swr": -math.inf},
        {"sie": math.nan},
        {"n_headers": 3},
        {"n_headers": 1},
        {"n_vary": 4},
        {"n_vary": 2},
        {"n_tags": 4},
        {"n_tags": 0},
    ],
)
def test_corrupt_header_decodes_to_none(changes: dict[str, object]) -> None:
    data = encode_entry(make())
    assert decode_entry(_patched_head(data, **changes)) is None


def test_flipped_length_fields_decode_to_none() -> None:
    original = make(vary=[], tags=[], etag=b'"e"', headers=[(b"ab", b"cd")], body=b"body")
    data = encode_entry(original)
    pos = _HEAD.size
    etag_len = pos
    header_block_len = etag_len + 2 + 3  # the block is b"ab\x00cd"
    raw_len = header_block_len + 4 + 5
    stored_len = raw_len + 4
    assert data[stored_len + 4 : -_SUM] == b"body"

    def put(offset: int, fmt: str, value: int) -> bytes:
        out = bytearray(data)
        struct.pack_into(fmt, out, offset, value)
        return reseal(out)

    for offset, fmt, good in [
        (etag_len, ">H", 3),
        (header_block_len, ">I", 5),
        (raw_len, ">I", 4),
        (stored_len, ">I", 4),
    ]:
        assert struct.unpack_from(fmt, data, offset)[0] == good
        for bad in (0, good - 1, good + 1, 0xFFFF, 0xFFFFFFFF if fmt == ">I" else 0xFFFE):
            if bad == good or bad < 0:
                continue
            assert decode_entry(put(offset, fmt, bad)) is None, (offset, bad)


def _body_lengths_offset(data: bytes, raw_len: int) -> int:
    """Offset of the ``raw length | stored length`` pair in front of the body."""
    for off in range(len(data) - 8 - _SUM, _HEAD.size - 1, -1):
        raw, stored = struct.unpack_from(">II", data, off)
        if raw == raw_len and off + 8 + stored + _SUM == len(data):
            return off
    raise AssertionError("no body lengths found")


def test_corrupt_zlib_body_decodes_to_none() -> None:
    data = Codec("zlib", compress_min_size=10).encode(make(body=b"q" * 5000))
    assert data[_CODEC_BYTE] == 1
    body_at = _body_lengths_offset(data, 5000) + 8
    for i in range(body_at, len(data) - _SUM):
        flipped = bytearray(data)
        flipped[i] ^= 0xFF
        assert decode_entry(reseal(flipped)) is None, i  # adler-32 catches every flip


@pytest.mark.parametrize("compression", ["zlib", "zstd"])
def test_decompressed_length_must_match_the_recorded_length(compression: str) -> None:
    data = bytearray(Codec(compression, compress_min_size=10).encode(make(body=b"q" * 5000)))
    lengths = _body_lengths_offset(bytes(data), 5000)
    for wrong in (4999, 5001, 0):
        patched = bytearray(data)
        struct.pack_into(">I", patched, lengths, wrong)
        assert decode_entry(reseal(patched)) is None, wrong
    # Garbage where the compressed body should be.
    body_at = lengths + 8
    garbage = bytes(data[:body_at]) + b"\x00" * (len(data) - body_at)
    assert decode_entry(reseal(garbage)) is None


def test_zstd_entries_are_a_miss_without_zstandard(monkeypatch: pytest.MonkeyPatch) -> None:
    data = Codec("zstd", compress_min_size=10).encode(make(body=b"z" * 1000))
    monkeypatch.setattr(entry_module, "_zstd", None)
    assert decode_entry(data) is None
    # zlib entries still decode.
    same(make(body=b"z" * 1000), decode_entry(Codec("zlib", 10).encode(make(body=b"z" * 1000))))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes_never_raise(data: bytes) -> None:
    for candidate in (data, b"RCE\x01" + data):
        result = decode_entry(candidate)
        assert result is None or isinstance(result, Entry)


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_random_corruption_of_a_valid_entry_never_raises(data: st.DataObject) -> None:
    encoded = bytearray(encode_entry(make(body=data.draw(st.binary(max_size=64)))))
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(encoded) - 1))
        encoded[i] = data.draw(st.integers(0, 255))
    result = decode_entry(bytes(encoded))
    assert result is None or isinstance(result, Entry)


@settings(max_examples=150, deadline=None)
@given(
    status=st.integers(100, 599),
    headers=st.lists(
        st.tuples(
            st.from_regex(rb"\A[!#$%&'*+\-.^_`|~0-9a-z]{1,20}\Z").filter(
                lambda b: b not in _FRAMING
            ),
            st.from_regex(
                rb"\A(?:[\x21-\x7e\x80-\xff]"
                rb"(?:[ \t\x21-\x7e\x80-\xff]{0,48}[\x21-\x7e\x80-\xff])?)?\Z"
            ),
        ),
        max_size=5,
    ),
    body=st.binary(max_size=2000),
    times=st.lists(st.floats(allow_nan=False, allow_infinity=False), min_size=5, max_size=5),
    flags=st.integers(0, 255),
    etag=st.one_of(st.none(), st.binary(max_size=30)),
    vary=st.lists(
        st.tuples(
            st.text(st.characters(max_codepoint=0xFF), max_size=10),
            st.one_of(st.none(), st.text(st.characters(max_codepoint=0xFF), max_size=10)),
        ),
        max_size=4,
    ),
    tags=st.lists(st.text(max_size=10), max_size=4),
    compression=st.sampled_from([None, "zlib", "zstd"]),
)
def test_generated_entries_round_trip(
    status: int,
    headers: list[tuple[bytes, bytes]],
    body: bytes,
    times: list[float],
    flags: int,
    etag: bytes | None,
    vary: list[tuple[str, str | None]],
    tags: list[str],
    compression: str | None,
) -> None:
    original = Entry(
        status=status,
        headers=headers,
        body=body,
        stored_at=times[0],
        fresh_for=times[1],
        initial_age=times[2],
        swr=times[3],
        sie=times[4],
        flags=flags,
        etag=etag,
        vary=vary,
        tags=tags,
    )
    same(original, decode_entry(Codec(compression, compress_min_size=100).encode(original)))


# -- what the format cannot hold, and codec options --------------------------------------------


@pytest.mark.parametrize(
    "overrides",
    [
        {"vary": [(f"x-{i}", "v") for i in range(256)]},
        {"tags": ["t" * 70_000]},
        {"etag": b"e" * 0xFFFF},
        {"vary": [("x", "v" * 0xFFFF)]},
        {"headers": [(b"n", b"v")] * 70_000},
    ],
)
def test_entries_the_layout_cannot_hold_raise_value_error(overrides: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="too large"):
        encode_entry(make(**overrides))


@pytest.mark.parametrize(
    "pair",
    [
        (b"x-a\x00", b"v"),
        (b"x-a", b"v\x00w"),
        (b"x-a", b"v\r\nx-injected: 1"),
        (b"x-a", b"v\nw"),
        (b"x-a", b"v\rw"),
        (b"x-a", b"v\x7fw"),
        (b"x-a", b" v"),
        (b"x-a", b"v\t"),
        (b"x a", b"v"),
        (b"x:a", b"v"),
        (b"", b"v"),
        (b"X-Upper", b"v"),
        (b"content-length", b"5"),
        (b"transfer-encoding", b"chunked"),
        (b"connection", b"close"),
    ],
)
def test_an_invalid_or_framing_header_is_not_storable(pair: tuple[bytes, bytes]) -> None:
    # HTTP forbids CR, LF, NUL and other controls in fields (RFC 9110 §5.5); the framing
    # is always computed by the replay. Decoding refuses the same (see tests/bounded).
    with pytest.raises(ValueError, match="not a valid HTTP field"):
        encode_entry(make(headers=[(b"content-type", b"text/plain"), pair]))


def test_codec_options() -> None:
    with pytest.raises(ValueError, match="compression must be"):
        Codec("lz4")
    with pytest.raises(ConfigurationError, match="compression"):
        CacheConfig(compression="brotli")
    with pytest.raises(ConfigurationError, match="compress_min_size"):
        CacheConfig(compress_min_size=-1)
    assert Codec("zlib", compress_min_size=5).compress_min_size == 5


def test_zstd_needs_zstandard(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(entry_module, "_zstd", None)
    with pytest.raises(ValueError, match="zstandard"):
        Codec("zstd")
    data = Codec("auto", compress_min_size=10).encode(make(body=b"y" * 1000))
    assert data[_CODEC_BYTE] == 1  # auto falls back to zlib


def test_decoded_entries_reuse_a_write_and_notice_a_rewrite() -> None:
    from routecache.middleware.entry import DecodedEntries

    memo = DecodedEntries(max_bytes=4096, max_items=3)
    first = encode_entry(make(body=b"one", stored_at=100.0))
    again = bytes(bytearray(first))  # the same write read again: a new bytes object
    assert memo.decode("k", first) is memo.decode("k", again)
    rewrite = encode_entry(make(body=b"two", stored_at=101.0))
    decoded = memo.decode("k", rewrite)
    assert decoded is not None
    assert decoded.body == b"two"  # a new write is decoded, never served from memory
    other_key = memo.decode("other", first)
    assert other_key is not None
    assert other_key is not memo.decode("k", first)
    assert memo.decode("k", b"garbage") is None


def test_decoded_entries_stay_within_their_bounds() -> None:
    from routecache.middleware.entry import DecodedEntries

    memo = DecodedEntries(max_bytes=4096, max_items=3)
    for i in range(10):
        memo.decode(f"k{i}", encode_entry(make(body=b"x" * 500, stored_at=float(i))))
    assert len(memo._items) <= 3
    assert memo._size <= 4096
    big = encode_entry(make(body=b"y" * 2000, stored_at=50.0))
    assert memo.decode("big", big) is not None  # larger than a quarter: not kept
    assert all(memo_key[0] != "big" for memo_key in memo._items)
