"""Bridge protocol framing, shared by the firmware (MicroPython) and readable by humans.

A frame is one ASCII line::

    $<seq>,<TYPE>[,<field>...]*<CRC>\n

``seq`` is a decimal 0…65535, ``CRC`` is CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no
reflection, no xorout; check value 0x29B1 for "123456789") over the bytes between ``$`` and
``*``, as 4 upper-case hex digits. Anything that is not a whole, valid frame is dropped, and
the decoder resynchronises on the next ``$``. Runs unchanged on CPython and MicroPython.
"""

PROTOCOL_VERSION = 2
MAX_FRAME = 160


def crc16(data, crc=0xFFFF):
    """CRC-16/CCITT-FALSE over ``data`` (bytes)."""
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            if crc & 0x8000:
                crc = ((crc << 1) ^ 0x1021) & 0xFFFF
            else:
                crc = (crc << 1) & 0xFFFF
    return crc


def encode(seq, kind, fields=()):
    """Build one frame (bytes, with the trailing newline)."""
    parts = [str(seq), kind]
    for f in fields:
        parts.append(str(f))
    body = ",".join(parts).encode()
    return b"$" + body + b"*" + ("%04X" % crc16(body)).encode() + b"\n"


def _valid_field(text):
    for ch in text:
        if not (ch.isalpha() or ch.isdigit() or ch in "-_.?"):
            return False
    return True


def decode_line(line):
    """Decode one line (without the newline) into (seq, kind, fields), or None if invalid."""
    if len(line) < 8 or line[0:1] != b"$":
        return None
    star = line.rfind(b"*")
    if star < 0 or len(line) - star != 5:
        return None
    body = line[1:star]
    hexdigits = line[star + 1 :]
    for ch in hexdigits:
        if ch not in b"0123456789ABCDEF":
            return None  # upper-case only: 'f' and 'F' must not both pass one CRC
    crc = int(hexdigits.decode(), 16)
    if crc16(body) != crc:
        return None
    try:
        parts = body.decode().split(",")
    except UnicodeError:
        return None
    if len(parts) < 2 or not parts[0].isdigit() or not parts[1]:
        return None
    seq = int(parts[0])
    if seq > 65535:
        return None
    for p in parts[1:]:
        if not _valid_field(p):
            return None
    return (seq, parts[1], parts[2:])


class Decoder:
    """Feed bytes; get complete, valid frames. Garbage and partial frames are dropped."""

    def __init__(self):
        self._buf = bytearray()
        self.dropped = 0

    def feed(self, data):
        out = []
        for b in data:
            if b == 0x24:  # '$' always starts a new frame: resynchronise here
                if self._buf:
                    self.dropped += 1
                self._buf = bytearray(b"$")
            elif b == 0x0A:  # '\n' ends a frame
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
