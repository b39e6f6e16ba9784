"""Runs the ops app under uvicorn: the token is created on first run (0600) and its path
printed, never the token itself; the bound address is printed once listening."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import uvicorn

from pycontrol.service.app import ServiceConfig, create_app
from pycontrol.service.auth import TOKEN_FILE, ensure_token
from pycontrol.session.control_auth import keys_dir


def serve(
    run_dir: Path,
    host: str = "127.0.0.1",
    port: int = 8470,
    registry_root: Path | None = None,
    poll_s: float = 1.0,
) -> int:
    token = ensure_token()
    app = create_app(
        ServiceConfig(
            run_dir=run_dir,
            token=token,
            poll_s=poll_s,
            registry_root=registry_root if registry_root and registry_root.is_dir() else None,
        )
    )
    # proto IPPROTO_TCP, or asyncio does not set TCP_NODELAY on accepted connections and every
    # keep-alive response waits ~40 ms for a delayed ACK (headers and body are two writes)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)  # connections queue from here; the address is printed once it listens
    bound = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    print(
        f"ops service on http://{host}:{bound}/ (token in {keys_dir() / TOKEN_FILE})",
        flush=True,
    )
    asyncio.run(server.serve(sockets=[sock]))
    return 0
