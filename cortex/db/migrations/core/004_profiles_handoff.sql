-- Visitor profiles: where each field came from, so a weaker guess never overwrites what the
-- visitor (or a member) said, and when the profile was erased (GDPR).
ALTER TABLE visitor_profiles ADD COLUMN field_sources jsonb NOT NULL DEFAULT '{}';
ALTER TABLE visitor_profiles ADD COLUMN erased_at timestamptz;
CREATE INDEX visitor_profiles_workspace ON visitor_profiles (workspace_id, updated_at DESC);

-- Export and erasure find a profile's conversations by profile and by visitor.
CREATE INDEX conversations_profile ON conversations (profile_id) WHERE profile_id IS NOT NULL;
CREATE INDEX conversations_visitor ON conversations (workspace_id, visitor_id) WHERE visitor_id IS NOT NULL;
