"""Message schemas: versioned; malformed, unknown or mistyped commands are typed errors."""

from __future__ import annotations

import json

import pytest

from pycontrol.session import messages as m


def test_good_command() -> None:
    c = m.parse_command(m.command("set-risk-limits", max_order_qty=1, max_position=2))
    assert c.cmd == "set-risk-limits" and c.args == {"max_order_qty": 1, "max_position": 2}


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b"\xff\xfe", "bad_json"),
        (b"not json", "bad_json"),
        (b"[1,2]", "bad_schema"),
        (json.dumps({"v": 2, "cmd": "status"}).encode(), "bad_version"),
        (json.dumps({"cmd": "status"}).encode(), "bad_version"),
        (json.dumps({"v": 1, "cmd": "launch-missiles"}).encode(), "unknown_command"),
        (json.dumps({"v": 1, "cmd": "swap-model"}).encode(), "bad_args"),
        (json.dumps({"v": 1, "cmd": "swap-model", "args": {"model": 3}}).encode(), "bad_args"),
        (
            json.dumps(
                {
                    "v": 1,
                    "cmd": "set-risk-limits",
                    "args": {"max_order_qty": True, "max_position": 1},
                }
            ).encode(),
            "bad_args",
        ),
        (json.dumps({"v": 1, "cmd": "status", "extra": 1}).encode(), "bad_schema"),
    ],
)
def test_bad_commands(raw: bytes, code: str) -> None:
    with pytest.raises(m.MessageError) as e:
        m.parse_command(raw)
    assert e.value.code == code


def test_telemetry_round_trip_and_unknown_topic() -> None:
    frames = m.telemetry("fill", 3, {"qty": 1})
    msg = m.parse_telemetry(frames)
    assert msg["seq"] == 3 and msg["data"] == {"qty": 1} and msg["v"] == m.SCHEMA_VERSION
    with pytest.raises(m.MessageError):
        m.telemetry("gossip", 1, {})
