"""The momentum scanner (``pycontrol scan``): scores a futures universe 0-100 from the Rust
features and keeps the instruments worth attention (:mod:`pycontrol.scan.score`)."""
