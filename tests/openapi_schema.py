"""Validate dicts against schemas of OpenAI's OpenAPI spec (``tests/spec/openai-openapi.yaml``, MIT, see its LICENSE).

``validate_openai("CreateChatCompletionResponse", body)`` raises ``jsonschema.ValidationError`` on a
mismatch. The spec is loaded once per process; ``#/components/schemas/...`` refs are resolved with
``referencing``; the OpenAPI ``nullable: true`` keyword (still used by parts of the spec) is rewritten
to ``anyOf: [schema, {"type": "null"}]`` so it means what OpenAPI says under Draft 2020-12.
Override the spec location with the ``BIFROST_OPENAPI_SPEC`` environment variable.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

SPEC_URI = "urn:openai-openapi"
DEFAULT_SPEC_PATH = Path(__file__).resolve().parent / "spec" / "openai-openapi.yaml"


def spec_path() -> Path:
    return Path(os.environ.get("BIFROST_OPENAPI_SPEC") or DEFAULT_SPEC_PATH)


def _nullable_to_anyof(node: Any) -> Any:
    if isinstance(node, list):
        return [_nullable_to_anyof(item) for item in node]
    if not isinstance(node, dict):
        return node
    converted = {key: _nullable_to_anyof(value) for key, value in node.items()}
    if converted.pop("nullable", False) is True:
        description = converted.pop("description", None)
        wrapped: dict[str, Any] = {"anyOf": [converted, {"type": "null"}]}
        if description is not None:
            wrapped["description"] = description
        return wrapped
    return converted


@functools.cache
def _registry() -> Registry:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with spec_path().open("rb") as fh:
        spec = yaml.load(fh, Loader=loader)
    contents = {"components": {"schemas": _nullable_to_anyof(spec["components"]["schemas"])}}
    resource = Resource.from_contents(contents, default_specification=DRAFT202012)
    return Registry().with_resource(SPEC_URI, resource)


@functools.cache
def _validator(schema_name: str) -> jsonschema.Draft202012Validator:
    registry = _registry()
    schemas = registry.contents(SPEC_URI)["components"]["schemas"]
    if schema_name not in schemas:
        raise KeyError(f"no schema {schema_name!r} in {spec_path()}")
    schema = {"$ref": f"{SPEC_URI}#/components/schemas/{schema_name}"}
    return jsonschema.Draft202012Validator(schema, registry=registry)


def validate_openai(schema_name: str, instance: dict[str, Any]) -> None:
    """Raise ``jsonschema.ValidationError`` (the most relevant error) when `instance` does not match."""
    error = jsonschema.exceptions.best_match(_validator(schema_name).iter_errors(instance))
    if error is not None:
        raise error
