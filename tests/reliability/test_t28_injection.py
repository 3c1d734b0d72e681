"""T28: hostile stream ids, payloads and audit filters; dynamic SQL under lint.

Contract: data round-trips byte-exact and table counts stay as they were; NUL and other control
characters in ids are refused at the API boundary (InvalidId, a ValueError); user filter and
sort keys come from an allow-list (ValueError, never SQL); audit connections carry an
authorizer that refuses anything but reads; and no execute() builds SQL from non-constant input.
"""

from __future__ import annotations

import ast
import sqlite3
import unicodedata
from contextlib import closing
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from tier import record, scale

from walsync.adapters.store.readonly.queries import audit_rows, connect_readonly, read_log
from walsync.adapters.store.sqlite import SqliteStore
from walsync.core.errors import InvalidId
from walsync.core.policies import WALSYNC

from fakes import Harness
from sources import library_sources

ROOT = Path(__file__).resolve().parents[2]
HOSTILE = ["'; DROP TABLE events;--", "%", "_", "a\x00b", "\u202eevil", "x' OR '1'='1", "\r\nforged",
           "\ud800", "ok\u2028line", '"); DELETE FROM wal_rows; --', "\\", "💥"]
_TEXT = st.one_of(st.sampled_from(HOSTILE), st.text(max_size=30))


def _refused(value: str) -> bool:
    return not value or len(value) > 1024 or any(
        unicodedata.category(c) in ("Cc", "Cs", "Zl", "Zp") for c in value)


def _counts(path: Path) -> dict[str, int]:
    with closing(sqlite3.connect(path)) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {t: conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}


@settings(max_examples=scale(25, 600), deadline=None, print_blob=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@example(device="'; DROP TABLE events;--", conversation="%_", path="x" * 1_000_000)
@given(device=_TEXT, conversation=_TEXT, path=st.one_of(st.sampled_from(HOSTILE), st.text()))
def test_t28_hostile_ids_and_payloads_round_trip_or_are_refused(
        tmp_path_factory: pytest.TempPathFactory, device: str, conversation: str, path: str) -> None:
    log = tmp_path_factory.mktemp("t28") / "log.db"
    h = Harness(WALSYNC, store=SqliteStore(log))
    before = _counts(log)
    record("t28", "hostile ids and payloads", 1, lost=0)
    wal_id = f"{device}_1779264000"
    if _refused(device) or _refused(wal_id) or _refused(conversation):
        with pytest.raises(InvalidId):
            h.engine.register(device=device, timer_start=1779264000, file_path=path,
                              conversation_id=conversation)
        assert _counts(log) == before
        h.engine.close()
        return
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return  # a payload that is not text: the serde boundary's concern, not an id
    registered = h.engine.register(device=device, timer_start=1779264000, file_path=path,
                                   conversation_id=conversation)
    h.engine.close()
    assert registered == wal_id
    after = _counts(log)
    assert set(after) == set(before) and after["events"] == before["events"] + 1
    [row] = list(read_log(log, wal_id=wal_id))
    data = row.fields
    assert (row.stream, data["wal_id"], data["file_path"], data["conversation_id"]) == (
        f"wal:{wal_id}", wal_id, path, conversation)
    assert audit_rows(log, {"stream": f"wal:{wal_id}"})[0].seq == row.seq


@settings(max_examples=scale(25, 600), deadline=None)
@given(key=_TEXT, value=_TEXT)
def test_t28_audit_keys_come_from_an_allow_list(tmp_path_factory: pytest.TempPathFactory, key: str,
                                                value: str) -> None:
    log = tmp_path_factory.mktemp("t28a") / "log.db"
    h = Harness(WALSYNC, store=SqliteStore(log))
    h.add(2)
    h.engine.close()
    before = _counts(log)
    if key not in ("stream", "type", "event_id"):
        with pytest.raises(ValueError, match="unknown audit filter"):
            audit_rows(log, {key: value})
    else:
        assert all(getattr(r, key) == value for r in audit_rows(log, {key: value}))
    if key not in ("seq", "at", "stream", "type"):
        with pytest.raises(ValueError, match="unknown sort key"):
            audit_rows(log, order_by=key)
    assert _counts(log) == before


@pytest.mark.parametrize("statement", [
    "CREATE TEMP TABLE t (x)", "ATTACH DATABASE ':memory:' AS other", "PRAGMA journal_mode=DELETE",
    "DELETE FROM events", "INSERT INTO events (seq) VALUES (99)", "DROP TABLE events"])
def test_t28_audit_connections_refuse_everything_but_reads(tmp_path: Path, statement: str) -> None:
    log = tmp_path / "log.db"
    h = Harness(WALSYNC, store=SqliteStore(log))
    h.add(1)
    h.engine.close()
    before = _counts(log)
    with closing(connect_readonly(log)) as conn:
        assert conn.execute("SELECT count(*) FROM events").fetchone()[0] == before["events"]
        with pytest.raises(sqlite3.DatabaseError, match="not authorized"):
            conn.execute(statement)
    assert _counts(log) == before


_SQL_METHODS = {"execute", "executemany", "executescript"}
# Audited dynamic SQL: each formatted name below is built only from constants or allow-lists.
_AUDITED = {("adapters/store/share/importer.py", "where"), ("adapters/store/share/importer.py", "pragma"),
            ("adapters/store/readonly/queries.py", "pragma"), ("adapters/store/readonly/queries.py", "where"),
            ("adapters/store/readonly/queries.py", "order"), ("adapters/store/readonly/verify.py", "pragma"),
            ("adapters/store/tables.py", "table"), ("adapters/store/tables.py", "key"),
            ("adapters/store/sqlite.py", "table"), ("adapters/store/sqlite.py", "synchronous")}


def _constant_expr(node: ast.expr, file: str) -> bool:
    """A formatted value built from constants: UPPER_CASE names, literals, int(), ', '.join(...),
    or a name audited for this file."""
    if isinstance(node, ast.Constant):
        return True
    if isinstance(node, ast.Name):
        return node.id.lstrip("_").isupper() or (file, node.id) in _AUDITED
    if isinstance(node, ast.Attribute):
        return node.attr.lstrip("_").isupper()
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("int", "len"):
        return node.func.id == "int" or all(_constant_expr(a, file) for a in node.args)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult | ast.Add):
        return _constant_expr(node.left, file) and _constant_expr(node.right, file)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "join":
        return isinstance(node.func.value, ast.Constant) and all(_constant_expr(a, file) for a in node.args)
    # A comprehension over a constant: its element may only use the loop variable and constants.
    return isinstance(node, ast.GeneratorExp | ast.ListComp) and all(
        _constant_expr(g.iter, file) for g in node.generators)


