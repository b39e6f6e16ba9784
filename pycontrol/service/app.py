"""The ops service's HTTP app (FastAPI): REST views of the session, a server-sent-event
stream, the dashboard page with its packaged assets, ``/metrics``, the halt and flatten
actions and ``POST /predict``. Every route but the login page and the static assets needs the
token (``Authorization: Bearer``) or the login cookie."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.responses import StreamingResponse

from pycontrol.service.auth import ACTION_HEADER, COOKIE, SESSION_TTL_S, TokenAuth
from pycontrol.service.link import SessionLink, SessionUnavailable
from pycontrol.service.metrics import exposition, registry

STATIC = Path(__file__).parent / "static"


@dataclass
class ServiceConfig:
    run_dir: Path
    token: str
    keys: Path | None = None
    poll_s: float = 1.0
    registry_root: Path | None = None  # models/ for /predict
    extra: dict[str, Any] = field(default_factory=dict)


def create_app(cfg: ServiceConfig) -> FastAPI:
    link = SessionLink(cfg.run_dir, keys=cfg.keys, poll_s=cfg.poll_s)
    auth = TokenAuth(cfg.token)
    metrics = registry(link)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await link.start()
        try:
            yield
        finally:
            await link.stop()

    app = FastAPI(title="pycontrol ops", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.link = link
    app.state.auth = auth
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    def authorized(request: Request, action: bool = False) -> bool:
        header = request.headers.get("authorization", "")
        if header.lower().startswith("bearer "):
            return auth.check_token(header[7:].strip())
        if auth.check_cookie(request.cookies.get(COOKIE)):
            # a cookie rides along on cross-site requests; a custom header does not
            return not action or request.headers.get(ACTION_HEADER) == "1"
        return False

    def need(request: Request, action: bool = False) -> None:
        if not authorized(request, action):
            raise HTTPException(401, "token or login required")

    def status_or_503() -> dict[str, Any]:
        if link.status is None:
            raise HTTPException(503, f"no status from the session yet ({link.error})")
        return link.status

    def engine() -> dict[str, Any]:
        eng: dict[str, Any] = status_or_503().get("engine", {})
        return eng

    # -- login ----------------------------------------------------------------------------

    @app.get("/login", response_class=HTMLResponse)
    async def login_page() -> HTMLResponse:
        return HTMLResponse((STATIC / "login.html").read_text())

    @app.post("/login")
    async def login(request: Request) -> Response:
        form = parse_qs((await request.body()).decode(errors="replace"))
        sid = auth.login((form.get("token") or [""])[0].strip())
        if sid is None:
            return RedirectResponse("/login?failed=1", status_code=303)
        r = RedirectResponse("/", status_code=303)
        r.set_cookie(COOKIE, sid, httponly=True, samesite="strict", max_age=SESSION_TTL_S, path="/")
        return r

    @app.post("/logout")
    async def logout(request: Request) -> Response:
        auth.logout(request.cookies.get(COOKIE))
        r = RedirectResponse("/login", status_code=303)
        r.delete_cookie(COOKIE, path="/")
        return r

    @app.get("/", response_class=HTMLResponse)
    async def dashboard(request: Request) -> Response:
        if not authorized(request):
            return RedirectResponse("/login", status_code=303)
        return HTMLResponse((STATIC / "dashboard.html").read_text())

    # -- REST -----------------------------------------------------------------------------

    def view(path: str, fn: Callable[[], Any]) -> None:
        async def handler(request: Request) -> JSONResponse:
            need(request)
            return JSONResponse(fn())

        app.add_api_route(path, handler, methods=["GET"], name=path)

    def orders() -> dict[str, Any]:
        return {"working": engine().get("working", 0), "orders": list(link.working.values())}

    def fills() -> dict[str, Any]:
        return {"fills": engine().get("fills", 0), "recent": _data(link.recent["fill"])}

    def pnl() -> dict[str, Any]:
        return {"equity": engine().get("equity"), "series": list(link.series)}

    def limits() -> dict[str, Any]:
        config = status_or_503().get("control", {}).get("config_limits")
        return {"engine": engine().get("limits", {}), "config": config}

    def denials() -> dict[str, Any]:
        by_reason = engine().get("denials_by_reason", {})
        return {"by_reason": by_reason, "recent": _data(link.recent["denial"])}

    def model() -> dict[str, Any]:
        return {"source": engine().get("model_source"), "model": engine().get("model")}

    view("/api/status", status_or_503)
    view("/api/instruments", lambda: status_or_503().get("venue", {}).get("symbols", []))
    view("/api/positions", lambda: engine().get("positions", []))
    view("/api/orders", orders)
    view("/api/fills", fills)
    view("/api/pnl", pnl)
    view("/api/limits", limits)
    view("/api/denials", denials)
    view("/api/signals", lambda: _data(link.recent["signal"]))
    view("/api/model", model)
    view("/api/feed", link.health)
    view("/api/latency", link.latency)
    view("/api/control", lambda: status_or_503().get("control", {}))

    @app.get("/api/stream")
    async def stream(request: Request) -> StreamingResponse:
        need(request)

        async def gen() -> AsyncIterator[bytes]:
            yield b"retry: 1000\n\n"
            events = link.events()
            try:
                while not await request.is_disconnected():
                    try:
                        ev = await asyncio.wait_for(anext(events), 15.0)
                    except TimeoutError:
                        yield b": keep-alive\n\n"
                        continue
                    yield f"event: {ev['kind']}\ndata: {json.dumps(ev)}\n\n".encode()
            finally:
                await events.aclose()

        return StreamingResponse(
            gen(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"}
        )

    # -- actions --------------------------------------------------------------------------

    async def act(request: Request, name: str, **args: Any) -> JSONResponse:
        need(request, action=True)
        try:
            reply = await link.command(name, **args)
        except SessionUnavailable as e:
            raise HTTPException(503, str(e)) from None
        with contextlib.suppress(SessionUnavailable):
            await link.refresh()  # the page shows the new state at once
        return JSONResponse(reply, status_code=200 if reply["ok"] else 409)

    @app.post("/api/halt")
    async def halt(request: Request) -> JSONResponse:
        body = await _json(request)
        return await act(request, "halt", reason=str(body.get("reason") or "ops dashboard"))

    @app.post("/api/flatten")
    async def flatten(request: Request) -> JSONResponse:
        return await act(request, "flatten")

    # -- metrics and predictions ----------------------------------------------------------

    @app.get("/metrics")
    async def prom(request: Request) -> Response:
        need(request)
        return Response(exposition(metrics), media_type="text/plain; version=0.0.4")

    predict_route: Callable[[Request], Awaitable[JSONResponse]] | None = None
    if cfg.registry_root is not None:
        from pycontrol.service.predict import Predictor

        predictor = Predictor(cfg.registry_root)

        async def predict(request: Request) -> JSONResponse:
            need(request)
            return JSONResponse(*predictor.handle(await _json(request)))

        predict_route = predict
        app.add_api_route("/predict", predict_route, methods=["POST"])

    return app


def _data(msgs: Any) -> list[dict[str, Any]]:
    return [x["data"] for x in msgs]


async def _json(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw:
        return {}
    try:
        body = json.loads(raw)
    except json.JSONDecodeError as e:
        raise HTTPException(400, f"body is not JSON: {e}") from None
    if not isinstance(body, dict):
        raise HTTPException(400, "body must be a JSON object")
    return body
