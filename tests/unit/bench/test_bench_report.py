"""The report's multiples: CPU ones pair the runs of one round, instruction ones divide."""

from __future__ import annotations

from bench.report import Report, _cpu_sections

UPSTREAM_OF = {
    "chat→openai": "openai",
    "messages→anthropic": "anthropic",
    "chat→anthropic": "anthropic",
}


def test_cpu_multiples_are_medians_of_the_rounds_multiples() -> None:
    # Round 2 was slow for both cells; round 3 lucky for the fast path only. The least
    # disturbed figures alone would say 0.36 / 0.20 = 1.80x; within rounds it is 1.2x.
    each: dict[str, list[float | None]] = {
        "chat→openai/stream": [0.30, 0.60, 0.20, None],
        "chat→anthropic/stream": [0.36, 0.72, 0.40, 0.50],
        "messages→anthropic/stream": [0.25, 0.50, 0.30, 0.30],
    }
    report = Report(cpu_rounds=4, cpu_connections=16, cpu_each=each)
    report.cpu_min = {key: min(v for v in runs if v) for key, runs in each.items()}
    text = "\n".join(_cpu_sections(report, UPSTREAM_OF))
    assert "chat→anthropic              stream 0.360 ms  1.20x chat→openai (same client)" in text
    assert "1.44x messages→anthropic (same upstream)" in text  # median of 1.44, 1.44, 1.33, 1.67
    assert "worst vs the same client's fast path 1.20x" in text


def test_instruction_multiples_divide_the_counts() -> None:
    report = Report(instructions={"chat→openai/json": 0.5, "chat→anthropic/json": 0.6})
    text = "\n".join(_cpu_sections(report, UPSTREAM_OF))
    assert "chat→anthropic              json   0.60 M  1.20x chat→openai (same client)" in text


def test_a_cell_keeps_its_best_round_whole() -> None:
    from bench.report import Cell

    cell = Cell("polyrelay", "chat→openai", True, 1)
    cell.take(900.0, 1.1, 2.0, 0.9, 4500)
    cell.take(1200.0, 0.8, 1.5, 0.6, 6000)  # the least disturbed round
    cell.take(1000.0, 0.7, 1.4, 0.7, 5000)  # a lower p50 alone does not mix rounds
    assert (cell.rps, cell.p50_ms, cell.p99_ms, cell.cpu_ms_per_req, cell.requests) == (
        1200.0,
        0.8,
        1.5,
        0.6,
        6000,
    )
    assert cell.rounds_rps == [900.0, 1200.0, 1000.0] and not cell.failure


def test_one_bad_round_fails_the_cell_whatever_the_others_did() -> None:
    from bench.report import Cell, render

    cell = Cell("polyrelay", "chat→openai", False, 1)
    cell.take(1500.0, 0.5, 0.9, 0.3, 7500)
    cell.fail("3 bad responses, e.g. 502", 3, "502")
    cell.take(1600.0, 0.5, 0.9, 0.3, 8000)
    assert cell.failure == "3 bad responses, e.g. 502" and cell.errors == 3
    assert cell.rounds_rps == [1500.0, 0.0, 1600.0]
    report = Report(cells=[cell], rounds=3)
    text = render(report, None, {"chat→openai": "openai"})
    assert "FAILED" in text and "polyrelay chat→openai json: 3 bad responses, e.g. 502" in text
    assert "the round with the most req/s of 3 interleaved rounds" in text


def test_the_report_names_the_interpreter_every_gateway_ran_on() -> None:
    from bench.report import render

    report = Report(python="3.11.2 (/usr/bin/python3.11)", rss_mb={"polyrelay": 60.0})
    report.start_seconds = {"polyrelay": 0.5}
    text = render(report, None, {})
    assert "Python 3.11.2 (/usr/bin/python3.11), for every gateway" in text
    assert "Python" not in render(Report(), None, {})
