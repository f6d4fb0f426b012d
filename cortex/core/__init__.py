"""core: bots, conversations, messages, visitor profiles and the chat pipeline, with its two other
doors: live conversation streams (`live_api`) and the OpenAI-compatible API (`openai_api`)."""
