"""The claims of docs/incidents.md, checked on a fresh run as ratios and zero counts."""

from __future__ import annotations

from pathlib import Path

import pytest

from walsync.adapters.sim.incidents import FIELD_FIGURE_429, incidents_markdown, run_incidents

ROOT = Path(__file__).parents[2]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict:  # type: ignore[type-arg]
    return run_incidents(1, folder=tmp_path_factory.mktemp("incidents"))


def test_legacy_fair_use_429s_are_the_field_figure_order_of_magnitude(results: dict) -> None:  # type: ignore[type-arg]
    ratio = results["fair_use_backlog"]["legacy"].responses_429 / FIELD_FIGURE_429
    assert 0.1 < ratio < 10


@pytest.mark.parametrize("policy", ["seed", "walsync"])
def test_seed_and_walsync_cut_429s_tenfold_and_spend_no_budget_on_throttling_or_busy(
        results: dict, policy: str) -> None:  # type: ignore[type-arg]
    fair_use, saturation = (results[name][policy] for name in ("fair_use_backlog",
                                                               "backend_saturation"))
    legacy = results["fair_use_backlog"]["legacy"]
    assert legacy.responses_429 >= 10 * fair_use.responses_429 > 0
    for run in (fair_use, saturation):
        assert not {"throttled", "job_failed_backend_busy"} & set(run.retry_bumps)
        assert run.wals_shown_failed == 0 and run.wals_failed == 0
    assert fair_use.retry_bumps == {} and saturation.retry_bumps == {}
    assert saturation.stale_guard_failures > 0  # the incident really happened to them too


def test_legacy_drives_recordings_to_failed_under_saturation(results: dict) -> None:  # type: ignore[type-arg]
    legacy = results["backend_saturation"]["legacy"]
    assert legacy.wals_shown_failed > 0 and legacy.stale_guard_failures > 0


def test_walsync_beats_seed_where_the_table_says_so(results: dict) -> None:  # type: ignore[type-arg]
    assert (results["fair_use_backlog"]["walsync"].responses_429
            < results["fair_use_backlog"]["seed"].responses_429)
    assert (results["backend_saturation"]["walsync"].upload_requests
            < results["backend_saturation"]["seed"].upload_requests)


def test_the_page_in_docs_is_what_its_command_produces(results: dict) -> None:  # type: ignore[type-arg]
    page = incidents_markdown(results, 1, "walsync incidents --seed 1 --write docs/incidents.md --force")
    assert (ROOT / "docs" / "incidents.md").read_text(encoding="utf-8") == page
