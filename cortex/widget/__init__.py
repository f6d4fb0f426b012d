"""widget: the embed script, the chat UI, previews and the owner dashboard (static)."""
