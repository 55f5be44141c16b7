"""Cohere v2: chat (messages, tools, streaming events) and embed."""
