"""Paper sessions trading at the Tradovate test double: real subprocesses (`pycontrol
session --mode paper`) with ``[venue] broker = "tradovate"``, the double in this process.

- A scripted signal goes through the Rust engine into a bracket (one ``placeOSO``) at the
  double; SIGKILL; the entry fills while the session is down; the restart backfills the
  fill, restores the position, never resends, and carries on.
- Kill -9 at seeded random moments (some inside the order path, between the journal and
  the socket or between the answer and its mapping) while the session trades the real ES day
  through the double's L3 simulated exchange: after every restart no fill is lost, no order
  was sent twice, every fee is journaled once and positions agree (engine, journal, double).
- A portfolio (ES, NQ) over one connection: a bracket per root on its own front month.
- Refusals at start (a demo environment in a live session, wrong or missing credentials):
  one line, no traceback, no secret, nothing sent.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sessionkit import (
    PLACEBO,
    REPO,
    STRATEGY,
    WARM_QUOTES,
    SessionProc,
    buy,
    fire,
    positions,
    wait_for,
    warm,
)

from pycontrol.session.journal import Journal
from pycontrol.session.operator_state import trading_day_start
from pycontrol.testing.tradovate_gateway import TradovateGateway, credential_env
from pycontrol.tradovate.orders import parse_tag

KILLS = 6
SEED = 20261208


def tv_config(
    path: Path,
    run_dir: Path,
    gw: TradovateGateway,
    signals: list[dict[str, Any]],
    strategy: Path,
    risk: str = "max_order_qty = 5\nmax_position = 10",
    mode: str = "paper",
    roots: tuple[str, ...] = ("ES",),
) -> Path:
    tv = {**gw.config(), "reconnect_initial": 0.2, "reconnect_max": 1.0, "connect_timeout": 3.0}
    lines = [
        'name = "tv-session"',
        f'mode = "{mode}"',
        f'run_dir = "{run_dir}"',
        'secret_envs = ["TRADOVATE_PASSWORD", "TRADOVATE_SEC"]',
        *(x for r in roots for x in ("[[instruments]]", f'root = "{r}"', "roll_days = 8")),
        "[venue]",
        'broker = "tradovate"',
        "[tradovate]",
        *(f"{k} = {json.dumps(v)}" for k, v in tv.items()),
        "[engine]",
        f'strategy = "{strategy}"',
        "[risk]",
        risk,
    ]
    for s in signals:
        lines.append("[[signals]]")
        lines += [f"{k} = {json.dumps(v)}" for k, v in s.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def sessions() -> Iterator[list[SessionProc]]:
    procs: list[SessionProc] = []
    yield procs
    for p in procs:
        p.stop()


def _start(
    sessions: list[SessionProc], cfg: Path, run: Path, env: dict[str, str] | None = None
) -> SessionProc:
    s = SessionProc(cfg, run, env={**credential_env(), **(env or {})})
    sessions.append(s)
    s.wait_ready()
    return s


def test_bracket_fill_kill_restart(sessions: list[SessionProc], tmp_path: Path) -> None:
    gw = TradovateGateway(auto_fill=False).start()
    try:
        run = tmp_path / "run"
        run.mkdir()
        strategy = tmp_path / "strategy.toml"
        strategy.write_text(STRATEGY.format(max_qty=2))
        cfg = tv_config(tmp_path / "s.toml", run, gw, [buy(1)], strategy)
        es = gw.front("ES").name
        gw.set_quote(es, 5000.0, 5000.25)

        a = _start(sessions, cfg, run)
        warm(gw, es)
        fire(gw, es, run)
        wait_for(lambda: len(gw.order_list()) == 3, what="a bracket at the double")
        orders = {o.text: o for o in gw.order_list()}
        assert set(orders) == {"tc:4", "tc:5", "tc:6"} and gw.place_commands == 1
        entry, sl, tp = orders["tc:4"], orders["tc:5"], orders["tc:6"]
        assert sl.parent_id == entry.id == tp.parent_id and sl.linked_id == tp.id
        assert (sl.order_type, tp.order_type) == ("Stop", "Limit")
        assert sl.stop_price is not None and tp.price is not None
        assert sl.stop_price < 5000.25 < tp.price
        qty = entry.qty

        a.kill9()
        wait_for(lambda: gw.connected("user") == 0, what="the double to see the drop")
        fid = gw.fill(entry.id)  # the entry fills while the session is dead
        assert gw.position_map() == {es: qty}

        b = _start(sessions, cfg, run)
        wait_for(lambda: b.cmd("status")["result"]["venue"]["ready"], 30, "reconciled")
        for k, px in enumerate((5000.0, 5000.25, 5000.5), start=1):
            gw.set_quote(es, px, px + 0.25)
            st = wait_for(
                lambda k=k: (r := b.cmd("status"))["result"]["market_events"] >= k and r,
                what=f"market event {k} after the restart",
            )
        assert positions(st["result"]) == {es: qty}
        # the backfilled fill's fee (fillFee/list) reaches the engine
        wait_for(
            lambda: abs(b.cmd("status")["result"]["engine"]["fees"] - 1.29 * qty) < 1e-6,
            20,
            "the engine's fees to reach the double's",
        )
        assert st["result"]["venue"]["venue"] == "tradovate"
        assert gw.place_commands == 1, "an order was sent twice"
        j = Journal(run / "journal.sqlite")
        try:
            assert j.count("scripted_signal") == 1
            assert j.fill_ids() == {f"tv:{fid}"}
            assert {s: q for s, (q, _) in j.positions().items() if q} == gw.position_map()
            assert j.order(5).status == j.order(6).status == "submitted"  # type: ignore[union-attr]
            # the exits are working at the double: the take-profit fills, the stop is cancelled
            gw.fill(tp.id)
            wait_for(lambda: j.order(5).status == "cancelled", 20, "OCO cancel")  # type: ignore[union-attr]
            wait_for(lambda: not positions(b.cmd("status")["result"]), 20, "flat")
        finally:
            j.close()
        log = (run / "session.log").read_text()
        assert credential_env()["TRADOVATE_PASSWORD"] not in log
    finally:
        gw.stop()


class Market:
    """Moves the double's simulated market in a thread while on."""

    def __init__(self, gw: TradovateGateway) -> None:
        self.gw, self.name = gw, gw.front("ES").name
        self._on = threading.Event()
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            if self._on.wait(0.05) and not self._stop.is_set():
                self.gw.advance(self.name, 6)
                time.sleep(0.02)

    def run(self) -> None:
        self._on.set()

    def freeze(self) -> None:
        self._on.clear()
        time.sleep(0.2)

    def close(self) -> None:
        self._stop.set()
        self._on.set()
        self._t.join(10)


