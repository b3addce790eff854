"""The fuzz targets, run briefly in the suite, and the codec's properties by hypothesis.

``python -m fuzz TARGET --runs N`` (or ``--seconds S``; ``all`` for every target) is
the command; here each target runs 2,000 inputs from its seed corpus under atheris
(or the random engine where atheris has no wheel). ``ROUTECACHE_FUZZ_SECONDS=60``
makes each run last that long instead.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fuzz.targets import TARGETS, codec, seal
from routecache.middleware.entry import Codec, Entry, decode_entry

ROOT = Path(__file__).resolve().parents[2]


def _fuzz(target: str, tmp_path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    seconds = os.environ.get("ROUTECACHE_FUZZ_SECONDS")
    bound = ["--seconds", seconds] if seconds else ["--runs", "2000"]
    return subprocess.run(
        [sys.executable, "-m", "fuzz", target, *bound, *extra],
        cwd=tmp_path,  # crash artifacts land here
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120 + int(seconds or 0),
        check=False,
    )


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_a_short_fuzz_run_finds_nothing(target: str, tmp_path: Path) -> None:
    result = _fuzz(target, tmp_path)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    assert list(tmp_path.glob("fuzz-crash-*")) == []


def test_the_random_engine_runs_the_same_targets(tmp_path: Path) -> None:
    result = _fuzz("codec", tmp_path, "--engine", "random")
    assert result.returncode == 0, result.stderr[-4000:]
    assert "no failure" in result.stdout


def test_every_seed_passes_its_target() -> None:
    for name, target in TARGETS.items():
        seeds = sorted((ROOT / "fuzz" / "corpus" / name).glob("*"))
        assert seeds, name
        for seed in seeds:
            target(seed.read_bytes())
    # The codec seeds are real entries (their checksum is added by the target).
    for seed in sorted((ROOT / "fuzz" / "corpus" / "codec").glob("*")):
        assert decode_entry(seal(seed.read_bytes())) is not None, seed


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=600))
def test_decoding_any_bytes_is_a_miss_or_an_entry_that_re_encodes_to_them(data: bytes) -> None:
    entry = decode_entry(data)
    if entry is not None:  # only with a matching checksum, which random bytes lack
        assert Codec(None).encode(entry) == data or data[7] != 0
    codec(data)  # the same with the checksum made to match (the parser behind it)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_a_changed_valid_entry_is_a_miss_or_the_very_same_bytes(data: st.DataObject) -> None:
    body = data.draw(st.binary(max_size=64))
    entry = Entry(
        status=200,
        headers=[(b"content-type", b"text/plain"), (b"x-a", b"1")],
        body=body,
        stored_at=1_790_000_000.0,
        fresh_for=60.0,
        tags=["t"],
        vary=[("accept-language", "fr")],
    )
    encoded = bytearray(Codec(None).encode(entry))
    for _ in range(data.draw(st.integers(1, 3))):
        encoded[data.draw(st.integers(0, len(encoded) - 1))] = data.draw(st.integers(0, 255))
    decoded = decode_entry(bytes(encoded))
    assert decoded is None or Codec(None).encode(decoded) == bytes(encoded)
    codec(bytes(encoded[:-8]))
