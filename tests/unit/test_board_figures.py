"""Issue 18: what a supervisor reads on the board, worked out from the reports (pure functions:
the reads are tested elsewhere), and the operator's names file."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from acd_cli import names
from acd_cli.wallboard import WaitTargets, agents_by_state, current_interval, hotline_tile
from acd_hub.kpis import NAMES as KPI_NAMES
from acd_hub.reports.agent_day import AgentDayReport
from acd_hub.reports.board import BoardEntry
from acd_hub.reports.hotline_day import HotlineKpis, IntervalKpis, KpiFigures

BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 11, 18, 9, 20, 30, tzinfo=UTC)  # 10:20:30 in Berlin


def _figures(offered: int, answered: int, abandoned: int, level: float | None) -> KpiFigures:
    return KpiFigures(
        **dict.fromkeys(KPI_NAMES, None)
        | {"offered": offered, "answered": answered, "abandoned": abandoned, "service_level_pct": level}
    )


def _entry(agent: str, state: str | None, hotline: int | None = None) -> BoardEntry:
    return BoardEntry(agent=agent, state=state, since="", since_ms=0, event_key=agent, hotline=hotline)


def test_the_current_interval_is_the_quarter_hour_of_the_reporting_zone() -> None:
    assert current_interval(NOW, BERLIN) == datetime(2026, 11, 18, 9, 15, tzinfo=UTC)
    # a zone half an hour off still cuts at its own quarter hours
    assert current_interval(NOW, ZoneInfo("Asia/Kolkata")) == datetime(2026, 11, 18, 9, 15, tzinfo=UTC)


def test_waiting_calls_turn_the_hotline_amber_then_red() -> None:
    targets = WaitTargets(warning_s=60, alarm_s=180)
    assert [targets.status(w) for w in (None, 0, 59.9, 60, 179, 180, 600)] == [
        "ok", "ok", "ok", "warning", "warning", "alarm", "alarm",
    ]  # fmt: skip


def test_a_hotline_tile_has_today_the_current_interval_and_its_agents() -> None:
    found = HotlineKpis(
        hotline="501",
        date="2026-11-18",
        day=_figures(40, 36, 4, 85.0),
        intervals=[
            IntervalKpis("2026-11-18T10:00:00+01:00", _figures(10, 10, 0, 90.0)),
            IntervalKpis("2026-11-18T10:15:00+01:00", _figures(2, 1, 1, 50.0)),
        ],
        sl_seconds=20,
        updated_at=None,
    )
    board = [
        _entry("1", "connected", 501),
        _entry("2", "alerting", 501),
        _entry("3", "online"),
        _entry("4", "offline", 501),
    ]
    tile = hotline_tile(
        "501",
        found,
        [30.0, 200.4],
        board,
        now=NOW,
        zone=BERLIN,
        sl_target_pct=80,
        wait_targets=WaitTargets(),
        title="501 Vertrieb",
    )
    assert (tile["waiting"], tile["oldest_wait_s"], tile["wait_status"]) == (2, 200, "alarm")
    assert tile["title"] == "Hotline 501 Vertrieb"
    assert tile["figures"]["service_level_pct"]["value"] == 85.0
    assert tile["sl_status"] == "met"
    interval = tile["interval"]
    assert interval["start"] == "10:15"
    assert interval["figures"]["offered"]["value"] == 2
    assert interval["few_calls"]  # 2 calls: too few to judge
    assert tile["agents"] == {
        "available": 0, "ringing": 1, "on_call": 1, "after_call_work": 0, "paused": 0, "logged_on": 2,
    }  # fmt: skip


def test_agents_by_state_counts_every_logged_on_agent_once() -> None:
    board = [
        _entry(str(n), s)
        for n, s in enumerate(
            ["online", "outonline", "outconnect", "working", "outpaused", "offline", None, "weird"]
        )
    ]
    assert agents_by_state(board) == {
        "available": 2, "ringing": 0, "on_call": 1, "after_call_work": 1, "paused": 1, "logged_on": 6,
    }  # fmt: skip


def test_handling_time_and_occupancy_of_an_agent() -> None:
    day = AgentDayReport(
        agent="100001",
        day="2026-11-18",
        state_seconds={"online": 1800, "alerting": 200, "connected": 1500, "working": 300, "paused": 900},
        pause_seconds={},
        calls_handled=6,
        latest_event=None,
        updated_at=None,
    )
    assert day.handling() == {"aht_s": 300.0, "occupancy_pct": 47.4}
    idle = AgentDayReport("1", "2026-11-18", {"paused": 60}, {}, 0, None, None)
    assert idle.handling() == {"aht_s": None, "occupancy_pct": None}


def test_a_names_file_round_trips_and_shows_names_beside_numbers(tmp_path: Path) -> None:
    written = names.Names(hotlines={"501": 'Vertrieb "Nord"'}, agents={"100001": "Elif Yılmaz"})
    path = tmp_path / "acd-names.toml"
    path.write_text(names.dumps(written, "edit me"), encoding="utf-8")
    read = names.load(path)
    assert read == written
    assert read.hotline(501) == 'Vertrieb "Nord"'.join(["501 ", ""])
    assert read.agent("100002") == "100002"
    assert read.hotline(None) == ""


def test_a_broken_names_file_says_what_is_wrong(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "names.toml"
    path.write_text("[hotlines]\n501 = 7\n", encoding="utf-8")
    with pytest.raises(names.NamesError, match="must be a name in quotes"):
        names.load(path)
    path.write_text("[hotlines\n", encoding="utf-8")
    with pytest.raises(names.NamesError, match="not a valid TOML"):
        names.load(path)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(names.ENVIRONMENT, raising=False)
    assert names.find() == names.Names()  # no acd-names.toml here: numbers only


@pytest.mark.parametrize("key", ["Vertrieb", '"<script>"', '"5 01"', '"-501"', "1" * 21, '"٥٠١"'])
def test_a_name_under_a_key_that_is_no_id_says_so(tmp_path: Path, key: str) -> None:
    """It named nothing, silently, and /range read the figures of a hotline called after it."""
    path = tmp_path / "names.toml"
    path.write_text(f'[hotlines]\n{key} = "Vertrieb"\n', encoding="utf-8")
    with pytest.raises(names.NamesError, match="is not a number"):
        names.load(path)


def test_a_hotline_is_named_by_its_number_an_agent_by_its_digits(tmp_path: Path) -> None:
    path = tmp_path / "names.toml"
    path.write_text('[hotlines]\n0501 = "Vertrieb"\n[agents]\n012345 = "Anna"\n', encoding="utf-8")
    read = names.load(path)
    assert read.hotline("501") == "501 Vertrieb"  # the reports' key of hotlineid 0501
    assert read.agent("012345") == "012345 Anna"  # an agent number keeps its leading zero


@pytest.mark.parametrize("name", ["Anna \\u202e", "Anna \\u2067x\\u2069", "\\u001b[31mAnna", "Anna\\nBecker"])
def test_a_name_with_a_control_character_or_a_direction_override_says_so(tmp_path: Path, name: str) -> None:
    """An override in one name turned the text after it round wherever names are listed together
    (a call's agents: 100002 read as 200001)."""
    path = tmp_path / "names.toml"
    path.write_text(f'[agents]\n100001 = "{name}"\n', encoding="utf-8")
    with pytest.raises(names.NamesError, match=r"100001: the name holds U\+"):
        names.load(path)


def test_right_to_left_and_joined_names_are_names(tmp_path: Path) -> None:
    """Arabic and Persian names (a zero-width non-joiner inside) need no override: still names."""
    path = tmp_path / "names.toml"
    path.write_text('[agents]\n100001 = "مريم"\n100002 = "می\u200cخواهم"\n', encoding="utf-8")
    read = names.load(path)
    assert read.agent("100001") == "100001 مريم"
    assert read.agent("100002") == "100002 می\u200cخواهم"


def test_a_names_file_with_a_byte_order_mark_is_read(tmp_path: Path) -> None:
    """As a Windows editor saves it: it was "not a valid TOML file" (line 1, column 1)."""
    path = tmp_path / "names.toml"
    path.write_bytes(b"\xef\xbb\xbf" + b'[hotlines]\n501 = "Vertrieb"\n')
    assert names.load(path).hotline("501") == "501 Vertrieb"


def test_periods_and_the_period_before_of_the_same_length() -> None:
    from acd_cli import range_report  # noqa: PLC0415

    assert range_report.period_of("day", "2026-12-05") == ("2026-12-05", "2026-12-05")
    assert range_report.period_of("week", "2026-12-05") == ("2026-11-30", "2026-12-06")  # Mon-Sun
    assert range_report.period_of("month", "2026-02-14") == ("2026-02-01", "2026-02-28")
    assert range_report.previous_of("2026-11-30", "2026-12-06") == ("2026-11-23", "2026-11-29")
    assert range_report.previous_of("2026-03-01", "2026-03-31") == ("2026-01-29", "2026-02-28")
    with pytest.raises(range_report.RangeError, match="before it starts"):
        range_report.checked("2026-12-05", "2026-12-01")
    with pytest.raises(range_report.RangeError, match="at most"):
        range_report.checked("2026-01-01", "2026-12-31")


def test_a_range_not_over_yet_takes_the_hotlines_with_calls_today() -> None:
    """`acd-report range` (the current week by default) without --hotline or names: the hotlines
    with calls on the range's last day, which is today's at the latest (Sunday has none yet)."""
    from types import SimpleNamespace  # noqa: PLC0415

    from acd_cli import range_report  # noqa: PLC0415

    asked: list[str] = []

    def inbound_hotlines(day: str) -> list[str]:
        asked.append(day)
        return ["501"] if day == "2026-12-05" else []

    report = SimpleNamespace(
        names=SimpleNamespace(hotlines={}),
        today=lambda: "2026-12-05",
        queries=SimpleNamespace(inbound_hotlines=inbound_hotlines),
    )
    assert range_report.range_hotlines(report, [], "2026-12-06") == ["501"]  # type: ignore[arg-type]
    assert range_report.range_hotlines(report, [], "2026-11-29") == []  # type: ignore[arg-type]
    assert asked == ["2026-12-05", "2026-11-29"]


def test_acd_sim_writes_the_names_of_its_day(tmp_path: Path) -> None:
    from acd_sim.model import SimConfig  # noqa: PLC0415
    from acd_sim.sim import names_file  # noqa: PLC0415

    path = tmp_path / "acd-names.toml"
    path.write_text(names_file(SimConfig(day=datetime(2026, 11, 18).date(), agents=14)), encoding="utf-8")
    read = names.load(path)
    assert read.hotline("501") == "501 Vertrieb"
    assert len(read.agents) == 14
    assert read.agent("100001") == "100001 Anna Becker"
    assert read.agent("100013") == "100013 Anna Becker 2"  # past the list: numbered, still unique
