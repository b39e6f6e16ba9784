"""`pycontrol notify`: the notifications service (`serve`), a Telegram Bot API test double
on loopback (`test-telegram`) and a one-off event (`send`). Imports happen where they run."""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from pycontrol.commands import add_command, add_sub


def register(sub: Any) -> None:
    p = add_command(sub, "notify")
    nsub = p.add_subparsers(dest="notify_command", required=True, metavar="SUBCOMMAND")
    s = add_sub(
        nsub,
        "serve",
        "run the notifications service",
        "pycontrol notify serve --config configs/notify/local-double.toml --telegram-double",
    )
    s.add_argument("--config", required=True, help="configs/notify/<name>.toml")
    s.add_argument("--port", type=int, default=None, help="override [notify] port (0: any)")
    s.add_argument(
        "--telegram-double",
        action="store_true",
        help="also run the Telegram Bot API double at [telegram] base_url (loopback demo)",
    )
    t = add_sub(
        nsub,
        "test-telegram",
        "a Telegram Bot API double on 127.0.0.1",
        "pycontrol notify test-telegram --port 8473 --seconds 60",
    )
    t.add_argument("--port", type=int, default=8473)
    t.add_argument("--token-env", default="TELEGRAM_BOT_TOKEN", help="the token it accepts")
    t.add_argument("--chat-id", default="1001")
    t.add_argument("--seconds", type=float, default=0.0, help="stop after S seconds (0: never)")
    e = add_sub(
        nsub,
        "send",
        "post one event to a running service",
        "pycontrol notify send --url http://127.0.0.1:8472 halt 'halted: news'",
    )
    e.add_argument("--url", required=True, help="http://127.0.0.1:PORT")
    e.add_argument("event")
    e.add_argument("text")
    p.set_defaults(func=_run)


def _start_double(cfg: Any) -> None:
    """The double in this process, on the port of ``[telegram] base_url`` (which must be
    loopback), printing each message it receives."""
    import threading
    from urllib.parse import urlparse

    from pycontrol.notify.testdouble import TelegramDouble

    tg = cfg.telegram
    url = urlparse(tg.base_url if tg else "")
    if tg is None or url.hostname != "127.0.0.1" or not url.port or not tg.token():
        env = tg.token_env if tg else "TELEGRAM_BOT_TOKEN"
        need = "[telegram] base_url = http://127.0.0.1:PORT/bot"
        print(f"error: --telegram-double needs {need} and ${env} set", file=sys.stderr)
        raise SystemExit(2)
    d = TelegramDouble(tg.token(), (tg.chat_id,), url.port).start()
    print(f"telegram double on http://127.0.0.1:{url.port}/bot<token>/", flush=True)

    def echo() -> None:
        seen = 0
        while True:
            time.sleep(0.2)
            for m in d.messages[seen:]:
                print(f"telegram -> chat {m.chat_id}: {m.text}", flush=True)
            seen = len(d.messages)

    threading.Thread(target=echo, daemon=True).start()


def _run(args: argparse.Namespace) -> int:
    if args.notify_command == "serve":
        from pycontrol.notify.config import NotifyConfig
        from pycontrol.notify.service import serve

        cfg = NotifyConfig.load(args.config)
        if args.telegram_double:
            _start_double(cfg)
        return serve(cfg, args.port)
    if args.notify_command == "test-telegram":
        import os

        from pycontrol.notify.testdouble import TelegramDouble

        token = os.environ.get(args.token_env, "")
        if not token:
            print(f"error: set {args.token_env} (the token the double accepts)", file=sys.stderr)
            return 2
        d = TelegramDouble(token, (args.chat_id,), args.port).start()
        print(f"telegram double on {d.base_url}<token>/ (chat {args.chat_id})", flush=True)
        seen = 0
        end = time.monotonic() + args.seconds if args.seconds > 0 else None
        try:
            while end is None or time.monotonic() < end:
                time.sleep(0.2)
                for m in d.messages[seen:]:
                    print(json.dumps({"chat_id": m.chat_id, "text": m.text}), flush=True)
                seen = len(d.messages)
        except KeyboardInterrupt:
            pass
        finally:
            d.stop()
        return 0
    from pycontrol.notify.client import NotifyUnavailable, post_event, read_token

    try:
        print(json.dumps(post_event(args.url, read_token(), args.event, args.text, "cli")))
    except NotifyUnavailable as e:
        print(f"error: NotifyUnavailable: {e}", file=sys.stderr)
        return 2
    return 0
