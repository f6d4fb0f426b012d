"""core: bots, conversations, messages, visitor profiles and the chat pipeline."""
