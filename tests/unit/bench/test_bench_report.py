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
