-- FAQs: alternative phrasings, a version per write, and the lexemes the lexical score reads.
--
-- An FAQ's vectors in Chroma (one per question, per phrasing and per answer) are written under
-- ids that name the FAQ's version, `<faq id>:<version>:q|p<n>|a`, before the row says that
-- version; matching ignores a vector whose version is not the row's. So a write that fails
-- half-way (a bulk import of thousands) leaves the FAQs as they were, vectors included.
-- Version 0 is a row written before versions: the knowledge service re-writes its vectors when
-- it starts (cortex.knowledge.service.faq_upgrader).

ALTER TABLE faqs ADD COLUMN phrasings text[] NOT NULL DEFAULT '{}';
ALTER TABLE faqs ADD COLUMN version bigint NOT NULL DEFAULT 0;

-- One sequence for every FAQ write: two concurrent writers never share a version.
CREATE SEQUENCE faq_versions START 1;

-- The lexemes of the question and its phrasings (Postgres' english configuration, as the chunks'
-- BM25 index): the lexical feature of FAQ matching counts which of the visitor's terms an FAQ has.
-- SQL-standard body: bound when created, so a caller's search_path cannot change it.
CREATE FUNCTION faq_terms(question text, phrasings text[]) RETURNS text[]
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN tsvector_to_array(to_tsvector('english'::regconfig, question || ' ' || array_to_string(phrasings, ' ')));

ALTER TABLE faqs ADD COLUMN terms text[] GENERATED ALWAYS AS (faq_terms(question, phrasings)) STORED;
CREATE INDEX faqs_terms ON faqs USING gin (terms);
CREATE INDEX faqs_unversioned ON faqs (bot_id) WHERE version = 0;

-- A bulk FAQ import is a source of its own: its upload, its line errors, its job and progress.
ALTER TABLE sources DROP CONSTRAINT sources_kind_check;
ALTER TABLE sources ADD CONSTRAINT sources_kind_check
    CHECK (kind IN ('file', 'collection', 'crawl', 'faq', 'faq_import'));
