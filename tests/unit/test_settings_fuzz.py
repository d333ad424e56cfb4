"""Mutated config files: whatever the YAML holds, loading it gives Settings or a
ConfigError naming the problem, never another exception (which `polyrelay serve` would
show as a traceback)."""

from __future__ import annotations

from typing import Any

import yaml
from hypothesis import given
from tests.fuzz_support import FUZZ, mutated
from tests.integration.servers import gateway_config

from polyrelay.settings import ConfigError, parse_settings

EXTRA = """\
redis: redis://127.0.0.1:1/0
search: {backend: local, index_path: s.db, timeout: 3}
tasks: {workers: 2, max_attempts: 2}
responses: {retention_seconds: 300}
fetch: {max_bytes: 1000, allow: [a.test]}
media: {pdf_seconds: 5, pdf_memory_bytes: 268435456, pdf_processes: 1}
"""
SEED: Any = yaml.safe_load(gateway_config("http://127.0.0.1:9", "/tmp/polyrelay.db", EXTRA))


def test_the_seed_loads() -> None:
    settings = parse_settings(yaml.safe_dump(SEED), source="seed.yaml", env={})
    assert settings.tasks.workers == 2 and settings.redis == "redis://127.0.0.1:1/0"
    assert settings.media.pdf_processes == 1


@FUZZ
@given(document=mutated(SEED, 4))
def test_a_mutated_config_loads_or_says_what_is_wrong(document: Any) -> None:
    try:
        parse_settings(yaml.safe_dump(document), source="fuzz.yaml", env={})
    except ConfigError as error:
        assert str(error).startswith("fuzz.yaml"), error
