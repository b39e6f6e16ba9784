"""The notifications service: sessions, training and the registry post events (fills, halts,
breaker trips, denial spikes, feed gaps, drift, promotions, start/stop, errors) to
``pycontrol notify serve``, which queues them durably (sqlite WAL) and delivers them to
Telegram (Bot API ``sendMessage``) and webhooks with retry, backoff and rate limiting.
See docs/operations.md."""
