"""`emit`'s one JSON document for a list is written item by item, byte for byte what printing
the whole list at once gave (a year's `why --all --json` held 1.7 GB of it at once)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from walsync.adapters.cli.output import echo_json, echo_json_listing, emit

_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=12)


@given(st.lists(_JSON, max_size=5))
def test_the_streamed_list_is_the_document_printed_whole(values: list[Any]) -> None:
    with pytest.MonkeyPatch.context() as patch:
        printed: list[str] = []
        patch.setattr("click.echo", lambda message="", nl=True, **_: printed.append(
            str(message) + ("\n" if nl else "")))
        emit(iter(values), "json", text=str, data=lambda v: v, columns=())
        streamed = "".join(printed)
        printed.clear()
        echo_json(values)
        assert streamed == "".join(printed)
    assert json.loads(streamed) == values


def test_each_item_is_printed_before_the_next_is_made(capsys: pytest.CaptureFixture[str]) -> None:
    """The items are not gathered first: the ones made are out when a later one fails."""
    def items() -> Iterator[dict[str, int]]:
        yield {"n": 1}
        yield {"n": 2}
        raise RuntimeError("the third could not be made")

    with pytest.raises(RuntimeError):
        emit(items(), "json", text=str, data=lambda v: v, columns=())
    assert capsys.readouterr().out == '[\n  {\n    "n": 1\n  },\n  {\n    "n": 2\n  }'


@given(st.lists(_JSON, max_size=4), st.dictionaries(st.text(), _JSON, max_size=3))
def test_a_document_whose_first_key_is_streamed_is_the_document_printed_whole(
        values: list[Any], rest: dict[str, Any]) -> None:
    document = {"rows": [], **{k: v for k, v in rest.items() if k != "rows"}}
    with pytest.MonkeyPatch.context() as patch:
        printed: list[str] = []
        patch.setattr("click.echo", lambda message="", nl=True, **_: printed.append(
            str(message) + ("\n" if nl else "")))
        echo_json_listing(document, "rows", iter(values))
        streamed = "".join(printed)
        printed.clear()
        echo_json({**document, "rows": values})
        assert streamed == "".join(printed)
