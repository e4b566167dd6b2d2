"""The host codec passes the shared vectors, and fuzzed input is never mis-parsed."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from zcw.adapters.bridge.protocol import Decoder, Frame, crc16, decode_line, encode

ROOT = Path(__file__).resolve().parents[1]
VECTORS = json.loads((ROOT / "firmware_bridge" / "vectors.json").read_text())
sys.path.insert(0, str(ROOT / "firmware_bridge"))
fw_protocol: Any = importlib.import_module("protocol")  # the firmware's own decoder


def test_host_codec_passes_the_shared_vectors() -> None:
    assert f"0x{crc16(b'123456789'):04X}" == VECTORS["crc"]["check_123456789"] == "0x29B1"
    for v in VECTORS["valid"]:
        line = v["frame"].encode()
        assert decode_line(line[:-1]) == Frame(v["seq"], v["kind"], tuple(v["fields"]))
        assert encode(v["seq"], v["kind"], tuple(v["fields"])) == line
    for bad in VECTORS["invalid"]:
        assert decode_line(bad.encode().rstrip(b"\n")) is None, bad
    stream = VECTORS["stream"]["bytes"].encode("latin-1")
    assert [f.seq for f in Decoder().feed(stream)] == VECTORS["stream"]["frames"]


FRAMES = st.builds(
    lambda seq, kind, fields: encode(seq, kind, tuple(fields)),
    st.integers(0, 65535),
    st.sampled_from(["SET", "HB", "T", "ACK", "BTN", "R"]),
    st.lists(st.text("abcdef0123456789-_.", min_size=1, max_size=16), max_size=4),
)


@settings(max_examples=1000)
@given(
    st.lists(st.tuples(st.binary(max_size=40), FRAMES), min_size=1, max_size=6),
    st.integers(0, 10),
)
def test_garbage_between_frames_resynchronises_both_decoders(
    chunks: list[tuple[bytes, bytes]], split: int
) -> None:
    # Garbage that ends without a newline would swallow the next frame's start; the decoder
    # resyncs on '$', so every frame after garbage must still come through intact.
    stream = b"".join(g.replace(b"$", b"#") + b"\n" + f for g, f in chunks)
    expected = [decode_line(f[:-1]) for _, f in chunks]
    host = Decoder()
    got = host.feed(stream[:split]) + host.feed(stream[split:])
    assert got == expected
    fw = fw_protocol.Decoder()
    fw_got = fw.feed(stream[:split]) + fw.feed(stream[split:])
    assert [Frame(s, k, tuple(f)) for s, k, f in fw_got] == expected


@settings(max_examples=1000)
@given(FRAMES, st.data())
def test_corrupted_and_partial_frames_are_never_misparsed(
    frame: bytes, data: st.DataObject
) -> None:
    body = frame[:-1]
    kind = data.draw(st.sampled_from(["flip", "truncate", "burst"]))
    if kind == "flip":  # any single-bit error: CRC-16 detects all of them
        i = data.draw(st.integers(1, len(body) - 1))
        bit = data.draw(st.integers(0, 7))
        bad = body[:i] + bytes([body[i] ^ (1 << bit)]) + body[i + 1 :]
    elif kind == "burst":  # a burst of ≤ 16 bits: also always detected
        i = data.draw(st.integers(1, len(body) - 2))
        mask = data.draw(st.integers(1, 0xFFFF))
        bad = body[:i] + bytes([body[i] ^ (mask >> 8), body[i + 1] ^ (mask & 0xFF)]) + body[i + 2 :]
    else:
        bad = body[: data.draw(st.integers(0, len(body) - 1))]
    if bad == body:
        return
    good = decode_line(body)
    for decoder_result in (decode_line(bad), fw_protocol.decode_line(bad)):
        assert (
            decoder_result is None
            or decoder_result == good
            or decoder_result
            == (None if good is None else (good.seq, good.kind, list(good.fields)))
        )
    # and the stream carries on: the next valid frame still decodes
    d = Decoder()
    assert d.feed(bad + b"\n" + frame) == [good]
