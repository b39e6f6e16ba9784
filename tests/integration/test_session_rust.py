"""Replay sessions on the Rust engine (tradecore Engine + the L3 simulated exchange, every
risk gate on) from the command line: the journal holds exactly the engine's fills, two runs of
one config give one journal of fills, and ctl's commands reach the engine (status shows its
positions and P&L, halt denies new orders with TRADING_HALTED, resume trades again, bad limits
are refused naming every field, swap-model says why it cannot)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sessionkit import REPO, SessionProc, Telemetry, wait_for

from pycontrol import _core
from pycontrol.backtest.run import engine_kwargs
from pycontrol.commands.ctl_format import format_status
from pycontrol.session.config import SessionConfig
from pycontrol.session.journal import Journal
from pycontrol.session.rust_engine import strategy_config


def cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pycontrol.cli", *args],
        capture_output=True, text=True, cwd=REPO, timeout=timeout,
    )  # fmt: skip


def rust_config(
    tmp: Path, run_dir: Path, data: Path, exit_at_end: bool, rate_hz: float, chunk: int = 4096
) -> Path:
    """The shipped es-replay.toml on ``data`` in ``run_dir``, its placebo strategy alone
    (without its scripted signals, so a run of the bare engine is the same run)."""
    text = (REPO / "configs/session/es-replay.toml").read_text()
    assert "chunk_records = 4096" in text
    text = text[: text.index("[[signals]]")]
    text = text.replace("chunk_records = 4096", f"chunk_records = {chunk}")
    text = text.replace('data = "build/demo/synth.mbo.dbn.zst"', f'data = "{data}"')
    text = text.replace(
        "exit_at_end = false", f"exit_at_end = {str(exit_at_end).lower()}\nrate_hz = {rate_hz}"
    )
    text = text.replace('run_dir = "build/sessions/es-replay"', f'run_dir = "{run_dir}"')
    run_dir.mkdir(parents=True, exist_ok=True)
    path = tmp / f"{run_dir.name}.toml"
    path.write_text(text)
    return path


def journal_fills(run_dir: Path) -> list[tuple[Any, ...]]:
    j = Journal(run_dir / "journal.sqlite")
    try:
        return [
            (f["exec_id"], f["client_order_id"], f["side"], f["qty"], f["price"], f["ts_ns"])
            for f in sorted(j.fills(), key=lambda f: int(f["exec_id"].split("-")[1]))
        ]
    finally:
        j.close()


def engine_fills(cfg_path: Path) -> list[tuple[Any, ...]]:
    """The same engine run straight through in this process, no session around it."""
    cfg = SessionConfig.load(cfg_path)
    data = Path(cfg.replay.data)
    core = _core.EngineSession([str(data)], **engine_kwargs(strategy_config(cfg), {}, None))
    fills: list[dict[str, Any]] = []
    while core.step(1 << 16):
        fills += core.drain()["fills"]
    fills += core.drain()["fills"]
    return [
        (f"sim-{i}", f["client_order_id"], f["side"], f["qty"], f["price"], f["ts"])
        for i, f in enumerate(fills, 1)
    ]


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("synth") / "synth.mbo.dbn.zst"
    r = cli("data", "synth", "--out", str(data), "--events", "200000", "--seed", "5")
    assert r.returncode == 0, r.stderr
    return data


@pytest.mark.parametrize("which", ["synth", "esh4"])
def test_replay_journal_holds_the_engine_fills_and_is_deterministic(
    which: str, synth: Path, esh4_mbo: Path, tmp_path: Path
) -> None:
    data = synth if which == "synth" else esh4_mbo
    runs = []
    for name in ("a", "b"):
        cfg = rust_config(tmp_path, tmp_path / name, data, exit_at_end=True, rate_hz=0)
        r = cli("session", "--config", str(cfg), "--mode", "replay")
        assert r.returncode == 0, r.stderr + r.stdout
        runs.append(journal_fills(tmp_path / name))
    a, b = runs
    assert len(a) >= 2, "placebo signals past the threshold must trade"
    assert a == b, "same config, same journal of fills"
    assert a == engine_fills(cfg), "the journal holds exactly the engine's fills"
    j = Journal(tmp_path / "a" / "journal.sqlite")
    try:
        # flatten_at_end: flat at the end, in the journal as in the engine
        assert all(q == 0 for q, _ in j.positions().values())
        end = list(j.events("replay_end"))
        assert len(end) == 1 and end[0]["payload"]["engine"] == "rust"
        assert all(p["qty"] == 0 for p in end[0]["payload"]["positions"])
        # every fill belongs to a journaled order of a journaled intent
        ids = {o.client_order_id for o in j.orders()}
        assert {f["client_order_id"] for f in j.fills()} <= ids
        assert {o.intent_id for o in j.orders()} <= set(j.intent_ids())
    finally:
        j.close()


def _ctl(cfg: Path, *args: str) -> tuple[int, dict[str, Any]]:
    r = cli("ctl", "--config", str(cfg), "--timeout", "10", *args, timeout=60)
    return r.returncode, json.loads(r.stdout) if r.stdout.strip() else {}


def test_ctl_commands_reach_the_rust_engine(esh4_mbo: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "live"
    # paced so commands land mid-data (the day's 68 792 records in about 140 s, commands
    # applied every 256 records), and a placebo signal every 5 s so decisions come often
    cfg = rust_config(tmp_path, run_dir, esh4_mbo, exit_at_end=False, rate_hz=500, chunk=256)
    strategy = (REPO / "configs/backtest/es_replay_session.toml").read_text()
    assert "interval_s = 20.0" in strategy and "max_age_s = 10.0" in strategy
    strategy = strategy.replace("interval_s = 20.0", "interval_s = 5.0")
    (tmp_path / "strategy.toml").write_text(strategy.replace("max_age_s = 10.0", "max_age_s = 5.0"))
    text = cfg.read_text().replace(
        'strategy = "configs/backtest/es_replay_session.toml"',
        f'strategy = "{tmp_path / "strategy.toml"}"',
    )
    cfg.write_text(text)
    s = SessionProc(cfg, run_dir, mode="replay")
    tel = None
    try:
        eps = s.wait_ready(60)
        tel = Telemetry(eps["pub"])
        tel.wait_joined()
        wait_for(lambda: any(x["topic"] == "fill" for x in tel.msgs), 90, "a first fill")

        # the operator's commands from the CLI: halt, then status
        rc, _ = _ctl(cfg, "halt", "--reason", "news")
        assert rc == 0
        wait_for(
            lambda: [
                x for x in tel.msgs
                if x["topic"] == "denial" and x["data"]["reason"] == "TRADING_HALTED"
            ],
            90, "a TRADING_HALTED denial",
        )  # fmt: skip
        rc, st = _ctl(cfg, "status", "--json")
        assert rc == 0
        eng = st["result"]["engine"]
        assert eng["engine"] == "rust" and eng["state"] == "HALTED"
        assert eng["denials_by_reason"]["TRADING_HALTED"] >= 1
        assert eng["positions"] and {"qty", "realized", "unrealized", "fees"} <= set(
            eng["positions"][0]
        )
        assert eng["fills"] >= 1 and st["result"]["venue"]["venue"] == "sim-l3"
        # the same reply as `ctl status` shows it by default: a table, the state up front
        table = format_status(st["result"])
        assert "state HALTED" in table.splitlines()[0] and "positions (" in table

        assert s.cmd("resume", override="test: resume after halt")["ok"]
        n_resume = len(tel.msgs)
        wait_for(
            lambda: [x for x in tel.msgs[n_resume:] if x["topic"] == "signal"],
            90, "an intent after resume",
        )  # fmt: skip

        # bad limits: every bad field named, the engine keeps its limits
        bad = s.cmd("set-risk-limits", max_order_qty=0, max_position=-1)
        assert not bad["ok"] and bad["error"]["code"] == "bad_args"
        assert "max_order_qty" in bad["error"]["message"]
        assert "max_position" in bad["error"]["message"]
        eng = s.cmd("status")["result"]["engine"]
        assert eng["limits"]["max_order_qty"] == 2.0 and eng["limits"]["max_position"] == 3.0
        assert s.cmd("set-risk-limits", max_order_qty=2, max_position=2)["ok"]
        assert s.cmd("status")["result"]["engine"]["limits"]["max_position"] == 2.0

        sw = s.cmd("swap-model", model="lgbm-v2", override="test: swap")
        assert not sw["ok"] and sw["error"]["code"] == "unsupported"

        fl = s.cmd("flatten")
        assert fl["ok"] and fl["result"]["denied"] == 0
        assert s.cmd("status")["result"]["engine"]["state"] == "REDUCING"
        assert s.cmd("resume", override="test: resume after halt")["ok"]
        assert s.cmd("reducing")["ok"]
        assert s.cmd("status")["result"]["engine"]["state"] == "REDUCING"

        assert s.cmd("shutdown")["ok"]
        s.proc.wait(30)
        assert s.proc.returncode == 0, s.output()
    finally:
        if tel is not None:
            tel.close()
        s.stop()
    j = Journal(run_dir / "journal.sqlite")
    try:
        kinds = [e["kind"] for e in j.events()]
        for k in ("halt", "resume", "flatten", "reducing", "risk_limits", "denial", "fill"):
            assert k in kinds, k
        assert kinds.count("risk_limits") == 1, "the refused limits were never journaled"
        assert "model_swap" not in kinds
        # in journal order (the record; telemetry may lag): while halted no intent was
        # journaled and every denial said TRADING_HALTED; before and after, none did
        ev = list(j.events())
        halt = next(i for i, e in enumerate(ev) if e["kind"] == "halt")
        resume = next(i for i, e in enumerate(ev) if e["kind"] == "resume")
        assert [e for e in ev[halt:resume] if e["kind"] == "intent"] == []
        halted = [
            i
            for i, e in enumerate(ev)
            if e["kind"] == "denial" and e["payload"]["reason"] == "TRADING_HALTED"
        ]
        assert halted and all(halt < i < resume for i in halted)
        assert [e for e in ev[resume:] if e["kind"] == "intent"], "trading resumed"
        # the journal's positions are the fills': nothing counted twice or lost
        net: dict[str, int] = {}
        for f in j.fills():
            net[f["symbol"]] = net.get(f["symbol"], 0) + (
                f["qty"] if f["side"] == "BUY" else -f["qty"]
            )
        assert {s: q for s, (q, _) in j.positions().items()} == net
    finally:
        j.close()


def test_bad_replay_input_and_wrong_mode_are_one_line_errors(
    shared_data: Path, tmp_path: Path
) -> None:
    mbp = shared_data / "dbn/nautilus/futures_mbp-1_2024-07-01T23-58_2024-07-02T00-02.dbn.zst"
    cfg = rust_config(tmp_path, tmp_path / "mbp", mbp, exit_at_end=True, rate_hz=0)
    r = cli("session", "--config", str(cfg), "--mode", "replay", timeout=60)
    assert r.returncode == 2 and "needs MBO" in r.stderr and "Traceback" not in r.stderr
    # a paper session on the Rust engine cannot trade a file of past signals
    strategy = tmp_path / "file_signals.toml"
    strategy.write_text(
        'name = "f"\ndata = ["x"]\n[signals]\nkind = "file"\npath = "signals.parquet"\n'
    )
    text = cfg.read_text().replace(
        'strategy = "configs/backtest/es_replay_session.toml"', f'strategy = "{strategy}"'
    )
    cfg.write_text(text)
    r = cli("session", "--config", str(cfg), "--mode", "paper", timeout=60)
    assert r.returncode == 2 and "a signals file is a replay of the past" in r.stderr
    assert "Traceback" not in r.stderr
    assert not (tmp_path / "mbp" / "endpoints.json").exists()
