"""Stripe's OpenAPI spec (shared/specs/stripe, API 2023-08-16) as JSON Schema, to validate what
the sandbox answers.

The spec's `components/schemas` are OpenAPI 3.0 schemas: `nullable: true` becomes a `null`
alternative, and every object that lists its `properties` without saying otherwise gets
`additionalProperties: false`, so the sandbox cannot drift by inventing a field. `$ref`s stay
as they are (`#/components/schemas/...`), resolved within the converted document.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from jsonschema import Draft202012Validator

from tests.sandbox.specs import load_spec

SPEC = "stripe/spec3.2023-08-16.from-yaml.json"


def _convert(node: Any) -> Any:
    if isinstance(node, list):
        return [_convert(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {
        key: _convert(value)
        for key, value in node.items()
        if key not in ("nullable", "description", "properties") and not key.startswith("x-")
    }
    if isinstance(node.get("properties"), dict):  # property names are data, not keywords
        out["properties"] = {name: _convert(item) for name, item in node["properties"].items()}
    if "properties" in out and "additionalProperties" not in out:
        out["additionalProperties"] = False
    if node.get("nullable"):
        if "enum" in out:
            out["enum"] = [*out["enum"], None]
        if "type" in out:
            out["type"] = [out["type"], "null"]
        elif "anyOf" in out:
            out["anyOf"] = [*out["anyOf"], {"type": "null"}]
        else:
            out = {"anyOf": [out, {"type": "null"}]}
    return out


@cache
def _components() -> dict[str, Any]:
    spec = load_spec(SPEC)
    return {"schemas": _convert(spec["components"]["schemas"])}


@cache
def _validator(reference: str) -> Draft202012Validator:
    return Draft202012Validator({"$ref": reference, "components": _components()})


def schema_errors(name: str, value: Any) -> list[str]:
    """Mismatches of `value` against `components/schemas/<name>` (empty: valid)."""
    return _errors(_validator(f"#/components/schemas/{name}"), value)


@cache
def _response_validator(path: str, method: str) -> Draft202012Validator:
    operation = load_spec(SPEC)["paths"][path][method]
    schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
    return Draft202012Validator({**_convert(schema), "components": _components()})


def response_errors(path: str, method: str, value: Any) -> list[str]:
    """Mismatches of `value` against the 200 answer of `method path` (lists: `...List`)."""
    return _errors(_response_validator(path, method), value)


def _errors(validator: Draft202012Validator, value: Any) -> list[str]:
    return [
        f"{'/'.join(str(p) for p in error.absolute_path) or '<root>'}: {error.message}"
        for error in validator.iter_errors(value)
    ]
