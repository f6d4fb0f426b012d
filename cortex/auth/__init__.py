"""auth: accounts, workspaces (tenants), roles, sessions, tokens, API and widget keys."""
