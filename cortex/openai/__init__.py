"""The OpenAI-compatible door into core's chat pipeline (`/v1/chat/completions`, `/v1/models`)."""
