"""Typed, validated configuration: what `load_config` produces from config.json.

Everything here is built once at start-up; the request path only reads it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bifrost.mcp.config import MCPConfig

# Providers that speak OpenAI's wire format; their name is also their default base URL's owner.
OPENAI_COMPATIBLE = (
    "openai",
    "mistral",
    "groq",
    "ollama",
    "openrouter",
    "cerebras",
    "xai",
    "perplexity",
    "fireworks",
    "vllm",
)
BUILTIN_PROVIDERS = (*OPENAI_COMPATIBLE, "anthropic", "gemini", "bedrock", "azure", "vertex", "cohere")
# Base wire types a custom provider may declare in custom_provider_config.base_provider_type.
BASE_PROVIDER_TYPES = ("openai", "anthropic", "gemini", "bedrock", "azure", "vertex", "cohere")
# Providers that need no API key unless the config gives one.
KEYLESS_BY_DEFAULT = ("ollama", "vllm")


@dataclass(slots=True)
class KeyConfig:
    """One upstream API key. `value` is the secret: it never appears in repr, logs or errors."""

    name: str  # from config, else "key-1", "key-2", ... in config order (1-based)
    value: str | None  # resolved secret; None when it named a missing env var (key disabled)
    env_var: str | None  # the variable named by "env.NAME", if any (safe to print)
    models: tuple[str, ...] = ()  # empty means: serves every model of its provider ("*" is normalised away)
    weight: float = 1.0
    # model name clients send -> the model the provider is asked for when this key serves the request
    # (Bifrost's static key aliases; alias names count as listed models)
    aliases: dict[str, str] = field(default_factory=dict)
    # azure_key_config / bedrock_key_config / vertex_key_config, validated (config/key_configs.py); may hold secrets
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def usable(self) -> bool:
        return self.value is not None

    def serves(self, model: str) -> bool:
        return not self.models or not model or model in self.models  # no model (files, batches): any key

    def __repr__(self) -> str:  # never the value
        return (
            f"KeyConfig(name={self.name!r}, env_var={self.env_var!r}, models={self.models!r}, "
            f"weight={self.weight})"
        )


@dataclass(slots=True)
class NetworkConfig:
    base_url: str | None = None  # None: the provider's public default
    extra_headers: dict[str, str] = field(default_factory=dict)
    default_request_timeout_in_seconds: float = 30.0
    stream_idle_timeout_in_seconds: float = 60.0
    max_retries: int = 0
    retry_backoff_initial_ms: int = 500  # "retry_backoff_initial" accepted as an alias
    retry_backoff_max_ms: int = 5000  # "retry_backoff_max" accepted as an alias


@dataclass(slots=True)
class ConcurrencyConfig:
    concurrency: int = 1000
    buffer_size: int = 5000


@dataclass(slots=True)
class CustomProviderConfig:
    base_provider_type: str
    is_key_less: bool = False


@dataclass(slots=True)
class ProviderConfig:
    name: str
    # wire family: "openai" for the OpenAI-compatible family and custom openai ones, else the name
    base_type: str
    keys: list[KeyConfig] = field(default_factory=list)
    network: NetworkConfig = field(default_factory=NetworkConfig)
    concurrency: ConcurrencyConfig = field(default_factory=ConcurrencyConfig)
    custom: CustomProviderConfig | None = None
    is_key_less: bool = False
    # provider specifics (azure deployments, bedrock region)
    meta_config: dict[str, Any] = field(default_factory=dict)
    # Responses API: "native" (the upstream has /v1/responses: passed through) or "via_chat" (translated)
    responses: str = "via_chat"

    @property
    def models(self) -> list[str]:
        """Models listed by the keys, in config order, without duplicates."""
        seen: dict[str, None] = {}
        for key in self.keys:
            for model in (*key.models, *key.aliases):
                seen.setdefault(model, None)
        return list(seen)


@dataclass(slots=True)
class ClientConfig:
    drop_excess_requests: bool = False
    allow_direct_keys: bool = False
    enforce_auth_on_inference: bool = False
    max_request_body_size_mb: float = 100.0
    prometheus_labels: list[str] = field(default_factory=list)
    disable_content_logging: bool = False
    # slow or idle client connections are closed (CONTRACT §2): the request head must arrive within
    # header_read_timeout_seconds, the body within body_read_timeout_seconds, and an idle keep-alive
    # connection is closed after keepalive_timeout_seconds
    header_read_timeout_seconds: float = 10.0
    body_read_timeout_seconds: float = 60.0
    keepalive_timeout_seconds: float = 75.0


@dataclass(slots=True)
class AuthConfig:
    """The admin credential guarding /api/* (and /metrics when protect_metrics). Never printed."""

    is_enabled: bool = False
    admin_username: str | None = None
    admin_password: str | None = None
    protect_metrics: bool = False
    # serve /api/* without a credential even on a non-loopback address (an explicit opt-out)
    allow_unauthenticated_api: bool = False

    def __repr__(self) -> str:  # never the password
        return f"AuthConfig(is_enabled={self.is_enabled}, admin_username={self.admin_username!r}, ...)"


@dataclass(slots=True)
class LogsStoreConfig:
    enabled: bool = False
    type: str = "sqlite"  # "sqlite" | "postgres"
    path: str = "./logs.db"  # sqlite
    url: str | None = None  # postgres
    log_retention_days: int = 30
    flush_interval_ms: int = 500  # records younger than this can be lost if the process is killed
    state_dir: str | None = None  # crash-loss counter files (default: beside the SQLite file; see crashcount)


@dataclass(slots=True)
class StateStoreConfig:
    type: str = "memory"  # "memory" | "redis"
    url: str | None = None
    fail_open: bool = True  # store unreachable: serve (and log) rather than answer 503


@dataclass(slots=True)
class ResponsesStoreConfig:
    ttl_s: float = 30 * 86400.0  # how long a served response stays available to previous_response_id


@dataclass(slots=True)
class Config:
    providers: dict[str, ProviderConfig] = field(default_factory=dict)  # config order kept
    fallbacks: dict[str, list[str]] = field(default_factory=dict)
    client: ClientConfig = field(default_factory=ClientConfig)
    logs_store: LogsStoreConfig = field(default_factory=LogsStoreConfig)
    state_store: StateStoreConfig = field(default_factory=StateStoreConfig)
    responses_store: ResponsesStoreConfig = field(default_factory=ResponsesStoreConfig)
    auth_config: AuthConfig = field(default_factory=AuthConfig)
    mcp: MCPConfig | None = None  # bifrost.mcp.config reads and validates it
    governance: dict[str, Any] | None = None
    governance_rules: Any = None  # bifrost.governance.config.GovernanceConfig when the section is present
    warnings: list[str] = field(default_factory=list)  # start-up warnings (never secret values)
    source: str | None = None  # path it was loaded from
