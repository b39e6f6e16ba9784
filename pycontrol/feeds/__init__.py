"""Market-data feeds into the engine (Databento Live)."""
