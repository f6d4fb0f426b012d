-- Ray ingestion jobs (ingest/) log in as cortex_knowledge_jobs, created by `cortex migrate`
-- beside the service's role (JOB_ROLES in cortex/settings.py). A job reads its source and writes
-- that source's chunks and their terms, the bot's index statistics, FAQs, crawl pages, progress,
-- its job record and the knowledge.changed event. It cannot delete a source or a bot, create a
-- job, touch the bus's bookkeeping, or reach any other schema.
-- A table a job must write, added later, gets its grant in the migration that adds it.
GRANT USAGE ON SCHEMA knowledge TO cortex_knowledge_jobs;

-- INSERT: a bot's FAQ source is created by the first FAQ import that needs it.
GRANT SELECT, INSERT, UPDATE ON sources TO cortex_knowledge_jobs;
GRANT SELECT, UPDATE ON ingest_jobs TO cortex_knowledge_jobs;
GRANT SELECT, INSERT, UPDATE, DELETE ON chunks, chunk_terms, bot_index_stats, faqs, crawl_pages
    TO cortex_knowledge_jobs;
GRANT USAGE ON SEQUENCE faq_versions TO cortex_knowledge_jobs;

GRANT INSERT ON outbox TO cortex_knowledge_jobs;
GRANT USAGE ON SEQUENCE outbox_seq_seq TO cortex_knowledge_jobs;
