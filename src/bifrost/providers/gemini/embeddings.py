"""OpenAI embeddings <-> Gemini ``batchEmbedContents``; the rules are listed in
`bifrost.providers.gemini.translate` ("Embeddings")."""

from __future__ import annotations

import base64
import struct
from typing import Any

from bifrost.providers.anthropic.translate import TranslationError

JSONDict = dict[str, Any]

__all__ = ["gemini_to_openai_embeddings", "openai_to_gemini_embeddings"]


def openai_to_gemini_embeddings(body: JSONDict, model: str) -> JSONDict:
    """OpenAI embeddings request -> Gemini ``batchEmbedContents`` body."""
    value = body.get("input")
    texts = [value] if isinstance(value, str) else value
    if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
        raise TranslationError("input must be a string or a list of strings for Gemini (token arrays are not "
                               "supported)", "input")
    dimensions = body.get("dimensions")
    requests = []
    for text in texts:
        request: JSONDict = {"model": f"models/{model}", "content": {"parts": [{"text": text}]}}
        if isinstance(dimensions, int) and not isinstance(dimensions, bool):
            request["outputDimensionality"] = dimensions
        requests.append(request)
    return {"requests": requests}


def gemini_to_openai_embeddings(resp: JSONDict, model: str, encoding_format: Any = None) -> JSONDict:
    """Gemini ``batchEmbedContents`` (or ``embedContent``) answer -> OpenAI embeddings list."""
    embeddings = resp.get("embeddings")
    if not isinstance(embeddings, list):
        single = resp.get("embedding")
        embeddings = [single] if isinstance(single, dict) else []
    data = []
    for i, item in enumerate(embeddings):
        values = item.get("values") if isinstance(item, dict) else None
        values = values if isinstance(values, list) else []
        vector: Any = values
        if encoding_format == "base64":
            vector = base64.b64encode(struct.pack(f"<{len(values)}f", *values)).decode()
        data.append({"object": "embedding", "index": i, "embedding": vector})
    return {"object": "list", "data": data, "model": model, "usage": {"prompt_tokens": 0, "total_tokens": 0}}
