"""Tradovate's WebSocket frames: o / h / a[...] / c[code, reason] from the server, requests
``endpoint\\nid\\nquery\\nbody`` from the client; malformed frames are typed errors."""

from __future__ import annotations

import pytest

from pycontrol._core import CoreError
from pycontrol.tradovate.frames import (
    FrameError,
    encode_close,
    encode_frame,
    encode_request,
    parse_frame,
    parse_request,
)


def test_server_frames_round_trip() -> None:
    assert parse_frame("o").kind == "o" and parse_frame("h").kind == "h"
    msgs = [{"s": 200, "i": 3, "d": {"x": 1}}, {"e": "props", "d": {"entityType": "fill"}}]
    f = parse_frame(encode_frame(msgs))
    assert f.kind == "a" and list(f.messages) == msgs
    c = parse_frame(encode_close(1000, "bye"))
    assert (c.kind, c.code, c.reason) == ("c", 1000, "bye")


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("x", "unknown kind"),
        ("a{", "bad JSON"),
        ('a{"s":1}', "array of objects"),
        ("a[1,2]", "array of objects"),
        ('c["x"]', "[code, reason]"),
        ("", "unknown kind"),
    ],
)
def test_bad_frames_are_typed_errors(text: str, why: str) -> None:
    with pytest.raises(FrameError, match=why) as e:
        parse_frame(text)
    assert isinstance(e.value, CoreError)


def test_requests() -> None:
    assert encode_request("authorize", 0, "TOKEN") == "authorize\n0\n\nTOKEN"
    text = encode_request("md/subscribeQuote", 7, {"symbol": "ESZ6"})
    r = parse_request(text)
    assert (r.endpoint, r.request_id, r.query, r.json()) == (
        "md/subscribeQuote",
        7,
        "",
        {"symbol": "ESZ6"},
    )
    assert parse_request("user/syncrequest\n2").body == ""
    with pytest.raises(FrameError, match="endpoint"):
        parse_request("[]")
    with pytest.raises(FrameError):
        parse_request("authorize\nx\n\nT")
