"""config.json's shape: parsed JSON in, a validated `Config` out, or a ConfigError listing every problem."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Collection, Mapping
from typing import Any
from urllib.parse import urlsplit

from bifrost.config.errors import ConfigError
from bifrost.config.key_configs import KEY_CONFIGS, key_settings, missing_key_config
from bifrost.config.model import (
    BASE_PROVIDER_TYPES,
    BUILTIN_PROVIDERS,
    KEYLESS_BY_DEFAULT,
    OPENAI_COMPATIBLE,
    AuthConfig,
    ClientConfig,
    ConcurrencyConfig,
    Config,
    CustomProviderConfig,
    KeyConfig,
    LogsStoreConfig,
    NetworkConfig,
    ProviderConfig,
    ResponsesStoreConfig,
    StateStoreConfig,
)
from bifrost.config.reader import Obj, Reader, did_you_mean, env_var_name, index, join, shown
from bifrost.mcp.config import parse_mcp


def _names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls))


ROOT_FIELDS = (
    "$schema",
    "providers",
    "fallbacks",
    "client",
    "logs_store",
    "state_store",
    "responses_store",
    "mcp",
    "governance",
    "auth_config",
)
PROVIDER_FIELDS = (
    "keys",
    "network_config",
    "concurrency_and_buffer_size",
    "custom_provider_config",
    "meta_config",
    "responses",
)
KEY_FIELDS = ("name", "value", "models", "weight", "aliases", *KEY_CONFIGS)
NETWORK_FIELDS = _names(NetworkConfig)
NETWORK_ALIASES = {  # older Bifrost spellings, same milliseconds
    "retry_backoff_initial": "retry_backoff_initial_ms",
    "retry_backoff_max": "retry_backoff_max_ms",
}
CONCURRENCY_FIELDS = _names(ConcurrencyConfig)
CUSTOM_FIELDS = _names(CustomProviderConfig)
CLIENT_FIELDS = _names(ClientConfig)
LOGS_STORE_FIELDS = ("enabled", "type", "config", "log_retention_days", "flush_interval_ms", "state_dir")
AUTH_FIELDS = _names(AuthConfig)
# Store type -> the one field of its `config` object.
LOGS_STORE_TYPES: dict[str, str | None] = {"sqlite": "path", "postgres": "url"}
STATE_STORE_TYPES: dict[str, str | None] = {"memory": None, "redis": "url"}
# Fields users put directly in a provider section that belong one level down.
_PROVIDER_SUBFIELDS = {
    **{name: "network_config" for name in (*NETWORK_FIELDS, *NETWORK_ALIASES)},
    **{name: "concurrency_and_buffer_size" for name in CONCURRENCY_FIELDS},
    **{name: "custom_provider_config" for name in CUSTOM_FIELDS},
    **{name: "each entry of keys" for name in KEY_FIELDS},
}
# Labels every Bifrost metric already has, or that Prometheus reserves; client labels may not reuse them.
RESERVED_PROMETHEUS_LABELS = ("provider", "model", "method", "status_code", "le", "quantile")

_PROMETHEUS_LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


def build_config(data: Any, env: Mapping[str, str], source: str | None = None) -> Config:
    """Validate parsed config JSON. Raises ConfigError listing every problem found."""
    r = Reader(env)
    config = Config(source=source)
    root = r.obj(data, "", ROOT_FIELDS)
    if root is not None:
        if "providers" in root:
            config.providers = _providers(r, root.get("providers"), root.path("providers"))
        else:
            r.error("providers", "is required: an object of provider name -> provider settings")
        configured = list(root.get("providers")) if isinstance(root.get("providers"), dict) else []
        if "fallbacks" in root:
            config.fallbacks = _fallbacks(r, root.get("fallbacks"), root.path("fallbacks"), configured)
        config.client = _client(r, root.obj("client", CLIENT_FIELDS))
        config.logs_store = _logs_store(r, root.obj("logs_store", LOGS_STORE_FIELDS))
        config.state_store = _state_store(r, root.obj("state_store", ("type", "config", "fail_open")))
        config.responses_store = _responses_store(r, root.obj("responses_store", ("ttl",)))
        config.auth_config = _auth(r, root.obj("auth_config", AUTH_FIELDS))
        config.mcp = parse_mcp(r, root)
        config.governance = _free_object(r, root, "governance")
        if config.governance is not None:
            from bifrost.governance.config import read_governance

            config.governance_rules = read_governance(r, config.governance, root.path("governance"), configured)
    if r.problems:
        raise ConfigError(r.problems)
    config.warnings = r.warnings
    return config


# --- providers ---------------------------------------------------------------------------------------


def _providers(r: Reader, value: Any, path: str) -> dict[str, ProviderConfig]:
    if not isinstance(value, dict):
        r.type_error(path, "an object of provider name -> provider settings", value)
        return {}
    if not value:
        r.warnings.append("no providers configured")
    providers: dict[str, ProviderConfig] = {}
    for name, settings in value.items():
        provider = _provider(r, name, settings, join(path, name))
        if provider is not None:
            providers[name] = provider
    return providers


def _provider(r: Reader, name: str, value: Any, path: str) -> ProviderConfig | None:
    sec = r.obj(value, path, PROVIDER_FIELDS, elsewhere=_PROVIDER_SUBFIELDS)
    if sec is None:
        return None
    _check_provider_name(r, name, path, custom_given="custom_provider_config" in sec)
    custom = _custom(r, sec.obj("custom_provider_config", CUSTOM_FIELDS))
    base_type = custom.base_provider_type if custom is not None else "openai" if name in OPENAI_COMPATIBLE else name
    keys = _keys(r, sec, base_type, keyless=custom is not None and custom.is_key_less)
    is_key_less = custom.is_key_less if custom is not None else name in KEYLESS_BY_DEFAULT and not keys
    if not keys and not is_key_less:
        r.warnings.append(
            f"provider {name} has no keys; requests to it need a direct key (client.allow_direct_keys)"
        )
    return ProviderConfig(
        name=name,
        base_type=base_type,
        keys=keys,
        network=_network(r, sec.obj("network_config", NETWORK_FIELDS, NETWORK_ALIASES)),
        concurrency=_concurrency(r, sec.obj("concurrency_and_buffer_size", CONCURRENCY_FIELDS)),
        custom=custom,
        is_key_less=is_key_less,
        meta_config=_meta_config(r, sec),
        responses=_responses_mode(r, sec, name, base_type),
    )


RESPONSES_MODES = ("native", "via_chat")


def _responses_mode(r: Reader, sec: Obj, name: str, base_type: str) -> str:
    """OpenAI itself and Azure OpenAI have the Responses API; every other provider is translated unless the
    config says so."""
    default = "native" if name == "openai" or base_type == "azure" else "via_chat"
    if "responses" not in sec:
        return default
    mode = r.choice(sec.get("responses"), sec.path("responses"), RESPONSES_MODES)
    if mode == "native" and base_type not in ("openai", "azure"):
        r.error(sec.path("responses"), f"'native' needs an OpenAI-compatible provider ({name} is {base_type})")
        return default
    return mode or default


def _check_provider_name(r: Reader, name: str, path: str, *, custom_given: bool) -> None:
    if not name:
        r.error(path, "provider name must not be empty")
    elif "/" in name:
        r.error(path, "provider name must not contain '/' (it separates provider and model: openai/gpt-4o)")
    elif name in BUILTIN_PROVIDERS and custom_given:
        r.error(
            join(path, "custom_provider_config"),
            f"'{name}' is a built-in provider; custom_provider_config is only for providers with other names",
        )
    elif name not in BUILTIN_PROVIDERS and not custom_given:
        r.error(
            path,
            f"unknown provider '{name}'{did_you_mean(name, BUILTIN_PROVIDERS) or '.'} "
            f"Built-in providers: {', '.join(BUILTIN_PROVIDERS)}; "
            "any other name needs custom_provider_config with base_provider_type",
        )


def _custom(r: Reader, sec: Obj | None) -> CustomProviderConfig | None:
    if sec is None:
        return None
    if "base_provider_type" not in sec:
        r.error(sec.path("base_provider_type"), f"is required: one of {', '.join(BASE_PROVIDER_TYPES)}")
        return None
    base = r.choice(sec.get("base_provider_type"), sec.path("base_provider_type"), BASE_PROVIDER_TYPES)
    if base is None:
        return None
    return CustomProviderConfig(base_provider_type=base, is_key_less=sec.boolean("is_key_less", False))


def _keys(r: Reader, sec: Obj, base_type: str, *, keyless: bool) -> list[KeyConfig]:
    if "keys" not in sec:
        return []
    value, path = sec.get("keys"), sec.path("keys")
    if not isinstance(value, list):
        r.type_error(path, "an array of keys", value)
        return []
    keys: list[KeyConfig] = []
    first_with_name: dict[str, int] = {}
    for i, item in enumerate(value):
        key_path = index(path, i)
        key = _key(r, item, key_path, f"key-{i + 1}", base_type, keyless=keyless)
        if key is None:
            continue
        if key.name in first_with_name:
            first = first_with_name[key.name]
            r.error(join(key_path, "name"), f"duplicate key name '{key.name}' (keys[{first}] has it too)")
        first_with_name.setdefault(key.name, i)
        keys.append(key)
    return keys


def _key(
    r: Reader, value: Any, path: str, default_name: str, base_type: str, *, keyless: bool
) -> KeyConfig | None:
    sec = r.obj(value, path, KEY_FIELDS)
    if sec is None:
        return None
    settings, credential_inside = key_settings(r, sec, base_type)
    keyless = keyless or credential_inside
    if not settings and (problem := missing_key_config(base_type)) is not None:
        r.warnings.append(f"{path}: {problem}")
    name = sec.string("name", default_name) or default_name
    if "name" in sec and sec.get("name") == "":
        r.error(sec.path("name"), "must not be empty (leave it out to get the default name)")
    models = sec.strings("models")
    key = KeyConfig(
        name=name,
        value=None,
        env_var=None,
        models=() if "*" in models else tuple(dict.fromkeys(models)),
        weight=sec.number("weight", 1.0, gt=0),
        settings=settings,
    )
    if not key.models and settings.get("deployments"):
        key.models = tuple(settings["deployments"])  # a deployment map names the models the key serves
    if "aliases" in sec:
        key.aliases = _aliases(r, sec.get("aliases"), sec.path("aliases"))
        if key.models:  # a restricted key serves its alias names too
            key.models = tuple(dict.fromkeys((*key.models, *key.aliases)))
    raw = sec.get("value")
    if raw is None:
        if keyless:
            key.value = ""
        else:
            r.error(sec.path("value"), "is required: the API key, or 'env.NAME' to read it from a variable")
    elif not isinstance(raw, str):
        r.type_error(sec.path("value"), "a string", raw)
    elif (var := env_var_name(raw)) is None:
        if raw == "" and not keyless:
            r.error(sec.path("value"), "must not be empty")
        key.value = raw
    else:
        key.env_var = var
        key.value = r.env.get(var) or None
        if key.value is None:
            state = "is empty" if var in r.env else "is not set"
            r.warnings.append(f"{path} ({name}): environment variable {var} {state}; key disabled")
    return key


def _aliases(r: Reader, value: Any, path: str) -> dict[str, str]:
    """A key's ``aliases``: model name the client sends -> the provider's model id (no provider prefix)."""
    if not isinstance(value, dict):
        r.type_error(path, 'an object of alias -> provider model, as in {"claude-sonnet-4-5": "gpt-4o"}', value)
        return {}
    aliases: dict[str, str] = {}
    for alias, target in value.items():
        item_path = join(path, alias)
        model = r.string(target, item_path)
        if not alias:
            r.error(item_path, "alias name must not be empty")
        elif model == "":
            r.error(item_path, "must not be empty: the model this provider is asked for")
        elif model is not None:
            aliases[alias] = model
    return aliases


def _network(r: Reader, sec: Obj | None) -> NetworkConfig:
    default = NetworkConfig()
    if sec is None:
        return default
    network = NetworkConfig(
        base_url=_url(r, sec, "base_url", ("http", "https")),
        extra_headers=_headers(r, sec.get("extra_headers"), sec.path("extra_headers")),
        default_request_timeout_in_seconds=sec.number(
            "default_request_timeout_in_seconds", default.default_request_timeout_in_seconds, gt=0
        ),
        stream_idle_timeout_in_seconds=sec.number(
            "stream_idle_timeout_in_seconds", default.stream_idle_timeout_in_seconds, gt=0
        ),
        max_retries=sec.integer("max_retries", default.max_retries, ge=0),
        retry_backoff_initial_ms=sec.integer(
            "retry_backoff_initial_ms", default.retry_backoff_initial_ms, ge=0
        ),
        retry_backoff_max_ms=sec.integer("retry_backoff_max_ms", default.retry_backoff_max_ms, ge=0),
    )
    if network.base_url is not None:
        network.base_url = network.base_url.rstrip("/")
    if network.retry_backoff_initial_ms > network.retry_backoff_max_ms:
        r.error(
            sec.path("retry_backoff_initial_ms"),
            f"must be <= retry_backoff_max_ms ({network.retry_backoff_max_ms}), "
            f"got {network.retry_backoff_initial_ms}",
        )
    return network


def _headers(r: Reader, value: Any, path: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        r.type_error(path, "an object of header name -> value", value)
        return {}
    headers: dict[str, str] = {}
    for name, raw in value.items():
        header_path = join(path, name)
        text = r.string(raw, header_path)
        if not _HEADER_NAME.fullmatch(name):
            r.error(header_path, f"{name!r} is not a valid HTTP header name")
        elif text is not None and ("\r" in text or "\n" in text):
            r.error(header_path, "header value must not contain line breaks")
        elif text is not None:
            headers[name] = text
    return headers


def _concurrency(r: Reader, sec: Obj | None) -> ConcurrencyConfig:
    default = ConcurrencyConfig()
    if sec is None:
        return default
    limits = ConcurrencyConfig(
        concurrency=sec.integer("concurrency", default.concurrency, ge=1),
        buffer_size=sec.integer("buffer_size", default.buffer_size, ge=0),
    )
    if limits.buffer_size < limits.concurrency:
        given = "" if "buffer_size" in sec else " (the default)"
        r.error(
            sec.path("buffer_size"),
            f"must be >= concurrency ({limits.concurrency}), got {limits.buffer_size}{given}",
        )
    return limits


def _meta_config(r: Reader, sec: Obj) -> dict[str, Any]:
    if "meta_config" not in sec:
        return {}
    value, path = sec.get("meta_config"), sec.path("meta_config")
    if not isinstance(value, dict):
        r.type_error(path, "an object", value)
        return {}
    return {key: _resolve_tree(r, item, join(path, key)) for key, item in value.items()}


def _resolve_tree(r: Reader, value: Any, path: str) -> Any:
    """Free-form JSON with every `env.NAME` string resolved."""
    if isinstance(value, str):
        return r.string(value, path)
    if isinstance(value, list):
        return [_resolve_tree(r, item, index(path, i)) for i, item in enumerate(value)]
    if isinstance(value, dict):
        return {key: _resolve_tree(r, item, join(path, key)) for key, item in value.items()}
    return value


# --- top-level sections --------------------------------------------------------------------------------


def _fallbacks(r: Reader, value: Any, path: str, providers: Collection[str]) -> dict[str, list[str]]:
    if not isinstance(value, dict):
        r.type_error(path, 'an object of model -> ["provider/model", ...]', value)
        return {}
    fallbacks: dict[str, list[str]] = {}
    for model, chain in value.items():
        model_path = join(path, model)
        if not model:
            r.error(model_path, "model name must not be empty")
        if not isinstance(chain, list):
            r.type_error(model_path, 'an array of "provider/model" strings', chain)
            continue
        fallbacks[model] = []
        for i, raw in enumerate(chain):
            target = r.string(raw, index(model_path, i))
            if target is not None and _check_fallback(r, target, raw, index(model_path, i), providers):
                fallbacks[model].append(target)
    return fallbacks


def _check_fallback(r: Reader, target: str, raw: str, path: str, providers: Collection[str]) -> bool:
    provider, _, model = target.partition("/")
    if not provider or not model:
        r.error(path, f"expected 'provider/model', as in 'anthropic/claude-3-haiku'; got {shown(raw)}")
        return False
    if provider not in providers:
        r.error(
            path,
            f"provider '{provider}' is not configured{did_you_mean(provider, providers) or '.'} "
            f"Configured providers: {', '.join(providers) or 'none'}",
        )
        return False
    return True


def _client(r: Reader, sec: Obj | None) -> ClientConfig:
    default = ClientConfig()
    if sec is None:
        return default
    return ClientConfig(
        drop_excess_requests=sec.boolean("drop_excess_requests", default.drop_excess_requests),
        allow_direct_keys=sec.boolean("allow_direct_keys", default.allow_direct_keys),
        enforce_auth_on_inference=sec.boolean("enforce_auth_on_inference", default.enforce_auth_on_inference),
        max_request_body_size_mb=sec.number(
            "max_request_body_size_mb", default.max_request_body_size_mb, gt=0
        ),
        prometheus_labels=_prometheus_labels(r, sec),
        disable_content_logging=sec.boolean("disable_content_logging", default.disable_content_logging),
        header_read_timeout_seconds=sec.number(
            "header_read_timeout_seconds", default.header_read_timeout_seconds, gt=0
        ),
        body_read_timeout_seconds=sec.number("body_read_timeout_seconds", default.body_read_timeout_seconds, gt=0),
        keepalive_timeout_seconds=sec.number("keepalive_timeout_seconds", default.keepalive_timeout_seconds, gt=0),
    )


def _auth(r: Reader, sec: Obj | None) -> AuthConfig:
    auth = AuthConfig()
    if sec is None:
        return auth
    auth.is_enabled = sec.boolean("is_enabled", auth.is_enabled)
    auth.admin_username = sec.string("admin_username")
    auth.admin_password = sec.string("admin_password")
    auth.protect_metrics = sec.boolean("protect_metrics", auth.protect_metrics)
    auth.allow_unauthenticated_api = sec.boolean("allow_unauthenticated_api", auth.allow_unauthenticated_api)
    if auth.is_enabled:
        for name in ("admin_username", "admin_password"):
            if not getattr(auth, name):
                r.error(sec.path(name), "is required when auth_config.is_enabled is true (or 'env.NAME')")
    if auth.protect_metrics and not auth.is_enabled:
        r.error(sec.path("protect_metrics"), "needs auth_config.is_enabled with an admin credential")
    return auth


def _prometheus_labels(r: Reader, sec: Obj) -> list[str]:
    labels: list[str] = []
    for path, label in sec.string_items("prometheus_labels"):
        if not _PROMETHEUS_LABEL.fullmatch(label) or label.startswith("__"):
            r.error(path, f"{label!r} is not a valid Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*, no '__')")
        elif label in RESERVED_PROMETHEUS_LABELS:
            r.error(path, f"'{label}' is already a label of Bifrost's metrics; choose another name")
        elif label in labels:
            r.error(path, f"duplicate label '{label}'")
        else:
            labels.append(label)
    return labels


def _logs_store(r: Reader, sec: Obj | None) -> LogsStoreConfig:
    store = LogsStoreConfig()
    if sec is None:
        return store
    store.enabled = sec.boolean("enabled", store.enabled)
    store.log_retention_days = sec.integer("log_retention_days", store.log_retention_days, ge=1)
    store.flush_interval_ms = sec.integer("flush_interval_ms", store.flush_interval_ms, ge=1)
    store.state_dir = sec.string("state_dir") or None
    kind = _store_type(r, sec, LOGS_STORE_TYPES, store.type)
    settings = _store_settings(r, sec, "logs_store", kind, LOGS_STORE_TYPES)
    if kind is not None and settings is not None:
        store.type = kind
        store.path = settings.string("path", store.path) or store.path
        store.url = _url(r, settings, "url", ("postgres", "postgresql"))
        if settings.get("path") == "":
            r.error(settings.path("path"), "must not be empty")
    return store


def _state_store(r: Reader, sec: Obj | None) -> StateStoreConfig:
    store = StateStoreConfig()
    if sec is None:
        return store
    store.fail_open = sec.boolean("fail_open", store.fail_open)
    kind = _store_type(r, sec, STATE_STORE_TYPES, store.type)
    settings = _store_settings(r, sec, "state_store", kind, STATE_STORE_TYPES)
    if kind is not None and settings is not None:
        store.type = kind
        store.url = _url(r, settings, "url", ("redis", "rediss", "unix"))
    return store


_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(s|m|h|d)")
_DURATION_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def _responses_store(r: Reader, sec: Obj | None) -> ResponsesStoreConfig:
    store = ResponsesStoreConfig()
    if sec is None or "ttl" not in sec:
        return store
    value, path = sec.get("ttl"), sec.path("ttl")
    match = _DURATION.fullmatch(value.strip()) if isinstance(value, str) else None
    if match is None or float(match.group(1)) <= 0:
        got = shown(value) if isinstance(value, str) else repr(value)
        r.error(path, f'must be a positive duration such as "30d", "12h", "90m" or "45s", got {got}')
        return store
    store.ttl_s = float(match.group(1)) * _DURATION_UNITS[match.group(2)]
    return store


def _store_type(r: Reader, sec: Obj, types: Mapping[str, str | None], default: str) -> str | None:
    return r.choice(sec.get("type"), sec.path("type"), types) if "type" in sec else default


def _store_settings(
    r: Reader, sec: Obj, section: str, kind: str | None, types: Mapping[str, str | None]
) -> Obj | None:
    """A store's `config`: the field its type needs is required; another type's field is refused."""
    known = [field for field in types.values() if field]
    settings = sec.obj("config", known) if "config" in sec else Obj(r, sec.path("config"))
    if settings is None or kind is None:
        return settings
    for other, field in types.items():
        if field and field in settings and other != kind:
            r.error(settings.path(field), f"only used when {section}.type is '{other}'")
    if types[kind] == "url" and "url" not in settings:
        r.error(settings.path("url"), f"is required when {section}.type is '{kind}'")
    return settings


def _url(r: Reader, sec: Obj, name: str, schemes: tuple[str, ...]) -> str | None:
    url = sec.string(name)
    if url is None:
        return None
    parts = urlsplit(url)
    if parts.scheme not in schemes or not (parts.netloc or parts.scheme == "unix"):
        expected = " or ".join(f"{scheme}://" for scheme in schemes)
        r.error(sec.path(name), f"must be a URL starting with {expected}, got {shown(sec.get(name))}")
        return None
    return url


def _free_object(r: Reader, root: Obj, name: str) -> dict[str, Any] | None:
    """A section whose shape another module validates: here only that it is an object."""
    value = root.get(name)
    if value is None:
        return None
    if not isinstance(value, dict):
        r.type_error(root.path(name), "an object", value)
        return None
    return value
