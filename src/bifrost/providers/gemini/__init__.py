"""Google Gemini (AI Studio): pure translation in `translate.py` and `schema.py`, HTTP in `provider.py`."""
