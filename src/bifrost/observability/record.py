"""What the gateway knows about one finished request: built on the request path, consumed off it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class Attempt:
    """One upstream call: a provider, a key (by name), its outcome."""

    provider: str
    model: str
    key_name: str | None
    status: int  # upstream HTTP status, or the gateway's status for transport failures (502/504)
    error: str | None = None  # short message, never a secret
    latency_s: float = 0.0


@dataclass(slots=True)
class RequestRecord:
    request_id: str
    started_at: float  # time.time() when the request arrived
    route: str  # "openai" | "anthropic" | "genai"
    method: str  # Bifrost's metric label: "chat" | "text" | "embedding" | "messages" | "list_models"
    stream: bool = False
    model_requested: str | None = None
    provider: str | None = None  # who answered (or the last one tried)
    model: str | None = None  # the model that answered
    key_name: str | None = None
    virtual_key: str | None = None  # the governance virtual key's id (never its value)
    status: int = 200
    latency_s: float = 0.0  # total time in the gateway, arrival to last byte
    upstream_s: float = 0.0  # time spent waiting on upstream calls (all attempts)
    ttft_s: float | None = None  # streams: arrival to first chunk sent
    stream_chunks: int = 0
    stream_duration_s: float = 0.0  # streams: first chunk to last chunk
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    cache_write_tokens: int = 0  # prompt tokens written to the provider's prompt cache (part of prompt_tokens)
    retries: int = 0
    fallback_index: int = 0
    error_type: str | None = None
    error_message: str | None = None
    attempts: list[Attempt] = field(default_factory=list)
    prom_labels: dict[str, str] = field(default_factory=dict)  # client.prometheus_labels valued by x-bf-prom-*
    request_body: Any = None  # parsed request (content logging), None when disabled
    response_content: str | None = None  # assistant text (content logging), None when disabled
