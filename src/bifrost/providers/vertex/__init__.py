"""Vertex AI: Anthropic (rawPredict) and Gemini models on Google Cloud, service-account auth."""