def _check(s: SessionProc, gw: TradovateGateway, run: Path) -> None:
    st = s.cmd("status")["result"]
    j = Journal(run / "journal.sqlite")
    try:
        texts = [o.text for o in gw.order_list()]
        assert len(texts) == len(set(texts)), "an order was sent twice"
        for o in gw.order_list():
            cid = parse_tag(o.text)
            assert cid is not None and j.order(cid) is not None, o.text
        assert j.fill_ids() == {f"tv:{f['id']}" for f in gw.fill_list()}
        # every fill's fee is journaled once (live, or from fillFee/list after a restart)
        fees = [e["payload"]["exec_id"] for e in j.events("commission")]
        assert sorted(fees) == sorted(j.fill_ids())
        sym = gw.front("ES").name
        broker = gw.position_map().get(sym, 0)
        assert j.positions().get(sym, (0, 0.0))[0] == broker
        assert positions(st).get(sym, 0) == broker
    finally:
        j.close()
    # the engine's fees, restored from the journal, equal the double's (the market is frozen)
    # (today's fills only: the CME trading day starts at 17:00 Chicago)
    start = trading_day_start(time.time_ns())
    day = {
        f["id"]
        for f in gw.fill_list()
        if dt.datetime.fromisoformat(f["timestamp"].replace("Z", "+00:00")).timestamp() * 1e9
        >= start
    }
    want = sum(float(f["commission"]) for f in gw.call(lambda: list(gw.fees)) if f["id"] in day)
    wait_for(
        lambda: abs(s.cmd("status")["result"]["engine"]["fees"] - want) < 1e-6,
        20,
        f"the engine's fees to reach the double's ({want})",
    )


