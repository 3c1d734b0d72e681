"""`walsync fleet alerts`: 10 devices entering the same cooldown reason within 15 minutes is a
storm; 9 are not, nor 10 spread over hours; both thresholds are settable."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from click.testing import CliRunner

from walsync.adapters.cli.main import cli
from walsync.adapters.fleet.device_log import PgStore
from walsync.adapters.ports import NewEvent
from walsync.core.events import CooldownStarted

T0 = datetime(2026, 5, 20, 8, 0, tzinfo=UTC)


def cool(pg_dsn: str, device_id: str, at: datetime, reason: str) -> None:
    store = PgStore(pg_dsn, device_id)
    try:
        store.append([NewEvent(event_id=f"cool-{device_id}", event=CooldownStarted(
            at=at, reason=reason, until=at + timedelta(minutes=30), seconds=1800,  # type: ignore[arg-type]  # a GateReason literal
            requested_reason=reason, requested_seconds=1800, merge_rule="keep_later"))])  # type: ignore[arg-type]  # a GateReason literal
    finally:
        store.close()


def alerts(pg_dsn: str, *options: str) -> list[dict[str, object]]:
    result = CliRunner().invoke(cli, ["fleet", "alerts", "--db", pg_dsn, "--json", *options])
    assert result.exit_code == 0, result.output
    found: list[dict[str, object]] = json.loads(result.stdout)
    return found


def test_ten_devices_in_fifteen_minutes_are_a_storm_and_nine_are_not(pg_dsn: str) -> None:
    for i in range(10):  # backend busy: 10 devices within 13.5 minutes
        cool(pg_dsn, f"busy-{i}", T0 + timedelta(seconds=90 * i), "backendBusy")
    for i in range(9):  # fair use: 9 devices within 8 minutes
        cool(pg_dsn, f"fair-{i}", T0 + timedelta(minutes=i), "rateLimit")
    for i in range(10):  # backend busy again, but one device every 20 minutes
        cool(pg_dsn, f"slow-{i}", T0 + timedelta(hours=5, minutes=20 * i), "backendBusy")
    [storm] = alerts(pg_dsn)
    assert storm["reason"] == "backendBusy" and storm["devices"] == 10
    assert storm["device_ids"] == [f"busy-{i}" for i in range(10)]
    assert storm["first_at"] == "2026-05-20T08:00:00.000000Z"
    assert storm["last_at"] == "2026-05-20T08:13:30.000000Z"
    nine = alerts(pg_dsn, "--devices", "9")
    assert sorted(s["reason"] for s in nine) == ["backendBusy", "rateLimit"]
    assert alerts(pg_dsn, "--minutes", "10") == []  # 10 busy devices need 13.5 minutes
    hours = alerts(pg_dsn, "--minutes", "200")  # the slow ten make a storm of their own
    assert [(s["reason"], s["devices"]) for s in hours] == [("backendBusy", 10)] * 2
    [wide] = alerts(pg_dsn, "--minutes", "400")  # overlapping windows are one storm
    assert (wide["reason"], wide["devices"]) == ("backendBusy", 20)
    assert alerts(pg_dsn, "--since", "2026-05-20T09:00:00Z") == []
    text = CliRunner().invoke(cli, ["fleet", "alerts", "--db", pg_dsn])
    assert "storm: 10 devices entered a backendBusy cooldown" in text.output
