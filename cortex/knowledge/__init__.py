"""knowledge: files, FAQs, crawl sources, ingestion jobs and search."""
