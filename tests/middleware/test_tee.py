"""The bounded body copy every driver keeps while a response streams out."""

from __future__ import annotations

from routecache.middleware.tee import BodyTee


def test_keeps_a_complete_body_within_the_limit() -> None:
    tee = BodyTee(True, 10)
    for chunk in (b"abc", b"", bytearray(b"def")):
        tee.add(chunk)
    assert tee.body(complete=True) == b"abcdef"
    assert tee.body(complete=False) is None  # an incomplete body is never stored


def test_past_the_limit_it_drops_what_it_held() -> None:
    tee = BodyTee(True, 5)
    tee.add(b"abc")
    tee.add(b"def")
    assert not tee.keep
    assert tee.chunks == []
    tee.add(b"g")  # nothing more is kept
    assert tee.body(complete=True) is None


def test_stop_and_not_keeping() -> None:
    tee = BodyTee(True, 100)
    tee.add(b"abc")
    tee.stop()
    assert tee.body(complete=True) is None
    idle = BodyTee(False, 100)
    idle.add(b"abc")
    assert idle.chunks == []
    assert idle.body(complete=True) is None
