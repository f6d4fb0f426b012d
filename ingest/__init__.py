"""Ray job entrypoints: file ingestion, crawling, analytics rollups, pattern mining."""
