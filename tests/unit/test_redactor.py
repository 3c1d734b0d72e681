"""The export's free-text redaction of known identifiers: the same text out as the loop over
every identifier it replaced (kept here as the oracle), checked against only the identifiers a
text can hold (issue 17: a year's redacted export cost recordings times strings)."""

from __future__ import annotations

import functools

from hypothesis import given, settings
from hypothesis import strategies as st

from walsync.adapters.store.share import redactor as module
from walsync.adapters.store.share.redactor import Redactor


def _loop(known: dict[str, str], value: str) -> str:
    """What Redactor.text did with known identifiers before: every one, the longest first."""
    for original in sorted(known, key=len, reverse=True):
        if len(original) >= 4 and original in value:
            value = value.replace(original, known[original])
    return value


_ALPHABET = "ab_1/.-"
_IDS = st.text(_ALPHABET, min_size=1, max_size=9)


@settings(max_examples=300, deadline=None)
@given(ids=st.lists(st.tuples(st.sampled_from(["device", "wal", "path", "conversation"]), _IDS),
                    max_size=12),
       texts=st.lists(st.text(_ALPHABET, max_size=40), min_size=1, max_size=5))
def test_identifiers_replaced_as_the_loop_over_every_one_replaced(
        ids: list[tuple[str, str]], texts: list[str]) -> None:
    redactor = Redactor()
    for kind, value in ids:
        getattr(redactor, kind)(value)
    known = dict(redactor._known)
    for text in texts:
        # Texts built from pieces of the identifiers too, so they overlap and nest.
        for value in (text, "".join(v for _, v in ids) + text, text.join(v for _, v in ids)):
            assert redactor._identifiers(value) == _loop(known, value)


def _text(redactor: Redactor, value: str) -> str:
    """What Redactor.text did before: the loop, then every pattern's pass whatever the text."""
    value = _loop(dict(redactor._known), value)
    value = module._TOKEN.sub(lambda m: "Bearer " + redactor.pseudonym("tok", m.group()), value)
    for kind, pattern in module._FREE_TEXT:
        value = pattern.sub(functools.partial(redactor._replace, kind), value)
    return value


_FREE = st.text("aZ9 .:/?=&@_-", max_size=30)
_WORDS = st.sampled_from(["Bearer ", "cookie: ", "token=", "a@b.cd", "10.0.0.1", "fe80::1:2",
                          "/home/u/x", "?q=1&r=2", "C:\\Users\\u", "eyJa.b.c", "%3d"])


@settings(max_examples=300, deadline=None)
@given(parts=st.lists(st.one_of(_FREE, _WORDS), max_size=6))
def test_free_text_redacted_as_every_pattern_s_pass_redacted(parts: list[str]) -> None:
    redactor = Redactor()
    redactor.wal("dev_1700000000")
    value = "".join(parts) + " dev_1700000000"
    assert redactor.text(value) == _text(redactor, value)


def test_an_identifier_inside_a_word_or_a_path_is_replaced() -> None:
    redactor = Redactor()
    wal = redactor.wal("devcnry_1700000000")
    path = redactor.path("/data/rec/devcnry_1700000000.bin")
    conversation = redactor.conversation("cnryconv-0042")
    text = redactor.text("upload of /data/rec/devcnry_1700000000.bin for xdevcnry_1700000000y "
                         "in cnryconv-0042; device devcnry")
    assert "cnry" not in text
    assert path in text and wal[:-1] in text and conversation in text


class _Counted(str):
    """A string that counts how often an identifier is looked for in it."""

    looked = 0

    def __contains__(self, item: object) -> bool:
        _Counted.looked += 1
        return super().__contains__(item)  # type: ignore[operator]  # str's own check


def test_a_text_is_checked_against_the_identifiers_it_can_hold_only() -> None:
    """The loop looked for each of 5,000 recordings' identifiers in every string (a year's
    redacted export did not finish); a string holding one is checked against a handful."""
    redactor = Redactor()
    for n in range(5000):
        redactor.wal(f"dev_{1700000000 + n}")
    _Counted.looked = 0
    out = redactor.text(_Counted("the upload of dev_1700004321 failed"))
    assert "dev_1700004321" not in out and "dev-" in out
    assert _Counted.looked <= 10
