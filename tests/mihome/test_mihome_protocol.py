"""The miIO protocol: a known-answer vector, two codecs against it and each other, and the
client against the emulated plug (timeouts, no retries, each failure told apart)."""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from typing import Any

import pytest
from construct.core import ChecksumError
from miio.protocol import Message

from zcw.adapters.mihome.miio_client import HELLO, MiioPlug, PlugFailure
from zcw.testing.miio_device import BadPacket, MiioDevice, decode, encode, hello_answer

TOKEN = "00112233445566778899aabbccddeeff"
DEVICE_ID = 0x01234567

# Known-answer vector, derived by hand from the protocol (not by running either codec):
#   token   = 00112233445566778899aabbccddeeff
#   key     = MD5(token)       = 6e8311168ee16d6aa1aa48c64145003c
#   iv      = MD5(key + token) = 6f434fa9acd75da73e5fb999f641cda2
#   plain   = b'{"id": 1, "method": "get_prop", "params": ["power"]}' + b"\0"   (53 bytes)
#             + PKCS#7 to 64 bytes: 11 × 0x0b
#   data    = AES-128-CBC(key, iv, plain)                                        (64 bytes)
#   header  = 2131 | length 0060 (32 + 64) | unknown 00000000 | device id 01234567
#             | stamp 00001235 (the hello's stamp + 1 s, as python-miio sends)
#   check   = MD5(header + token + data) = 342552c99110115b076edb3ee855e19b
# and the plug's answer {"id": 1, "result": ["on"]} the same way, with stamp 00001236.
HELLO_BYTES = bytes.fromhex("21310020" + "ff" * 28)
HELLO_ANSWER = bytes.fromhex("213100200000000001234567" + "00001234" + "ff" * 16)
GET_PROP = bytes.fromhex(
    "21310060000000000123456700001235"
    "342552c99110115b076edb3ee855e19b"
    "2a36b2b7afa85bd6a9f1ed82b485a3d68628cb0ba48901152cb9ce59f42b2925"
    "29bf9211d2778169fd9d357e85849a2e8fef8363055a49d402cdfb63054804d6"
)
GET_PROP_ANSWER = bytes.fromhex(
    "21310040000000000123456700001236"
    "14161949e24c9ad1c6643472018f4bf6"
    "f742c30610b6c0fc383e873874ac6e46f821e0355f32f451416e435f64b0ae7c"
)
REQUEST = {"id": 1, "method": "get_prop", "params": ["power"]}
ANSWER = {"id": 1, "result": ["on"]}


def test_the_vector_is_what_the_comment_says() -> None:
    token = bytes.fromhex(TOKEN)
    key = hashlib.md5(token).digest()
    assert key.hex() == "6e8311168ee16d6aa1aa48c64145003c"
    assert hashlib.md5(key + token).digest().hex() == "6f434fa9acd75da73e5fb999f641cda2"
    assert hashlib.md5(GET_PROP[:16] + token + GET_PROP[32:]).digest() == GET_PROP[16:32]


def test_python_miio_speaks_the_vector() -> None:
    token = bytes.fromhex(TOKEN)
    built = Message.build(
        {
            "data": {"value": REQUEST},
            "header": {
                "value": {
                    "length": 0,
                    "unknown": 0,
                    "device_id": DEVICE_ID.to_bytes(4, "big"),
                    "ts": dt.datetime(1970, 1, 1, 1, 17, 41),  # 0x1235 s
                }
            },
            "checksum": 0,
        },
        token=token,
    )
    assert built == GET_PROP
    assert Message.parse(GET_PROP_ANSWER, token=token).data.value == ANSWER
    hello = Message.parse(HELLO_ANSWER).header.value
    assert bytes(hello.device_id) == DEVICE_ID.to_bytes(4, "big")
    assert HELLO == HELLO_BYTES


def test_the_emulator_speaks_the_vector() -> None:
    token = bytes.fromhex(TOKEN)
    assert encode(token, DEVICE_ID, 0x1235, REQUEST) == GET_PROP
    assert encode(token, DEVICE_ID, 0x1236, ANSWER) == GET_PROP_ANSWER
    assert decode(token, GET_PROP) == (DEVICE_ID, 0x1235, REQUEST)
    assert hello_answer(DEVICE_ID, 0x1234) == HELLO_ANSWER


