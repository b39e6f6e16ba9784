"""Test tooling that ships with the package, apart from the code that trades: faithful test
doubles of the peers a session talks to, and builders of small real artefacts.

- :mod:`pycontrol.testing.ib_gateway`: a TWS-API test gateway on loopback (the wire protocol
  ib_async speaks), filling through the L3 simulated exchange;
- :mod:`pycontrol.testing.tradovate_gateway`: a Tradovate API double on loopback (REST and
  the user / market data WebSockets), filling at the quote or through the L3 simulated
  exchange;
- :mod:`pycontrol.testing.models`: small, real model export folders for tests and benches.

Nothing under ``pycontrol.session`` imports these: sessions reach a gateway over a socket.
"""
