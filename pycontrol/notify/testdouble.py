"""A Telegram Bot API test double on loopback: the real HTTP API's shape for the methods the
notifications service uses, so the real client library (python-telegram-bot) talks to it.

- ``/bot<token>/getMe`` and ``/bot<token>/sendMessage`` (JSON or form-encoded bodies, GET
  or POST, as the Bot API accepts); any other method: 404 ``Not Found``.
- A wrong token: 401 ``Unauthorized``; no chat id: 400 ``Bad Request: chat not found``;
  empty text: 400 ``Bad Request: message text is empty``; text over 4096 characters:
  400 ``Bad Request: message is too long``.
- Fault injection: :meth:`TelegramDouble.flood` answers the next N sendMessage calls with
  429 ``Too Many Requests: retry after S`` and ``parameters.retry_after = S``;
  :meth:`fail_next` with any error code.

Every request is logged (time, method, HTTP status); delivered messages are in
:attr:`messages`. Thread-safe; ``pycontrol notify test-telegram`` runs it standalone.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse


@dataclass(frozen=True)
class Message:
    message_id: int
    chat_id: str
    text: str
    at: float


class TelegramDouble:
    def __init__(self, token: str, chat_ids: tuple[str, ...] = ("1001",), port: int = 0) -> None:
        self.token = token
        self.chat_ids = set(chat_ids)
        self.messages: list[Message] = []
        self.requests: list[tuple[float, str, int]] = []  # (time, method, status)
        self._lock = threading.Lock()
        self._flood: list[int] = []  # retry_after of each coming 429
        self._fail: list[tuple[int, str]] = []
        double = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass  # the token is in every path: nothing is logged

            def do_GET(self) -> None:
                double._handle(self, b"")

            def do_POST(self) -> None:
                n = int(self.headers.get("Content-Length") or 0)
                double._handle(self, self.rfile.read(n))

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self.server.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}/bot"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> TelegramDouble:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(5)

    def flood(self, n: int, retry_after: int) -> None:
        with self._lock:
            self._flood += [retry_after] * n

    def fail_next(self, code: int, description: str) -> None:
        with self._lock:
            self._fail.append((code, description))

    def texts(self) -> list[str]:
        with self._lock:
            return [m.text for m in self.messages]

    def statuses(self, method: str = "sendMessage") -> list[tuple[float, int]]:
        with self._lock:
            return [(t, s) for t, m, s in self.requests if m == method]

    # -- the API --------------------------------------------------------------------------

    def _handle(self, h: BaseHTTPRequestHandler, raw: bytes) -> None:
        url = urlparse(h.path)
        parts = url.path.strip("/").split("/")
        if len(parts) != 2 or not parts[0].startswith("bot"):
            return self._error(h, "?", 404, "Not Found")
        token, method = parts[0][3:], parts[1]
        if token != self.token:
            return self._error(h, method, 401, "Unauthorized")
        params = self._params(h, url.query, raw)
        if method == "getMe":
            me = {
                "id": 4242,
                "is_bot": True,
                "first_name": "pycontrol-double",
                "username": "pycontrol_double_bot",
                "can_join_groups": False,
                "can_read_all_group_messages": False,
                "supports_inline_queries": False,
            }
            return self._reply(h, method, 200, {"ok": True, "result": me})
        if method != "sendMessage":
            return self._error(h, method, 404, "Not Found")
        with self._lock:
            flood = self._flood.pop(0) if self._flood else None
            fail = self._fail.pop(0) if self._fail and flood is None else None
        if flood is not None:
            return self._reply(h, method, 429, {
                "ok": False, "error_code": 429,
                "description": f"Too Many Requests: retry after {flood}",
                "parameters": {"retry_after": flood}})  # fmt: skip
        if fail is not None:
            return self._error(h, method, fail[0], fail[1])
        chat, text = str(params.get("chat_id", "")), str(params.get("text", ""))
        if chat not in self.chat_ids:
            return self._error(h, method, 400, "Bad Request: chat not found")
        if not text.strip():
            return self._error(h, method, 400, "Bad Request: message text is empty")
        if len(text) > 4096:
            return self._error(h, method, 400, "Bad Request: message is too long")
        with self._lock:
            msg = Message(len(self.messages) + 1, chat, text, time.time())
            self.messages.append(msg)
        result = {"message_id": msg.message_id, "date": int(msg.at),
                  "chat": {"id": int(chat) if chat.lstrip("-").isdigit() else 0, "type": "private"},
                  "from": {"id": 4242, "is_bot": True, "first_name": "pycontrol-double"},
                  "text": text}  # fmt: skip
        return self._reply(h, method, 200, {"ok": True, "result": result})

    @staticmethod
    def _params(h: BaseHTTPRequestHandler, query: str, raw: bytes) -> dict[str, Any]:
        params: dict[str, Any] = {k: v[0] for k, v in parse_qs(query).items()}
        ctype = h.headers.get("Content-Type", "")
        if raw and "json" in ctype:
            try:
                body = json.loads(raw)
                if isinstance(body, dict):
                    params.update(body)
            except ValueError:
                pass
        elif raw:
            params.update({k: v[0] for k, v in parse_qs(raw.decode(errors="replace")).items()})
        return params

    def _error(self, h: BaseHTTPRequestHandler, method: str, code: int, text: str) -> None:
        self._reply(h, method, code, {"ok": False, "error_code": code, "description": text})

    def _reply(
        self, h: BaseHTTPRequestHandler, method: str, status: int, body: dict[str, Any]
    ) -> None:
        with self._lock:
            self.requests.append((time.time(), method, status))
        data = json.dumps(body).encode()
        h.send_response(status)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)
