"""Configuration: load config.json (JSONC, `env.NAME`) into typed, validated dataclasses."""

from bifrost.config.errors import ConfigError, Problem
from bifrost.config.loader import load_config, parse_config
from bifrost.config.model import (
    BASE_PROVIDER_TYPES,
    BUILTIN_PROVIDERS,
    KEYLESS_BY_DEFAULT,
    OPENAI_COMPATIBLE,
    ClientConfig,
    ConcurrencyConfig,
    Config,
    CustomProviderConfig,
    KeyConfig,
    LogsStoreConfig,
    NetworkConfig,
    ProviderConfig,
    StateStoreConfig,
)

__all__ = [
    "BASE_PROVIDER_TYPES",
    "BUILTIN_PROVIDERS",
    "KEYLESS_BY_DEFAULT",
    "OPENAI_COMPATIBLE",
    "ClientConfig",
    "ConcurrencyConfig",
    "Config",
    "ConfigError",
    "CustomProviderConfig",
    "KeyConfig",
    "LogsStoreConfig",
    "NetworkConfig",
    "Problem",
    "ProviderConfig",
    "StateStoreConfig",
    "load_config",
    "parse_config",
]
