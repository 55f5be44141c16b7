"""`bifrost check --config PATH`: validate a config file and say what is wrong, with JSON paths."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping

from bifrost.config.errors import ConfigError
from bifrost.config.loader import load_config
from bifrost.config.model import Config, ProviderConfig

EXIT_OK = 0
EXIT_INVALID = 2


def run_check(path: str | os.PathLike[str], env: Mapping[str, str] | None = None) -> int:
    """Print "config OK: ..." and warnings (stdout) and return 0, or each problem (stderr) and return 2."""
    try:
        config = load_config(path, env=env)
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"error: {problem.path}: {problem.message}", file=sys.stderr)
        return EXIT_INVALID
    print(summary(config))
    for warning in config.warnings:
        print(f"warning: {warning}")
    return EXIT_OK


def summary(config: Config) -> str:
    """The OK line, e.g. `config OK: 2 providers (openai: 2 keys, local-vllm: key-less)`."""
    count = len(config.providers)
    details = ", ".join(_describe(provider) for provider in config.providers.values())
    return f"config OK: {count} provider{'' if count == 1 else 's'}" + (f" ({details})" if details else "")


def _describe(provider: ProviderConfig) -> str:
    total = len(provider.keys)
    usable = sum(key.usable for key in provider.keys)
    if provider.is_key_less:
        return f"{provider.name}: key-less"
    if not total:
        return f"{provider.name}: no keys"
    if usable == total:
        return f"{provider.name}: {total} key{'' if total == 1 else 's'}"
    return f"{provider.name}: {usable} of {total} keys usable"
