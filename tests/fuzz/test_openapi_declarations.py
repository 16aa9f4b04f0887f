"""The OpenAPI document declares what every route can answer (fast; the fuzz suite then checks
the answers against it): the errors common to its kind of route, error bodies that are the
`ErrorEnvelope`, and success bodies with a real schema, never `{}`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.routing import APIRoute, iter_route_contexts

from opside_hub.app import create_app
from tests.conftest import make_settings
from tests.fuzz.openapi import EXCLUDED_PREFIXES, Operation, api_document, is_public, operations

DOCUMENT = api_document()
OPERATIONS = operations(DOCUMENT)
ERROR_ENVELOPE = {"$ref": "#/components/schemas/ErrorEnvelope"}
# /health answers its own body on 503 (which checks failed), and is neither rate limited nor
# given any input.
HEALTH = "/health"
# Keys that hold values, not schemas.
VALUE_KEYS = {"default", "example", "examples", "const", "enum"}


def _responses(operation: Operation) -> dict[str, Any]:
    method, path = operation
    responses: dict[str, Any] = DOCUMENT["paths"][path][method.lower()]["responses"]
    return responses


def _json_schema(response: dict[str, Any]) -> Any:
    return response.get("content", {}).get("application/json", {}).get("schema")


def _label(operation: Operation) -> str:
    return f"{operation[0]} {operation[1]}"


def test_the_document_lists_every_json_route_of_the_app() -> None:
    """No route escapes the fuzz by hiding from the schema (`include_in_schema=False`)."""
    settings = make_settings(
        "sqlite+aiosqlite://", "redis://127.0.0.1:6379/0", provider_mode="sandbox"
    )
    routes = {
        (method, route.path_format)
        for route in iter_route_contexts(create_app(settings, configure_logs=False).routes)
        if isinstance(route.original_route, APIRoute) and route.path_format != "/"
        if not str(route.path_format).startswith(EXCLUDED_PREFIXES)
        for method in route.methods or ()
    }
    assert routes == set(OPERATIONS)
    paths = {path for _, path in OPERATIONS}
    assert {HEALTH, "/api/sync/start", "/api/v1/sync/start", "/api/dev/token"} <= paths


@pytest.mark.parametrize("operation", OPERATIONS, ids=_label)
def test_every_api_route_declares_its_common_errors(operation: Operation) -> None:
    responses = _responses(operation)
    if operation[1] == HEALTH:
        assert set(responses) == {"200", "503"}
        return
    # Every API route validates its input and is rate limited.
    assert {"422", "429"} <= set(responses)
    # 401 exactly where a bearer token is required.
    assert ("401" in responses) is not is_public(DOCUMENT, operation)


@pytest.mark.parametrize("operation", OPERATIONS, ids=_label)
def test_every_error_body_is_the_error_envelope(operation: Operation) -> None:
    for status, response in _responses(operation).items():
        if status.startswith(("4", "5")) and operation[1] != HEALTH:
            assert _json_schema(response) == ERROR_ENVELOPE, (status, response)


@pytest.mark.parametrize("operation", OPERATIONS, ids=_label)
def test_every_success_has_a_precise_schema(operation: Operation) -> None:
    successes = {s: r for s, r in _responses(operation).items() if s.startswith(("2", "3"))}
    assert successes
    for status, response in successes.items():
        if status.startswith("3"):
            # A redirect has no body; it says where it goes.
            assert "Location" in response.get("headers", {}), response
            continue
        schema = _json_schema(response)
        assert schema is not None, (status, response)
        assert "$ref" in schema, (status, response)
        assert not list(_free_schemas(schema, set())), (status, list(_free_schemas(schema, set())))


def _free_schemas(schema: Any, seen: set[str], where: str = "") -> Iterator[str]:
    """Where a body reachable from `schema` is described as `{}` (anything at all)."""
    if isinstance(schema, list):
        for item in schema:
            yield from _free_schemas(item, seen, where)
        return
    if not isinstance(schema, dict):
        return
    if schema == {}:
        yield where
    if ref := schema.get("$ref"):
        name = ref.rsplit("/", 1)[-1]
        if name not in seen:
            seen.add(name)
            yield from _free_schemas(DOCUMENT["components"]["schemas"][name], seen, name)
        return
    for key, value in schema.items():
        if key not in VALUE_KEYS:
            yield from _free_schemas(value, seen, f"{where}/{key}")


def test_the_free_schema_detector_finds_an_any_field() -> None:
    assert list(_free_schemas({"properties": {"x": {}}}, set(), "Model")) == ["Model/properties/x"]
    assert not list(_free_schemas({"properties": {"x": {"default": {}}}}, set()))
