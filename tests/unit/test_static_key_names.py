"""Two static keys of one name would be one identity (`static:NAME`): the config is refused."""

from __future__ import annotations

import pytest

from polyrelay.settings import ConfigError, parse_settings

HEAD = "providers:\n  p: {type: openai, base_url: http://x/v1}\nmodels:\n  m: {provider: p}\n"


def parse_keys(keys: str, env: dict[str, str] | None = None) -> None:
    parse_settings(HEAD + "keys:\n" + keys, source="polyrelay.yaml", env=env or {})


def test_two_static_keys_of_one_name_are_refused_naming_both() -> None:
    keys = (
        "  - {key: sk-one, name: ci}\n  - {key: sk-other, name: ops}\n  - {key: sk-two, name: ci}\n"
    )
    with pytest.raises(ConfigError) as info:
        parse_keys(keys)
    message = str(info.value)
    assert message.startswith("polyrelay.yaml:8: keys[2].name: duplicate name 'ci'")
    assert "keys[0], line 6" in message


def test_a_key_switched_off_by_an_unset_variable_still_counts() -> None:
    # Setting the variable later must not merge two identities.
    keys = '  - {key: sk-one, name: ci}\n  - {key: "${LATER_KEY}", name: ci}\n'
    with pytest.raises(ConfigError, match="duplicate name 'ci'"):
        parse_keys(keys)


def test_distinct_names_load() -> None:
    parse_keys("  - {key: sk-one, name: ci}\n  - {key: sk-two, name: ops}\n")
