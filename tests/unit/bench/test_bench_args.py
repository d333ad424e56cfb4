"""bench/run.py's arguments and its report of rounds that measured nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from bench.report import Report
from bench.run import _note_missing, parse_args


def test_run_lengths_are_whole_seconds_as_wrk_takes_them() -> None:
    assert parse_args(["--cpu-seconds", "3", "--duration", "2"]).cpu_seconds == 3.0
    for bad in ("1.5", "0", "-2"):
        with pytest.raises(SystemExit):
            parse_args(["--cpu-seconds", bad])
        with pytest.raises(SystemExit):
            parse_args(["--duration", bad])


def test_cells_no_round_measured_are_failures() -> None:
    report = Report()
    _note_missing(report, "CPU rounds", {"chat→openai/json": 0.2}, ["chat→openai"])
    assert report.failures == {"CPU rounds": "no good run for chat→openai/stream"}
    _note_missing(
        report, "p50 rounds", {"chat→openai/json": 0.3, "chat→openai/stream": 0.4}, ["chat→openai"]
    )
    assert "p50 rounds" not in report.failures


def test_main_table_rounds_default_to_three_and_one_in_quick_mode() -> None:
    assert parse_args([]).rounds == 3
    assert parse_args(["--quick"]).rounds == 1
    assert parse_args(["--rounds", "5"]).rounds == 5
    with pytest.raises(SystemExit):
        parse_args(["--rounds", "0"])


def test_the_peer_gets_a_venv_of_its_own_per_interpreter(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import platform
    import sys
    from pathlib import Path

    from bench.peers import base_interpreter, peer_venv

    base = base_interpreter()
    assert base.is_file()
    assert base == Path(sys._base_executable).resolve()  # a venv's python: its base
    one = peer_venv()
    assert one.name.startswith(f".peer-venv-{platform.python_version()}-")
    assert one.parent == Path(__file__).resolve().parents[3] / "bench"
    monkeypatch.setattr(sys, "_base_executable", "/usr/bin/python3.11")
    assert base_interpreter() == Path("/usr/bin/python3.11").resolve()
    assert peer_venv() != one


def test_polyrelay_runs_on_the_database_given(tmp_path: Path) -> None:
    from bench.upstream import Upstream, gateway_config

    upstream = Upstream(child=None, port=1)  # type: ignore[arg-type]
    url = "postgresql://bench@127.0.0.1:5432/bench"
    assert parse_args(["--database", url]).database == url
    assert parse_args([]).database is None
    assert f"database: {url}\n" in gateway_config(upstream, 2, "sk-k", url)
    own_file = gateway_config(upstream, 2, "sk-k", tmp_path / "bench.db")
    assert f"database: sqlite:///{tmp_path / 'bench.db'}\n" in own_file
