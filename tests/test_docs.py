"""The generated cmdlet reference matches the registry it documents."""

from __future__ import annotations

from pathlib import Path

from aobo.cmdlets.catalog import default_registry
from aobo.cmdlets.reference import render

REFERENCE = Path(__file__).parents[1] / "docs" / "cmdlets.md"


def test_cmdlet_reference_is_current() -> None:
    assert REFERENCE.read_text(encoding="utf-8") == render(default_registry()), (
        "docs/cmdlets.md is out of date: run `aobo docs`"
    )


def test_reference_lists_every_cmdlet_with_its_parameters() -> None:
    text = render(default_registry())
    for definition in default_registry():
        assert f"### {definition.name}\n" in text
        for p in definition.parameters:
            if not p.common:
                assert f"| `{p.name}` |" in text, (definition.name, p.name)
