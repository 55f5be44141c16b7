"""JSON Schema (as OpenAI tools and ``response_format`` carry it) -> the OpenAPI subset Gemini's ``Schema`` accepts.

Gemini rejects a request whose ``functionDeclarations[].parameters`` or ``responseSchema`` holds a keyword
outside its subset, so every schema is rewritten by `to_gemini_schema` (pure; the input is never mutated):

* ``$ref`` to ``#/$defs/NAME`` or ``#/definitions/NAME`` is replaced by that definition, inlined (its
  sibling keywords such as ``description`` kept); ``$defs`` / ``definitions`` are then removed. A
  recursive reference is cut at depth `MAX_REF_DEPTH` into ``{"type": "object"}``; a reference that cannot
  be resolved becomes ``{}`` (any value).
* ``type: [T, "null"]`` -> ``type: T, nullable: true``; a type list of several non-null types -> ``anyOf``
  of one schema per type.
* ``anyOf`` / ``oneOf`` (``oneOf`` is read as ``anyOf``) with a ``{"type": "null"}`` member -> the others,
  ``nullable: true``; a single member left is merged into the parent. ``allOf`` is merged into one schema
  (properties and required lists united).
* ``const: v`` -> ``enum: [v]`` for a string. ``enum`` is kept only when every value is a string (Gemini's
  enums are string enums) and the type is then ``string``; an enum of other values is dropped.
* ``format`` is kept only where Gemini knows it: ``enum`` and ``date-time`` for strings, ``float`` and
  ``double`` for numbers, ``int32`` and ``int64`` for integers.
* ``required`` keeps only names present in ``properties``.
* Every other keyword is dropped: ``additionalProperties``, ``$schema``, ``$id``, ``$comment``, ``strict``,
  ``examples``, ``patternProperties``, ``unevaluatedProperties``, ``dependentRequired``, ``not``,
  ``if``/``then``/``else``, ``readOnly``/``writeOnly``, ``exclusiveMinimum``/``exclusiveMaximum``,
  ``multipleOf``, ``uniqueItems``, ``contentEncoding``... Kept: ``type``, ``format``, ``title``,
  ``description``, ``nullable``, ``enum``, ``items``, ``minItems``, ``maxItems``, ``properties``,
  ``required``, ``minProperties``, ``maxProperties``, ``minLength``, ``maxLength``, ``pattern``,
  ``minimum``, ``maximum``, ``default``, ``example``, ``anyOf``, ``propertyOrdering``.
"""

from __future__ import annotations

from typing import Any

JSONDict = dict[str, Any]

__all__ = ["MAX_REF_DEPTH", "to_gemini_schema"]

MAX_REF_DEPTH = 8

_KEPT = frozenset(
    {
        "type", "format", "title", "description", "nullable", "enum", "items", "minItems", "maxItems",
        "properties", "required", "minProperties", "maxProperties", "minLength", "maxLength", "pattern",
        "minimum", "maximum", "default", "example", "anyOf", "propertyOrdering",
    }
)
_FORMATS = {
    "string": frozenset({"enum", "date-time"}),
    "number": frozenset({"float", "double"}),
    "integer": frozenset({"int32", "int64"}),
}


def to_gemini_schema(schema: Any) -> JSONDict:
    """A JSON Schema object rewritten for Gemini (see the module docstring); non-objects give ``{}``."""
    if not isinstance(schema, dict):
        return {}
    defs: JSONDict = {}
    for name in ("definitions", "$defs"):
        value = schema.get(name)
        if isinstance(value, dict):
            defs.update(value)
    return _convert(schema, defs, 0)


def _resolve(ref: Any, defs: JSONDict) -> JSONDict | None:
    if not isinstance(ref, str):
        return None
    for prefix in ("#/$defs/", "#/definitions/"):
        if ref.startswith(prefix):
            found = defs.get(ref[len(prefix) :])
            return found if isinstance(found, dict) else None
    return None


