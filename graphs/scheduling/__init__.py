"""The scheduling graph: appointment booking from the chat (state, nodes, prompts, graph)."""
