"""Per-key settings of the cloud providers: `azure_key_config`, `bedrock_key_config`, `vertex_key_config`.

Each is an object inside one entry of a provider's `keys`, named as in the original Bifrost. This module
owns their shape and defaults; the providers read the validated dicts (`KeyConfig.settings`). The values
hold secrets (AWS secret key, session token, service-account private key): they are never printed.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import orjson

from bifrost.config.reader import Obj, Reader

# key-config field -> (the provider base type it belongs to, its fields)
KEY_CONFIGS: dict[str, tuple[str, tuple[str, ...]]] = {
    "azure_key_config": ("azure", ("endpoint", "api_version", "deployments")),
    "bedrock_key_config": ("bedrock", ("access_key", "secret_key", "session_token", "region", "deployments")),
    "vertex_key_config": ("vertex", ("project_id", "region", "auth_credentials")),
}
AZURE_API_VERSION = "2024-10-21"
BEDROCK_REGION = "us-east-1"
VERTEX_REGION = "us-central1"
_SERVICE_ACCOUNT_FIELDS = ("client_email", "private_key", "token_uri")


def key_settings(r: Reader, sec: Obj, base_type: str) -> tuple[dict[str, Any], bool]:
    """(validated settings, whether they carry the credential so that `value` may be left out)."""
    given = [name for name in KEY_CONFIGS if name in sec]
    if not given:
        return {}, False
    name = given[0]
    for extra in given[1:]:
        r.error(sec.path(extra), f"a key has at most one provider key config; '{name}' is given too")
    owner, fields = KEY_CONFIGS[name]
    if base_type != owner:
        r.error(sec.path(name), f"only for {owner} providers (this provider's type is '{base_type}')")
        return {}, False
    obj = sec.obj(name, fields)
    if obj is None:
        return {}, False
    if owner == "azure":
        return _azure(r, obj), False
    if owner == "bedrock":
        settings = _bedrock(r, obj)
        return settings, bool(settings["access_key"])
    return _vertex(r, obj), True


def missing_key_config(base_type: str) -> str | None:
    """The start-up warning for a key of this provider type that has no key config, if it needs one."""
    if base_type == "vertex":
        return "has no vertex_key_config {project_id, region, auth_credentials}: its requests will answer 401"
    return None


def _required(r: Reader, obj: Obj, name: str, what: str) -> str | None:
    if name not in obj:
        r.error(obj.path(name), f"is required: {what}")
        return None
    text = obj.string(name)
    if text == "":
        r.error(obj.path(name), "must not be empty")
        return None
    return text


def _deployments(r: Reader, obj: Obj) -> dict[str, str]:
    value = obj.get("deployments")
    if value is None:
        return {}
    if not isinstance(value, dict):
        r.type_error(obj.path("deployments"), "an object of model -> deployment", value)
        return {}
    out: dict[str, str] = {}
    for model, target in value.items():
        text = r.string(target, f"{obj.path('deployments')}.{model}")
        if text:
            out[model] = text
    return out


def _azure(r: Reader, obj: Obj) -> dict[str, Any]:
    endpoint = _required(r, obj, "endpoint", "the resource URL, as in https://my-resource.openai.azure.com")
    if endpoint is not None:
        parts = urlsplit(endpoint)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            r.error(obj.path("endpoint"), "must be a URL starting with https://")
            endpoint = None
    return {
        "endpoint": (endpoint or "").rstrip("/"),
        "api_version": obj.string("api_version", AZURE_API_VERSION) or AZURE_API_VERSION,
        "deployments": _deployments(r, obj),
    }


def _bedrock(r: Reader, obj: Obj) -> dict[str, Any]:
    """SigV4 with access_key + secret_key; without them the key's `value` is a Bedrock API key (bearer)."""
    access = secret = ""
    if "access_key" in obj or "secret_key" in obj:
        access = _required(r, obj, "access_key", "the AWS access key id (with secret_key)") or ""
        secret = _required(r, obj, "secret_key", "the AWS secret access key (with access_key)") or ""
    return {
        "access_key": access,
        "secret_key": secret,
        "session_token": obj.string("session_token") or None,
        "region": obj.string("region", BEDROCK_REGION) or BEDROCK_REGION,
        "deployments": _deployments(r, obj),
    }


def _vertex(r: Reader, obj: Obj) -> dict[str, Any]:
    project = _required(r, obj, "project_id", "the Google Cloud project id")
    region = obj.string("region", VERTEX_REGION) or VERTEX_REGION
    path = obj.path("auth_credentials")
    raw = obj.get("auth_credentials")
    info: dict[str, Any] | None = None
    if raw is None:
        r.error(path, "is required: the service-account key JSON (an object, or its text, e.g. env.VERTEX_SA)")
    elif isinstance(raw, dict):
        info = raw
    else:
        text = r.string(raw, path)
        if text is not None:
            try:
                parsed = orjson.loads(text)
            except orjson.JSONDecodeError:
                parsed = None
            if isinstance(parsed, dict):
                info = parsed
            else:
                r.error(path, "must be a service-account key: a JSON object (its text is not shown)")
    if info is not None:
        missing = [f for f in _SERVICE_ACCOUNT_FIELDS if not isinstance(info.get(f), str) or not info.get(f)]
        if missing:
            r.error(path, f"the service-account key lacks {', '.join(missing)}")
            info = None
    return {"project_id": project or "", "region": region, "auth_credentials": info}
