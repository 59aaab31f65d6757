"""Example layouts shipped in assets/examples/<model>/ (drawn by assets/examples/make_examples.py).

Each folder's examples.json names the model the layouts were drawn for and its class names; a model gets the
examples whose class names are its own, so that every id means the class it was drawn as.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from oasis_core import ModelConfig, assets_dir

CATALOGUE = "examples.json"


@dataclass(frozen=True)
class Example:
    title: str
    description: str
    path: Path


@dataclass(frozen=True)
class ExampleSet:
    model: str
    class_names: tuple[str, ...]
    examples: tuple[Example, ...]


def examples_dir() -> Path:
    """assets/examples inside the PyInstaller bundle, or in the source tree."""
    return assets_dir() / "examples"


def example_sets() -> list[ExampleSet]:
    """Every assets/examples/<folder>/examples.json; an unreadable one is left out rather than breaking the menu."""
    sets = []
    for index in sorted(examples_dir().glob(f"*/{CATALOGUE}")):
        try:
            data = json.loads(index.read_text(encoding="utf-8"))
            examples = tuple(
                Example(str(e["title"]), str(e.get("description", "")), index.parent / str(e["file"]))
                for e in data["examples"]
            )
            sets.append(ExampleSet(str(data["model"]), tuple(str(n) for n in data["class_names"]), examples))
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return sets


def examples_for(config: ModelConfig) -> tuple[list[Example], str]:
    """The examples drawn for this model's classes and, when there are none, why (for a tooltip)."""
    sets = example_sets()
    found = [e for s in sets if s.class_names == config.class_names for e in s.examples]
    if found:
        return found, ""
    if not sets:
        return [], f"No example layouts are installed in {examples_dir()}"
    if any(s.model == config.name for s in sets):
        return [], (
            f"The examples for '{config.name}' were drawn for other classes than this model's, so their class ids "
            "would mean other things"
        )
    names = ", ".join(sorted({s.model for s in sets}))
    return [], f"No example layouts for this model's classes (there are examples for: {names})"
