"""The Tradovate broker: REST and WebSocket client, contracts, orders and the session venue."""
