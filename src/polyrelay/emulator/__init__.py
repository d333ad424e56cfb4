"""The provider emulator: OpenAI, Anthropic and Gemini wire protocols with scripted answers.

See the "provider emulator" section of DESIGN.md for the contract, and `script.py` for the
directives (`[[tool ...]]`, `[[error ...]]`, `[[cut N]]`, ...).
"""

from __future__ import annotations

from polyrelay.emulator.app import create_emulator_app

__all__ = ["create_emulator_app", "run_emulator"]


def run_emulator(host: str, port: int, latency_ms: int, tokens_per_second: float | None) -> None:
    """Serve the emulator until interrupted."""
    import uvicorn

    app = create_emulator_app(latency_ms=latency_ms, tokens_per_second=tokens_per_second)
    uvicorn.run(app, host=host, port=port, loop="uvloop", http="httptools", log_level="warning")
