"""The error tree drawn in core/errors.py's docstring is the class tree: every error of the family
is drawn, under its real parent, and nothing drawn is missing from the code."""

from __future__ import annotations

import inspect
import re

import walsync.core.errors as errors


def drawn_tree(doc: str) -> dict[str, str | None]:
    """Each class name in the drawing to its parent's (None for the root), by indentation."""
    parents: dict[str, str | None] = {}
    stack: list[tuple[int, str]] = []
    for line in doc.splitlines():
        match = re.match(r"^(?P<lead> [ │├└─]*)(?P<name>[A-Z]\w+)(?:\s|$)", line)
        if match is None:  # the drawing's lines are indented; prose is not
            continue
        depth = len(match["lead"])
        while stack and stack[-1][0] >= depth:
            stack.pop()
        parents[match["name"]] = stack[-1][1] if stack else None
        stack.append((depth, match["name"]))
    return parents


def class_tree() -> dict[str, str | None]:
    """Each error class of core/errors.py to its parent within the family."""
    found: dict[str, str | None] = {}
    for name, cls in inspect.getmembers(errors, inspect.isclass):
        if cls.__module__ != errors.__name__ or not issubclass(cls, errors.WalsyncError):
            continue
        family = [base for base in cls.__bases__ if issubclass(base, errors.WalsyncError)]
        found[name] = family[0].__name__ if family else None
    return found


def test_the_drawn_tree_is_the_class_tree() -> None:
    assert drawn_tree(errors.__doc__ or "") == class_tree()


def test_the_drawing_is_read_as_a_tree() -> None:
    doc = ("Title line.\n\n    Root\n    ├── Alpha   text\n    │   └── Beta   text\n"
           "    └── Gamma   text\n")
    assert drawn_tree(doc) == {"Root": None, "Alpha": "Root", "Beta": "Alpha", "Gamma": "Root"}