def _dynamic_sql(tree: ast.AST, file: str) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr in _SQL_METHODS and node.args):
            continue
        sql = node.args[0]
        parts = [sql]
        while parts:
            part = parts.pop()
            if isinstance(part, ast.BinOp) and isinstance(part.op, ast.Add):
                parts += [part.left, part.right]
            elif isinstance(part, ast.JoinedStr):
                bad = [v for v in part.values if isinstance(v, ast.FormattedValue)
                       and not _constant_expr(v.value, file)]
                found += [f"{file}:{node.lineno}: f-string with {ast.unparse(b.value)}" for b in bad]
            elif isinstance(part, ast.BinOp) and isinstance(part.op, ast.Mod):
                found.append(f"{file}:{node.lineno}: %-formatted SQL")
            elif isinstance(part, ast.Call) and isinstance(part.func, ast.Attribute) \
                    and part.func.attr == "format":
                found.append(f"{file}:{node.lineno}: .format() SQL")
    return found


def test_t28_no_execute_builds_sql_from_non_constant_input() -> None:
    found = []
    for path in library_sources():
        found += _dynamic_sql(ast.parse(path.read_text(encoding="utf-8")), str(path.relative_to(ROOT)))
    assert found == []


def test_t28_the_lint_catches_the_bad_forms() -> None:
    bad = ast.parse('c.execute(f"SELECT * FROM events WHERE stream = \'{stream}\'")\n'
                    'c.execute("SELECT %s" % user)\nc.executemany("X {}".format(v), [])\n'
                    'c.execute("SELECT " + f"{order_by}")\n'
                    'c.execute(f"SELECT {\', \'.join(c for c in user_cols)}")\n')
    assert len(_dynamic_sql(bad, "x.py")) == 5