@pytest.mark.parametrize(
    "message",
    [
        {"id": 7, "method": "get_properties", "params": [{"did": "zcw", "siid": 2, "piid": 1}]},
        {"id": 9998, "result": [{"did": "zcw", "siid": 2, "piid": 1, "code": 0, "value": True}]},
        {"id": 3, "error": {"code": -9999, "message": "user ack timeout"}},
        {"id": 4, "method": "set_power", "params": ["on"], "note": "零冷水" * 10},
    ],
)
def test_the_codecs_agree_both_ways(message: dict[str, Any]) -> None:
    token = bytes.fromhex("fe" * 16)
    ours = encode(token, 42, 99, message)
    assert Message.parse(ours, token=token).data.value == message
    theirs = Message.build(
        {
            "data": {"value": message},
            "header": {
                "value": {
                    "length": 0,
                    "unknown": 0,
                    "device_id": (42).to_bytes(4, "big"),
                    "ts": dt.datetime(1970, 1, 1, 0, 1, 39),
                }
            },
            "checksum": 0,
        },
        token=token,
    )
    assert theirs == ours
    assert decode(token, theirs) == (42, 99, message)


def test_another_token_fails_both_checksums() -> None:
    other = bytes.fromhex("ff" * 16)
    with pytest.raises(BadPacket):
        decode(other, GET_PROP)
    with pytest.raises(ChecksumError):
        Message.parse(GET_PROP_ANSWER, token=other)


# --------------------------------------------------------------------------- the client


@pytest.fixture
def plug() -> Any:
    with MiioDevice(token=TOKEN) as device:
        yield device


def test_miot_read_and_switch(plug: MiioDevice) -> None:
    client = MiioPlug(plug.host, TOKEN)
    assert client.read() is False
    plug.user_set(True)
    assert client.read() is True
    client.switch(False)
    assert plug.on is False
    assert [r.method for r in plug.log()] == ["get_properties"] * 2 + ["set_properties"]
    assert plug.switched_to() == [False]
    assert plug.hellos == 1  # one hello, then requests on the device's stamp
    first = plug.log()[0]
    assert first.params == [{"did": "zcw", "siid": 2, "piid": 1}] and first.at > 0


def test_legacy_read_and_switch() -> None:
    with MiioDevice(token=TOKEN, kind="miio_plug", on=True) as device:
        client = MiioPlug(device.host, TOKEN, kind="miio_plug")
        assert client.read() is True
        client.switch(False)
        assert device.on is False
        assert [(r.method, r.params) for r in device.log()] == [
            ("get_prop", ["power"]),
            ("set_power", ["off"]),
        ]


def failure(client: MiioPlug) -> PlugFailure:
    with pytest.raises(PlugFailure) as info:
        client.read()
    return info.value


def test_a_silent_plug_fails_fast_and_once(plug: MiioDevice) -> None:
    client = MiioPlug(plug.host, TOKEN, timeout_s=0.5)
    assert client.read() is False
    plug.silent = True
    for _ in range(2):
        t0 = time.monotonic()
        got = failure(client)
        took = time.monotonic() - t0
        assert got.kind == "offline"
        assert took < 1.3  # at most a request and a hello: never python-miio's 5 s × retries
    plug.silent = False
    assert client.read() is False


def test_a_wrong_token_is_told_apart_from_an_absent_plug(plug: MiioDevice) -> None:
    wrong = "ff" * 16
    client = MiioPlug(plug.host, wrong, timeout_s=0.3)
    first, second = failure(client), failure(client)
    assert first.kind == "offline" and second.kind == "token"  # twice in a row: the token
    assert "hello" in second.detail and wrong not in str(second) and TOKEN not in str(second)
    assert plug.unreadable == 2 and plug.log() == []  # one request per call: no retries
    assert plug.hellos >= 2


def test_legacy_query_to_a_miot_plug_is_minus_9999(plug: MiioDevice) -> None:
    got = failure(MiioPlug(plug.host, TOKEN, kind="miio_plug"))
    assert (got.kind, got.code) == ("kind", -9999)
    assert len(plug.log("get_prop")) == 1  # -9999 is not retried


def test_miot_query_to_a_legacy_plug() -> None:
    with MiioDevice(token=TOKEN, kind="miio_plug") as device:
        got = failure(MiioPlug(device.host, TOKEN, kind="miot"))
        assert (got.kind, got.code) == ("kind", -32601)


def test_wrong_siid_piid(plug: MiioDevice) -> None:
    got = failure(MiioPlug(plug.host, TOKEN, siid=3, piid=1))
    assert (got.kind, got.code) == ("property", -4003)


def test_an_error_answer_and_a_late_one(plug: MiioDevice) -> None:
    client = MiioPlug(plug.host, TOKEN, timeout_s=0.3)
    plug.error = {"code": -5001, "message": "busy"}
    got = failure(client)
    assert (got.kind, got.code) == ("error", -5001)
    plug.error = None
    plug.delay_s = 0.6  # answers after the client gave up
    assert failure(client).kind == "offline"
    plug.delay_s = 0.0
    time.sleep(0.7)
    assert client.read() is False  # a late answer to an earlier request is not mistaken
