"""Loading config.json: read the file, parse JSONC, validate into a `Config`."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from bifrost.config import jsonc
from bifrost.config.errors import ConfigError, Problem
from bifrost.config.model import Config
from bifrost.config.schema import build_config


def load_config(path: str | os.PathLike[str], env: Mapping[str, str] | None = None) -> Config:
    """Load and validate the config file at `path`. Raises ConfigError (path "$" when unreadable)."""
    source = os.fspath(path)
    try:
        text = Path(source).read_text(encoding="utf-8-sig")
    except OSError as exc:
        message = f"cannot read config file {source}: {exc.strerror or exc}"
        raise ConfigError([Problem("$", message)]) from None
    except UnicodeDecodeError:
        raise ConfigError([Problem("$", f"config file {source} is not UTF-8 text")]) from None
    return parse_config(text, source=source, env=env)


def parse_config(text: str, source: str | None = None, env: Mapping[str, str] | None = None) -> Config:
    """Validate config text (JSON with comments and trailing commas); `env` defaults to os.environ."""
    try:
        data = jsonc.loads(text)
    except jsonc.JsoncError as exc:
        message = f"invalid JSON at line {exc.line}, column {exc.column}: {exc.message}"
        raise ConfigError([Problem("$", message)]) from None
    return build_config(data, os.environ if env is None else env, source)
