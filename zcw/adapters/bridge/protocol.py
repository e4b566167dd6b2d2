"""Host side of the bridge protocol (firmware_bridge/PROTOCOL.md): pure framing, no I/O.

Raw frames, one readable line each::

    $7,SET,1,1,5000*8F1C        host → bridge: valve 1 ON for at most 5 s
    $7,ACK,7*....               bridge → host
    $31,T,28d4c2e1a0b1005e,612,ok*....   a reading: 612/16 = 38.25 °C
    $32,T,28d4c2e1a0b1005e,-,crc*....    a failed read
    $40,BTN,0,S*....            button 0, short press

The CRC is CRC-16/CCITT-FALSE over the text between ``$`` and ``*``. This module is written
again (typed) rather than imported from the firmware, because the two run on different
runtimes; ``firmware_bridge/vectors.json`` keeps them in agreement.
"""

from __future__ import annotations

from dataclasses import dataclass

PROTOCOL_VERSION = 2
MAX_FRAME = 160
_HEX_UPPER = frozenset(b"0123456789ABCDEF")
_FIELD_OK = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.?")


def crc16(data: bytes, crc: int = 0xFFFF) -> int:
    """CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF); check value 0x29B1 for b"123456789"."""
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
    return crc


@dataclass(frozen=True, slots=True)
class Frame:
    """One decoded frame."""

    seq: int
    kind: str
    fields: tuple[str, ...]


def encode(seq: int, kind: str, fields: tuple[str | int, ...] = ()) -> bytes:
    if not 0 <= seq <= 0xFFFF:
        raise ValueError(f"seq {seq} out of range 0…65535")
    parts = [str(seq), kind, *(str(f) for f in fields)]
    for p in parts[1:]:
        if not p or not set(p) <= _FIELD_OK:
            raise ValueError(f"field {p!r} has characters the protocol does not allow")
    body = ",".join(parts).encode()
    return b"$" + body + b"*" + f"{crc16(body):04X}".encode() + b"\n"


def decode_line(line: bytes) -> Frame | None:
    """Decode one line without its newline; None if it is not a whole, valid frame."""
    if len(line) < 8 or not line.startswith(b"$"):
        return None
    star = line.rfind(b"*")
    if star < 0 or len(line) - star != 5:
        return None
    body = line[1:star]
    hexdigits = line[star + 1 :]
    if not set(hexdigits) <= _HEX_UPPER:
        return None  # upper-case only: 'f' and 'F' must not both pass one CRC
    crc = int(hexdigits.decode("ascii"), 16)
    try:
        text = body.decode("ascii")
    except UnicodeDecodeError:
        return None
    if crc16(body) != crc:
        return None
    parts = text.split(",")
    if len(parts) < 2 or not parts[0].isdigit() or not parts[1]:
        return None
    seq = int(parts[0])
    if seq > 0xFFFF or not all(p and set(p) <= _FIELD_OK for p in parts[1:]):
        return None
    return Frame(seq, parts[1], tuple(parts[2:]))


class Decoder:
    """Feed bytes, get frames. Garbage and partial frames are counted and dropped."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self.dropped = 0

    def feed(self, data: bytes) -> list[Frame]:
        out: list[Frame] = []
        for b in data:
            if b == 0x24:  # '$': a frame starts; whatever was pending is garbage
                if self._buf:
                    self.dropped += 1
                self._buf = bytearray(b"$")
            elif b == 0x0A:
                if self._buf:
                    frame = decode_line(bytes(self._buf).rstrip(b"\r"))
                    if frame is None:
                        self.dropped += 1
                    else:
                        out.append(frame)
                self._buf = bytearray()
            elif self._buf:
                if len(self._buf) >= MAX_FRAME:
                    self.dropped += 1
                    self._buf = bytearray()
                else:
                    self._buf.append(b)
        return out
