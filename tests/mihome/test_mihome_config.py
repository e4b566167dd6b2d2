"""[mihome] in the config: keys, bounds, tokens from three places, and secrets never shown."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from zcw.config import ConfigError, advice, format_problems, load_config, mihome_secrets

ROOT = Path(__file__).resolve().parents[2]
BASE = (ROOT / "config" / "crossover.toml").read_text()
TOKEN = "00112233445566778899aabbccddeeff"
BEMFA = '[mihome.bemfa]\ntopic = "zcw006"\nkey = "k"\n'


def write(tmp_path: Path, mihome: str) -> Path:
    path = tmp_path / "c.toml"
    path.write_text(BASE + "\n" + mihome)
    path.chmod(0o600)
    return path


def problems(tmp_path: Path, mihome: str) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, mihome))
    return format_problems(info.value)


def test_a_proxy_with_defaults(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, f'[[mihome.proxy]]\nhost = "10.0.0.5"\ntoken = "{TOKEN}"\n'))
    assert cfg.mihome is not None
    px = cfg.mihome.proxy[0]
    assert (px.kind, px.siid, px.piid, px.poll_s, px.mirror, px.loop) == (
        "miot",
        2,
        1,
        1.0,
        False,
        None,
    )
    assert px.label == "10.0.0.5"
    assert TOKEN not in repr(cfg)
    assert mihome_secrets(cfg.mihome) == ([TOKEN], None)


@pytest.mark.parametrize(
    ("mihome", "where", "says"),
    [
        ('[[mihome.proxy]]\nhost = "h"\ntoken = "abc"\n', "mihome.proxy[0].token", "32 hex"),
        ('[[mihome.proxy]]\nhost = "h"\ntoken = 1234567\n', "mihome.proxy[0].token", "string"),
        ('[[mihome.proxy]]\nhost = "h"\n', "mihome.proxy[0].token", "token_file"),
        (
            f'[[mihome.proxy]]\nhost = "h"\ntoken = "{TOKEN}"\npoll_s = 0.1\n',
            "mihome.proxy[0].poll_s",
            "≥ 0.5",
        ),
        (
            f'[[mihome.proxy]]\nhost = "h"\ntoken = "{TOKEN}"\nkind = "zigbee"\n',
            "mihome.proxy[0].kind",
            "must be one of",
        ),
        (
            f'[[mihome.proxy]]\nhost = "h"\ntoken = "{TOKEN}"\nloop = "bathrom"\n',
            "mihome.proxy[0].loop",
            "did you mean 'bathroom'",
        ),
        (
            f'[[mihome.proxy]]\nhost = "h"\ntoken = "{TOKEN}"\ntoken_env = "X"\n',
            "mihome.proxy[0].token_env",
            "once",
        ),
        (
            f'[[mihome.proxy]]\nhost = "h"\ntoken = "{TOKEN}"\n'
            f'[[mihome.proxy]]\nhost = "h"\ntoken = "{TOKEN}"\n',
            "mihome.proxy[1].host",
            "already",
        ),
        (
            f'[[mihome.proxy]]\nhost = "h"\ntoken = "{TOKEN}"\nsiid = 0\n',
            "mihome.proxy[0].siid",
            "≥ 1",
        ),
        (
            f'[[mihome.proxy]]\nhost = "h"\ntoken = "{TOKEN}"\npoll = 1\n',
            "mihome.proxy[0].poll",
            "did you mean 'poll_s'",
        ),
        ("[mihome]\n", "mihome", "names no device"),
        ('[mihome.bemfa]\ntopic = "zcw005"\nkey = "k"\n', "mihome.bemfa.topic", "006"),
        ('[mihome.bemfa]\ntopic = "zcw006"\n', "mihome.bemfa.key", "private key"),
        (f'{BEMFA}tls = false\nca_file = "/etc/ssl/x.pem"\n', "mihome.bemfa.ca_file", "never"),
        (f"{BEMFA}port = 9501\n", "mihome.bemfa.port", "remove port (zcw then uses 9503)"),
        (f"{BEMFA}tls = false\nport = 9503\n", "mihome.bemfa.port", "set tls = true"),
        (f'{BEMFA}ca_file = "/nonexistent/ca.pem"\n', "mihome.bemfa.ca_file", "not found"),
        (f'{BEMFA}ca_file = "{ROOT / "README.md"}"\n', "mihome.bemfa.ca_file", "not a readable"),
        (f'{BEMFA}tls = "yes"\n', "mihome.bemfa.tls", "true or false"),
    ],
    ids=[
        "short-token",
        "token-type",
        "no-token",
        "poll-bound",
        "kind",
        "loop",
        "token-twice",
        "host-twice",
        "siid",
        "typo",
        "empty",
        "bemfa-topic",
        "bemfa-key",
        "bemfa-ca-without-tls",
        "bemfa-plain-port-with-tls",
        "bemfa-tls-port-without-tls",
        "bemfa-ca-missing",
        "bemfa-ca-not-pem",
        "bemfa-tls-type",
    ],
)
def test_each_mistake_names_the_key(tmp_path: Path, mihome: str, where: str, says: str) -> None:
    text = problems(tmp_path, mihome)
    assert where in text and says in text and "fix:" in text
    assert "1234567" not in text and '"abc"' not in text and "'abc'" not in text


def test_bemfa_goes_over_tls_by_default(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, BEMFA))
    assert cfg.mihome is not None and cfg.mihome.bemfa is not None
    b = cfg.mihome.bemfa
    assert (b.host, b.tls, b.ca_file, b.resolved_port) == ("bemfa.com", True, None, 9503)
    cfg = load_config(write(tmp_path, BEMFA + "tls = false\n"))
    assert cfg.mihome is not None and cfg.mihome.bemfa is not None
    assert cfg.mihome.bemfa.resolved_port == 9501
    # Another host (a broker of one's own, or a test's): any port with either setting.
    cfg = load_config(write(tmp_path, BEMFA + 'host = "10.0.0.2"\nport = 9501\n'))
    assert cfg.mihome is not None and cfg.mihome.bemfa is not None
    assert (cfg.mihome.bemfa.tls, cfg.mihome.bemfa.resolved_port) == (True, 9501)


def test_token_file_and_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tf = tmp_path / "plug.token"
    tf.write_text(TOKEN.upper() + "\n")
    tf.chmod(0o600)
    cfg = load_config(write(tmp_path, f'[[mihome.proxy]]\nhost = "h"\ntoken_file = "{tf}"\n'))
    assert cfg.mihome is not None and mihome_secrets(cfg.mihome)[0] == [TOKEN.upper()]

    tf.write_text("not-a-token-but-a-secret\n")
    text = problems(tmp_path, f'[[mihome.proxy]]\nhost = "h"\ntoken_file = "{tf}"\n')
    assert "mihome.proxy[0].token_file" in text and "not-a-token" not in text
    text = problems(tmp_path, f'[[mihome.proxy]]\nhost = "h"\ntoken_file = "{tmp_path / "x"}"\n')
    assert "mihome.proxy[0].token_file" in text and "not found" in text

    monkeypatch.delenv("ZCW_T", raising=False)
    env_cfg = load_config(write(tmp_path, '[[mihome.proxy]]\nhost = "h"\ntoken_env = "ZCW_T"\n'))
    # Unset where `config check` runs (the daemon's unit may set it): a warning, not an error …
    assert [w.where for w in advice(env_cfg)] == ["mihome.proxy[0].token_env"]
    assert env_cfg.mihome is not None
    with pytest.raises(ConfigError) as info:  # … but the daemon cannot start without it
        mihome_secrets(env_cfg.mihome)
    assert "ZCW_T" in format_problems(info.value)
    monkeypatch.setenv("ZCW_T", TOKEN)
    assert mihome_secrets(env_cfg.mihome)[0] == [TOKEN]
    monkeypatch.setenv("ZCW_T", "f" * 31)
    text = problems(tmp_path, '[[mihome.proxy]]\nhost = "h"\ntoken_env = "ZCW_T"\n')
    assert "$ZCW_T does not hold a valid token" in text and "f" * 31 not in text


def test_world_readable_secrets_are_warned_about(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    tf = tmp_path / "plug.token"
    tf.write_text(TOKEN)
    tf.chmod(0o644)
    with caplog.at_level(logging.WARNING):
        load_config(write(tmp_path, f'[[mihome.proxy]]\nhost = "h"\ntoken_file = "{tf}"\n'))
    assert "readable by everyone" in caplog.text and str(tf) in caplog.text
    caplog.clear()
    path = write(tmp_path, f'[mihome.bemfa]\ntopic = "zcw006"\nkey = "{TOKEN}"\n')
    path.chmod(0o644)
    with caplog.at_level(logging.WARNING):
        load_config(path)
    assert "readable by everyone" in caplog.text
    assert TOKEN not in caplog.text


def test_config_check_rejects_a_malformed_token_naming_the_key(tmp_path: Path) -> None:
    bad = "0123456789abcdef0123456789abcdeg"  # 32 characters, one not hex
    path = write(tmp_path, f'[[mihome.proxy]]\nhost = "10.0.0.5"\ntoken = "{bad}"\n')
    out = subprocess.run(
        [sys.executable, "-m", "zcw", "config", "check", "-c", str(path)],
        capture_output=True,
        text=True,
        env={k: v for k, v in os.environ.items() if k != "COLUMNS"} | {"COLUMNS": "300"},
    )
    text = out.stdout + out.stderr
    assert out.returncode == 2, text
    assert "mihome.proxy[0].token" in text and "32 hex digits" in text
    assert "token extractor" in text  # how to get one
    assert bad not in text and "Traceback" not in text
