"""`walsync fleet rebuild` folds one device per transaction: while a device is being refolded
(its transaction open), other devices ingest and every query answers, reading the device as
it was; the rebuilt tables equal the incrementally built ones."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from walsync.adapters.cli.main import cli
from walsync.adapters.fleet.ingest import ingest_log
from walsync.adapters.fleet.queries import fleet_status, fleet_why
from walsync.adapters.fleet.store import connect
from walsync.adapters.fleet.tail import refold_device


def test_a_device_being_rebuilt_blocks_no_other_writer_and_no_query(
        pg_dsn: str, fleet_logs: list[Path]) -> None:
    rebuilding = connect(pg_dsn, write=True)
    for path in fleet_logs[:3]:
        ingest_log(rebuilding, path, path.stem)
    impatient = make_conninfo(pg_dsn, options=conninfo_to_dict(pg_dsn)["options"]
                              + " -c lock_timeout=100")
    writer, reader = connect(impatient, write=True), connect(impatient)
    try:
        assert fleet_status(reader)["devices"] == 3
        with rebuilding.transaction():  # the rebuild's step for one device, not yet committed
            assert refold_device(rebuilding, fleet_logs[0].stem)
            ingest_log(writer, fleet_logs[3], fleet_logs[3].stem)  # another device goes on
            during = fleet_status(reader, limit=100)  # reads device 0 as it was
            assert during["devices"] == 4
            assert fleet_why(reader, limit=5, device_id=fleet_logs[0].stem)
        assert fleet_status(reader, limit=100) == during  # refolded to the very same rows
    finally:
        for conn in (rebuilding, writer, reader):
            conn.close()


def test_rebuild_by_cli_reports_in_json_and_changes_no_answer(pg_dsn: str,
                                                              fleet_logs: list[Path]) -> None:
    conn = connect(pg_dsn, write=True)
    for path in fleet_logs:
        ingest_log(conn, path, path.stem)
    conn.close()

    def answers() -> tuple[object, object]:
        status = CliRunner().invoke(cli, ["fleet", "status", "--db", pg_dsn, "--json"])
        why = CliRunner().invoke(cli, ["fleet", "why", "--db", pg_dsn, "--json", "--limit", "50"])
        stalls = [{k: v for k, v in s.items() if k != "stalled_seconds"}
                  for s in json.loads(why.stdout)]
        return json.loads(status.stdout), stalls

    built = answers()
    rebuilt = CliRunner().invoke(cli, ["fleet", "rebuild", "--db", pg_dsn, "--json"])
    assert rebuilt.exit_code == 0, rebuilt.output
    assert json.loads(rebuilt.stdout)["devices"] == len(fleet_logs)
    assert answers() == built
    one = CliRunner().invoke(cli, ["fleet", "rebuild", "--db", pg_dsn, "--device",
                                   fleet_logs[0].stem, "--json"])
    assert json.loads(one.stdout)["devices"] == 1
