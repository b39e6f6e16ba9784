"""Market data: synthetic generation, ingestion and loaders."""
