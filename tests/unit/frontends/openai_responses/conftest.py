"""Shared helpers for the OpenAI Responses frontend tests."""

from __future__ import annotations

from pathlib import Path

TESTS = Path(__file__).parents[3]
CLIENTS = TESTS / "fixtures" / "clients" / "openai-responses"
# Copied unchanged from shared/clients/samples, so CI does not depend on that folder.
SAMPLES = TESTS / "fixtures" / "clients" / "codex"