def test_kill_9_at_random_moments(esh4_mbo: Path, tmp_path: Path) -> None:
    gw = TradovateGateway(fill="l3").start()
    rng = random.Random(SEED)
    run = tmp_path / "run"
    run.mkdir()
    strategy = tmp_path / "strategy.toml"
    strategy.write_text(PLACEBO.format(interval_s=0.5))
    cfg = tv_config(
        tmp_path / "s.toml",
        run,
        gw,
        [],
        strategy,
        risk="max_order_qty = 3\nmax_position = 5\nmin_confidence_external = 0.4",
    )
    failpoints = ["tradovate.journaled_not_sent", "tradovate.sent_not_mapped"]
    procs: list[SessionProc] = []
    try:
        gw.load_dbn(esh4_mbo, gw.front("ES").name)
        market = Market(gw)
        try:
            for k in range(KILLS + 1):
                env = credential_env()
                armed = k < KILLS and k % 3 == 2
                if armed:
                    env["PYCONTROL_FAILPOINTS"] = failpoints[(k // 3) % 2]
                market.freeze()
                s = SessionProc(cfg, run, env=env)
                procs.append(s)
                s.wait_ready(60)
                wait_for(lambda s=s: s.cmd("status")["result"]["venue"]["ready"], 30, "ready")
                _check(s, gw, run)
                if k == KILLS:
                    break
                market.run()
                if armed:
                    end = time.monotonic() + 12
                    while s.proc.poll() is None and time.monotonic() < end:
                        time.sleep(0.05)
                    if s.proc.poll() is None:
                        s.kill9()
                else:
                    time.sleep(rng.uniform(3.0, 6.0) if k else 8.0)
                    s.kill9()
                s.stop()
                wait_for(lambda: gw.connected("user") == 0, what="the double to see the drop")
                time.sleep(rng.uniform(0.0, 0.5))
        finally:
            market.close()
    finally:
        for p in procs:
            p.stop()
        gw.stop()
    j = Journal(run / "journal.sqlite")
    try:
        assert j.count("session_start") == KILLS + 1
        assert j.count("fill") >= 1, "the session never traded: the test proved nothing"
    finally:
        j.close()


@pytest.mark.parametrize(
    ("mode", "env", "why"),
    [
        ("live", {}, "TradovateConfigError: [tradovate] environment 'demo' refused in a live"),
        (
            "paper",
            {"TRADOVATE_PASSWORD": "not-the-password"},
            "TradovateAuthError: auth/accesstokenrequest: Incorrect username or password",
        ),
        ("paper", {"TRADOVATE_SEC": ""}, "$TRADOVATE_SEC not set in the environment"),
    ],
)
def test_refused_at_start_in_one_line(
    mode: str, env: dict[str, str], why: str, tmp_path: Path
) -> None:
    gw = TradovateGateway().start()
    try:
        run = tmp_path / "run"
        run.mkdir()
        strategy = tmp_path / "strategy.toml"
        strategy.write_text(STRATEGY.format(max_qty=1))
        cfg = tv_config(tmp_path / "s.toml", run, gw, [], strategy, mode=mode)
        args = ["--confirm-live"] if mode == "live" else []
        p = subprocess.run(
            [
                sys.executable,
                "-m",
                "pycontrol.cli",
                "session",
                "--config",
                str(cfg),
                "--mode",
                mode,
                *args,
            ],
            capture_output=True,
            text=True,
            cwd=REPO,
            timeout=60,
            env={**os.environ, **credential_env(), **env},
        )
        out = p.stdout + p.stderr
        assert p.returncode == 2, out
        assert why in out and "Traceback" not in out
        assert "not-the-password" not in out
        assert gw.place_commands == 0
    finally:
        gw.stop()


def test_portfolio_brackets_on_two_roots(sessions: list[SessionProc], tmp_path: Path) -> None:
    """ES and NQ in one session over one Tradovate connection: a scripted signal for each
    becomes a placeOSO bracket on its own front month; fills land on the right contract."""
    gw = TradovateGateway().start()
    try:
        run = tmp_path / "run"
        run.mkdir()
        strategy = tmp_path / "strategy.toml"
        strategy.write_text(STRATEGY.format(max_qty=1))
        # two quote updates (ES, NQ) per 0.2 s round: both volatility forecasts exist after
        # WARM_QUOTES rounds (3.2 s), when the signals come due
        warm_events = 2 * WARM_QUOTES
        sig = [
            {**buy(1, at=warm_events + 2), "symbol": "ES"},
            {**buy(2, at=warm_events + 4), "symbol": "NQ"},
        ]
        cfg = tv_config(tmp_path / "s.toml", run, gw, sig, strategy, roots=("ES", "NQ"))
        es, nq = gw.front("ES").name, gw.front("NQ").name
        base = {es: 5000.0, nq: 20000.0}
        b = _start(sessions, cfg, run)
        st = b.cmd("status")["result"]
        assert st["venue"]["symbols"] == {"ES": es, "NQ": nq}
        for i in range(60):  # alternating quotes on both until both brackets are out
            for name, px in base.items():
                gw.set_quote(name, px + 0.25 * (i % 2), px + 0.75)
            time.sleep(0.2)
            if len(gw.order_list()) >= 6:
                break
        wait_for(lambda: len(gw.order_list()) == 6, 20, "two brackets at the double")
        assert gw.place_commands == 2
        by_contract = {o.contract.name for o in gw.order_list()}
        assert by_contract == {es, nq}
        wait_for(lambda: gw.position_map() == {es: 1, nq: 1}, 20, "both entries filled")
        wait_for(lambda: positions(b.cmd("status")["result"]) == {es: 1, nq: 1}, 20, "engine")
    finally:
        gw.stop()
