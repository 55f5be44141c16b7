"""Azure OpenAI: the OpenAI wire on per-deployment URLs, with the `api-key` header."""
