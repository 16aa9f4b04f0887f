"""`env.example` documents every variable the settings read, and works as a `.env`."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from pydantic import AliasChoices, BaseModel
from pydantic_settings import BaseSettings

from opside_hub.config import Settings
from tests.conftest import repo_root

EXAMPLE = repo_root() / "env.example"


def variables(model: type[BaseModel] = Settings) -> dict[str, list[str]]:
    """Every variable name a settings class reads (first name, then its aliases)."""
    found: dict[str, list[str]] = {}
    for field in model.model_fields.values():
        if isinstance(field.annotation, type) and issubclass(field.annotation, BaseSettings):
            found.update(variables(field.annotation))
        elif isinstance(field.validation_alias, AliasChoices):
            first, *aliases = (str(choice) for choice in field.validation_alias.choices)
            found[first] = aliases
    return found


def test_every_variable_is_documented() -> None:
    documented = set(re.findall(r"(?m)^(?:# )?([A-Z][A-Z0-9_]+)=", EXAMPLE.read_text()))
    text = EXAMPLE.read_text()

    assert set(variables()) - documented == set()
    for name, aliases in variables().items():
        for alias in aliases:
            assert alias in text, f"{name}'s alias {alias} is not mentioned"


def test_the_example_as_a_dotenv_gives_the_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, aliases in variables().items():
        for variable in (name, *aliases):
            monkeypatch.delenv(variable, raising=False)
    monkeypatch.chdir(tmp_path)
    defaults = Settings().model_dump()

    shutil.copy(EXAMPLE, tmp_path / ".env")
    from_example = Settings().model_dump()

    assert from_example == defaults