def _convert(schema: JSONDict, defs: JSONDict, depth: int) -> JSONDict:
    if "$ref" in schema:
        if depth >= MAX_REF_DEPTH:
            return {"type": "object"}
        target = _resolve(schema["$ref"], defs)
        siblings = {k: v for k, v in schema.items() if k != "$ref"}
        return _convert({**(target or {}), **siblings}, defs, depth + 1)
    merged = _merge_all_of(schema, defs)
    out: JSONDict = {}
    nullable = merged.get("nullable") is True

    variants = merged.get("anyOf", merged.get("oneOf"))
    if isinstance(variants, list):
        members = [v for v in variants if isinstance(v, dict)]
        non_null = [v for v in members if v.get("type") != "null"]
        nullable = nullable or len(non_null) < len(members)
        if len(non_null) == 1:
            inner = _convert(non_null[0], defs, depth)
            outer = {k: v for k, v in merged.items() if k not in ("anyOf", "oneOf")}
            converted = _convert(outer, defs, depth) if outer else {}
            result = {**inner, **{k: v for k, v in converted.items() if k not in inner or k == "description"}}
            if nullable:
                result["nullable"] = True
            return result
        if non_null:
            out["anyOf"] = [_convert(v, defs, depth) for v in non_null]

    stype = merged.get("type")
    if isinstance(stype, list):
        types = [t for t in stype if isinstance(t, str)]
        if "null" in types:
            nullable = True
            types = [t for t in types if t != "null"]
        if len(types) == 1:
            stype = types[0]
        elif types:
            out["anyOf"] = [_convert({**merged, "type": t}, defs, depth) for t in types]
            stype = None
        else:
            stype = None
    if isinstance(stype, str) and stype != "null":
        out["type"] = stype

    if "const" in merged and isinstance(merged["const"], str):
        out["enum"] = [merged["const"]]
    enum = merged.get("enum")
    if isinstance(enum, list) and enum:
        strings = [v for v in enum if isinstance(v, str)]
        if len(strings) == len(enum):
            out["enum"] = strings
        elif None in enum and len(strings) == len(enum) - 1:
            out["enum"] = strings
            nullable = True
    if "enum" in out:
        out["type"] = "string"

    for key, value in merged.items():
        if key not in _KEPT or key in out or key in ("anyOf", "type", "enum", "nullable"):
            continue
        if key == "properties":
            if isinstance(value, dict):
                out["properties"] = {
                    name: _convert(sub, defs, depth) if isinstance(sub, dict) else {} for name, sub in value.items()
                }
        elif key == "items":
            if isinstance(value, dict):
                out["items"] = _convert(value, defs, depth)
        elif key == "format":
            if isinstance(value, str) and value in _FORMATS.get(out.get("type", ""), ()):
                out["format"] = value
        elif key == "required":
            if isinstance(value, list):
                out["required"] = value  # filtered below, once properties are known
        else:
            out[key] = value

    required = out.get("required")
    if required is not None:
        names = out.get("properties") or {}
        kept = [r for r in required if isinstance(r, str) and r in names]
        if kept:
            out["required"] = kept
        else:
            del out["required"]
    if nullable:
        out["nullable"] = True
    return out


def _merge_all_of(schema: JSONDict, defs: JSONDict) -> JSONDict:
    parts = schema.get("allOf")
    if not isinstance(parts, list):
        return schema
    merged: JSONDict = {k: v for k, v in schema.items() if k != "allOf"}
    for part in parts:
        if not isinstance(part, dict):
            continue
        if "$ref" in part:
            part = {**(_resolve(part["$ref"], defs) or {}), **{k: v for k, v in part.items() if k != "$ref"}}
        part = _merge_all_of(part, defs)
        for key, value in part.items():
            if key == "properties" and isinstance(value, dict):
                merged["properties"] = {**(merged.get("properties") or {}), **value}
            elif key == "required" and isinstance(value, list):
                merged["required"] = [*(merged.get("required") or []), *value]
            else:
                merged.setdefault(key, value)
    return merged
