"""TradingView webhook alerts into a running session: the payload schema, authentication
(shared secret, optional HMAC), idempotency and rate limits, and the ASGI app. The session
side (journal, engine push, verdict) is :mod:`pycontrol.session.alerts`."""
