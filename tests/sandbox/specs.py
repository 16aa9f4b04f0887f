"""The providers' own models (`../shared/specs/`), and a validator for Google discovery schemas.

Discovery documents describe JSON with their own dialect of JSON Schema (`type`, `format`,
`properties`, `items`, `additionalProperties`, `$ref` by schema id, 64-bit integers as
strings). `discovery_errors` checks a value against one of its schemas and lists every
mismatch; unknown properties count as mismatches, so the sandbox cannot drift by adding fields.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

from tests.conftest import repo_root

SPECS_DIR = repo_root().parent / "shared" / "specs"
_INT_RANGES = {
    "int32": (-(2**31), 2**31 - 1),
    "uint32": (0, 2**32 - 1),
}


@cache
def load_spec(relative: str) -> dict[str, Any]:
    path: Path = SPECS_DIR / relative
    spec: dict[str, Any] = json.loads(path.read_text())
    return spec


def gmail_discovery() -> dict[str, Any]:
    return load_spec("gmail/gmail.v1.json")


def discovery_errors(document: dict[str, Any], schema_id: str, value: Any) -> list[str]:
    errors: list[str] = []
    _check(document, document["schemas"][schema_id], value, schema_id, errors)
    return errors


def _check(
    document: dict[str, Any], schema: dict[str, Any], value: Any, at: str, errors: list[str]
) -> None:
    if "$ref" in schema:
        _check(document, document["schemas"][schema["$ref"]], value, at, errors)
        return
    kind = schema.get("type", "any")
    fmt = schema.get("format")
    if kind == "object":
        if not isinstance(value, dict):
            errors.append(f"{at}: expected an object, got {value!r}")
            return
        properties = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        for name, item in value.items():
            if name in properties:
                _check(document, properties[name], item, f"{at}.{name}", errors)
            elif extra is not None:
                _check(document, extra, item, f"{at}.{name}", errors)
            else:
                errors.append(f"{at}.{name}: not in the schema")
    elif kind == "array":
        if not isinstance(value, list):
            errors.append(f"{at}: expected an array, got {value!r}")
            return
        for index, item in enumerate(value):
            _check(document, schema["items"], item, f"{at}[{index}]", errors)
    elif kind == "string":
        if not isinstance(value, str):
            errors.append(f"{at}: expected a string, got {value!r}")
        elif fmt in ("int64", "uint64") and not re.fullmatch(r"-?\d+", value):
            errors.append(f"{at}: expected a {fmt} in a string, got {value!r}")
        elif fmt == "uint64" and value.startswith("-"):
            errors.append(f"{at}: expected an unsigned integer, got {value!r}")
        elif "enum" in schema and value not in schema["enum"]:
            errors.append(f"{at}: {value!r} is not one of {schema['enum']}")
    elif kind == "integer":
        if not isinstance(value, int) or isinstance(value, bool):
            errors.append(f"{at}: expected an integer, got {value!r}")
        elif fmt in _INT_RANGES and not _INT_RANGES[fmt][0] <= value <= _INT_RANGES[fmt][1]:
            errors.append(f"{at}: {value} is out of the {fmt} range")
    elif kind == "boolean":
        if not isinstance(value, bool):
            errors.append(f"{at}: expected a boolean, got {value!r}")
    elif kind == "number" and (not isinstance(value, int | float) or isinstance(value, bool)):
        errors.append(f"{at}: expected a number, got {value!r}")
