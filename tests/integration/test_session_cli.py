"""The session command line: live mode cannot start by accident, `ctl` controls a running
session (and malformed commands get error replies), replay mode runs DBN data through the
session path, and the journal can be shown and exported."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import zmq
from sessionkit import REPO, SessionProc, buy, fire, wait_for, warm, write_config

from pycontrol.session.control_auth import secure_client
from pycontrol.session.journal import Journal
from pycontrol.testing.ib_gateway import BboVenue, TestGateway


def cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pycontrol.cli", *args],
        capture_output=True, text=True, cwd=REPO, timeout=timeout,
    )  # fmt: skip


@pytest.fixture
def gw() -> Iterator[TestGateway]:
    g = TestGateway(venue=BboVenue(enabled=False)).start()
    g.set_quote(g.front("ES").con_id, 5000.0, 5000.25)
    yield g
    g.stop()


def test_live_refused_without_config_mode(tmp_path: Path) -> None:
    r = cli("session", "--config", "configs/session/es-paper.toml", "--mode", "live",
            "--confirm-live", "--run-dir", str(tmp_path))  # fmt: skip
    assert r.returncode == 2
    assert 'live needs mode = "live"' in r.stderr
    assert not (tmp_path / "endpoints.json").exists()  # refused before any socket


def test_live_refused_without_confirm_flag(tmp_path: Path) -> None:
    for extra in ([], ["--mode", "live"]):
        r = cli("session", "--config", "configs/session/es-live.toml", *extra,
                "--run-dir", str(tmp_path))  # fmt: skip
        assert r.returncode == 2
        assert "--confirm-live was not given" in r.stderr
        assert not (tmp_path / "journal.sqlite").exists()


def test_live_starts_only_with_both(tmp_path: Path) -> None:
    with TestGateway(account="U1112223") as g:
        g.set_quote(g.front("ES").con_id, 5000.0, 5000.25)
        cfg = write_config(tmp_path / "live.toml", tmp_path, g.port, [])
        cfg.write_text(cfg.read_text().replace('mode = "paper"', 'mode = "live"'))
        s = SessionProc(cfg, tmp_path, mode="live", extra_args=("--confirm-live",))
        try:
            assert s.wait_ready()
            assert s.cmd("status")["result"]["mode"] == "live"
        finally:
            s.stop()
        # the same live account in paper mode: refused by the paper-account check
        r = cli("session", "--config", str(cfg), "--mode", "paper", "--run-dir",
                str(tmp_path / "p"))  # fmt: skip
        assert r.returncode == 2 and "NotPaperAccountError" in r.stderr
        assert "U1112223" not in r.stderr


def test_ctl_controls_a_running_session(gw: TestGateway, tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "s.toml", tmp_path, gw.port, [buy(1)])
    s = SessionProc(cfg, tmp_path)
    try:
        s.wait_ready()
        rd = ("--run-dir", str(tmp_path))
        r = cli("ctl", *rd, "status", "--json")
        assert r.returncode == 0 and json.loads(r.stdout)["result"]["engine"]["state"] == "ACTIVE"
        assert cli("ctl", *rd, "halt", "--reason", "news").returncode == 0
        warm(gw, gw.front("ES").con_id)
        fire(gw, gw.front("ES").con_id, tmp_path)  # the signal, while halted
        j = Journal(tmp_path / "journal.sqlite")
        wait_for(lambda: j.count("denial") == 1, what="a HALTED denial")
        assert next(j.events("denial"))["payload"]["reason"] == "TRADING_HALTED"
        assert gw.order_list() == []
        w = cli("ctl", *rd, "watch", "--topic", "state", "--count", "1", "--seconds", "15")
        beat = json.loads(w.stdout.splitlines()[0])
        assert beat["topic"] == "state" and beat["v"] == 1
        ov = ("--override", "--reason", "test")  # loosening: journaled with the reason
        assert cli("ctl", *rd, "resume", *ov).returncode == 0
        r = cli("ctl", *rd, "swap-model", "lgbm-v2", *ov)  # pushed signals: no model to swap
        assert r.returncode == 1 and json.loads(r.stdout)["error"]["code"] == "unsupported"
        r = cli("ctl", *rd, "set-risk-limits", "--max-order-qty", "1", "--max-position", "2")
        assert r.returncode == 0
        st = json.loads(cli("ctl", "--config", str(cfg), "status", "--json").stdout)["result"][
            "engine"
        ]
        assert st["limits"]["max_order_qty"] == 1 and st["limits"]["max_position"] == 2
        assert st["limits"]["daily_loss_limit"] > 0  # every other limit still applies
        assert [j.count(k) for k in ("halt", "resume", "model_swap", "risk_limits")] == [1, 1, 0, 1]
        # malformed and unknown commands: error replies, the session lives on
        for raw, code in (("{oops", "bad_json"), ('{"v": 1, "cmd": "explode"}', "unknown_command"),
                          ('{"v": 9, "cmd": "status"}', "bad_version"),
                          ('{"v": 1, "cmd": "set-risk-limits", "args": {"max_order_qty": 0, '
                           '"max_position": 1}}', "bad_args")):  # fmt: skip
            r = cli("ctl", *rd, "raw", raw)
            assert r.returncode == 1 and json.loads(r.stdout)["error"]["code"] == code
        assert s.cmd("status")["ok"]
        # a second session on the same run directory (and journal) is refused
        r = cli("session", "--config", str(cfg))
        assert r.returncode == 2 and f"in use by another session (pid {s.proc.pid})" in r.stderr
        # a DEALER that skips the REQ envelope still gets an answer saying so
        ctx: zmq.Context[Any] = zmq.Context()
        d = ctx.socket(zmq.DEALER)
        secure_client(d)
        d.connect(json.loads((tmp_path / "endpoints.json").read_text())["cmd"])
        d.send_multipart([b'{"v": 1, "cmd": "status"}', b"extra"])
        assert d.poll(10_000)
        reply = json.loads(d.recv_multipart()[-1])
        assert reply["error"]["code"] == "bad_envelope"
        d.close(linger=0)
        ctx.term()
        j.close()
        assert cli("ctl", *rd, "shutdown").returncode == 0
        assert s.proc.wait(15) == 0
        r = cli("ctl", *rd, "--timeout", "0.5", "status")
        assert r.returncode == 2 and "no reply" in r.stderr
    finally:
        s.stop()


def test_replay_session_and_journal_export(tmp_path: Path) -> None:
    data = tmp_path / "synth.mbo.dbn.zst"
    assert (
        cli("data", "synth", "--out", str(data), "--events", "20000", "--seed", "3").returncode == 0
    )
    cfg_text = (REPO / "configs/session/es-replay.toml").read_text()
    cfg_text = cfg_text.replace('data = "build/demo/synth.mbo.dbn.zst"', f'data = "{data}"')
    cfg_text = cfg_text.replace("exit_at_end = false", "exit_at_end = true")
    cfg_text = cfg_text.replace('run_dir = "build/sessions/es-replay"', f'run_dir = "{tmp_path}"')
    # the scripted signals past the volatility warm-up (30 s) of the 48 s, 30,949-record file
    cfg_text = cfg_text.replace("at_event = 20000", "at_event = 16000")
    cfg_text = cfg_text.replace("at_event = 60000", "at_event = 26000")
    cfg = tmp_path / "replay.toml"
    cfg.write_text(cfg_text)
    r = cli("session", "--config", str(cfg), "--mode", "replay", timeout=120)
    assert r.returncode == 0, r.stderr
    assert "risk limits: " in r.stdout and "max_position=3" in r.stdout
    assert "replay end: " in r.stdout and " fills, " in r.stdout  # it says what it did
    j = Journal(tmp_path / "journal.sqlite")
    assert j.count("scripted_signal") == 2 and j.count("replay_end") == 1
    assert j.count("intent") >= 1
    fills = j.fills()
    assert fills, "the entries must fill on the simulated exchange"
    net = sum(f["qty"] if f["side"] == "BUY" else -f["qty"] for f in fills)
    sym = fills[0]["symbol"]
    assert j.positions()[sym][0] == net
    j.close()

    jp = str(tmp_path / "journal.sqlite")
    show = cli("journal", "show", jp, "--kind", "fill")
    assert show.returncode == 0 and "fill" in show.stdout and "positions:" in show.stdout
    # as the README writes it: the session's run directory
    by_dir = cli("journal", "show", "--run-dir", str(tmp_path), "--kind", "fill")
    assert by_dir.returncode == 0 and by_dir.stdout == show.stdout
    assert cli("journal", "export", jp, "--out", str(tmp_path / "ev.parquet")).returncode == 0
    ev = pl.read_parquet(tmp_path / "ev.parquet")
    assert ev.height > 0 and {"seq", "kind", "payload"} <= set(ev.columns)
    assert cli("journal", "export", jp, "--table", "fills", "--out",
               str(tmp_path / "f.jsonl")).returncode == 0  # fmt: skip
    lines = (tmp_path / "f.jsonl").read_text().splitlines()
    assert len(lines) == len(fills)
    bad = cli("journal", "show", str(tmp_path / "nope.sqlite"))
    assert bad.returncode == 2 and "not found" in bad.stderr


def test_ib_test_gateway_command_serves_ib_async(tmp_path: Path) -> None:
    import asyncio
    import re

    from ib_async import IB

    out = tmp_path / "gw.txt"
    with out.open("w") as f:
        proc = subprocess.Popen(
            [sys.executable, "-m", "pycontrol.cli", "ib", "test-gateway", "--port", "0"],
            stdout=f, stderr=subprocess.STDOUT, cwd=REPO,
            env={**os.environ, "IB_TEST_ACCOUNT": "DU5550001"},
        )  # fmt: skip
    try:
        line = wait_for(lambda: re.search(r"127\.0\.0\.1:(\d+)", out.read_text()), what="gateway")
        port = int(line.group(1))
        assert "DU5550001" not in out.read_text()

        async def go() -> list[str]:
            ib = IB()
            await ib.connectAsync("127.0.0.1", port, clientId=1, timeout=5)
            accts = ib.managedAccounts()
            ib.disconnect()
            return accts

        assert asyncio.run(asyncio.wait_for(go(), 20)) == ["DU5550001"]
    finally:
        proc.kill()
        proc.wait(10)


def test_replay_session_on_the_real_es_day(esh4_mbo: Path, tmp_path: Path) -> None:
    """The real ESH4 MBO day (Databento) through the session path: a scripted buy past the
    volatility warm-up becomes the engine's market entry, filled by the L3 simulated exchange
    near the replayed ask, its bracket exits around it, and fills and positions agree."""
    cfg = tmp_path / "real.toml"
    cfg.write_text(
        f'name = "real"\nmode = "replay"\nrun_dir = "{tmp_path}"\n'
        f'[replay]\ndata = "{esh4_mbo}"\nexit_at_end = true\n'
        '[[signals]]\nintent_id = 1\nat_event = 40000\nside = "BUY"\n'
    )
    r = cli("session", "--config", str(cfg), "--mode", "replay", timeout=120)
    assert r.returncode == 0, r.stderr
    j = Journal(tmp_path / "journal.sqlite")
    fills = j.fills()
    entry = [f for f in fills if f["client_order_id"] == 4]
    assert len(entry) == 1 and 4700 < entry[0]["price"] < 4900  # ESH4 around 4800
    assert entry[0]["symbol"] == "ESH4"  # the raw symbol of the DBN instrument 17077
    net = sum(f["qty"] if f["side"] == "BUY" else -f["qty"] for f in fills)
    assert j.positions()["ESH4"][0] == net
    exits = {o.client_order_id: o for o in j.orders() if o.parent_client_order_id == 4}
    assert set(exits) == {5, 6}
    stop = exits[5].stop_price if exits[5].stop_price is not None else exits[6].stop_price
    take = exits[6].price if exits[6].price is not None else exits[5].price
    assert stop is not None and take is not None
    assert stop < entry[0]["price"] < take  # the bracket from sizing, around the entry
    # OCA: at most one exit filled, and if one did the other was cancelled
    done = [o.status for o in exits.values()]
    assert done.count("filled") <= 1 and (done.count("filled") == 0 or "cancelled" in done)
    j.close()


def test_bad_config_is_one_line_error(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text('name = "x"\nmode = "paper"\n[risk]\nmax_order_qty = -1\ncolour = "red"\n')
    r = cli("session", "--config", str(cfg))
    assert r.returncode == 2
    assert r.stderr.startswith("error: SessionConfigError:")
    assert "max_order_qty" in r.stderr and "colour" in r.stderr
    cfg.write_text("name = \n")
    r = cli("session", "--config", str(cfg))
    assert r.returncode == 2 and "not valid TOML" in r.stderr


def test_account_from_env_must_be_managed_and_is_never_printed(
    gw: TestGateway, tmp_path: Path
) -> None:
    cfg = write_config(tmp_path / "s.toml", tmp_path, gw.port, [])
    r = subprocess.run(
        [sys.executable, "-m", "pycontrol.cli", "session", "--config", str(cfg)],
        capture_output=True, text=True, cwd=REPO, timeout=60,
        env={**os.environ, "IB_ACCOUNT": "DU9990001"},
    )  # fmt: skip
    assert r.returncode == 2 and "not managed by this gateway" in r.stderr
    assert "DU9990001" not in r.stderr + r.stdout
    assert "DU9990001" not in (tmp_path / "session.log").read_text()
