"""`cache_write_1h_price`: the writes Anthropic keeps for one hour (`ttl: 1h`) are billed
2x the input price, the 5-minute ones 1.25x. The model setting prices the 1h part of the
writes; unset, it is `cache_write_price`, so a config without it costs as before."""

from __future__ import annotations

import pytest

from polyrelay.ir import Usage
from polyrelay.settings import ConfigError, ModelConfig, embedded_settings, parse_settings
from polyrelay.storage.usage import cost_usd

PROVIDER = "providers:\n  a: {type: anthropic, base_url: http://x}\n"
MILLION = 1_000_000


def _prices(**prices: float) -> ModelConfig:
    return ModelConfig(name="m", provider="p", model="m", **prices)  # type: ignore[arg-type]


CLAUDE = _prices(
    input_price=3.0,
    output_price=15.0,
    cache_read_price=0.3,
    cache_write_price=3.75,
    cache_write_1h_price=6.0,
)


def _writes(total: int, one_hour: int) -> Usage:
    """`total` cache writes (the input includes them), `one_hour` of them for 1h."""
    return Usage(
        input_tokens=MILLION + total,
        output_tokens=MILLION,
        cache_write_tokens=total,
        cache_write_1h_tokens=one_hour,
    )


@pytest.mark.parametrize(
    ("total", "one_hour", "writes_cost"),
    [
        (MILLION, 0, 3.75),  # 5m only
        (MILLION, MILLION, 6.0),  # 1h only
        (4 * MILLION, MILLION, 3 * 3.75 + 6.0),  # mixed
    ],
)
def test_the_1h_writes_go_at_their_own_price(total: int, one_hour: int, writes_cost: float) -> None:
    assert cost_usd(_writes(total, one_hour), CLAUDE) == pytest.approx(3.0 + 15.0 + writes_cost)


def test_unset_the_1h_price_is_the_write_price() -> None:
    usage = _writes(4 * MILLION, MILLION)
    five_minutes = _prices(input_price=3.0, output_price=15.0, cache_write_price=3.75)
    assert cost_usd(usage, five_minutes) == cost_usd(_writes(4 * MILLION, 0), five_minutes)
    assert cost_usd(usage, five_minutes) == pytest.approx(3.0 + 15.0 + 4 * 3.75)
    # No cache price at all: every write at the input price, as before.
    plain = _prices(input_price=3.0, output_price=15.0)
    assert cost_usd(usage, plain) == pytest.approx(5 * 3.0 + 15.0)
    # A free 1h write is free, not at the write price.
    free = _prices(input_price=3.0, output_price=15.0, cache_write_1h_price=0)
    assert cost_usd(usage, free) == pytest.approx(4 * 3.0 + 15.0)


def test_the_embedded_claude_models_write_1h_at_twice_the_input_price() -> None:
    models = embedded_settings({"ANTHROPIC_API_KEY": "a"}).models.values()
    claude = [m for m in models if m.name.startswith("claude-")]
    assert claude
    for model in claude:
        assert model.input_price is not None, model.name
        assert model.cache_write_1h_price == 2 * model.input_price, model.name
        assert model.cache_write_price == 1.25 * model.input_price, model.name


def test_the_setting_is_read() -> None:
    text = f"{PROVIDER}models:\n  c: {{provider: a, cache_write_1h_price: 6}}\n"
    settings = parse_settings(text, source="polyrelay.yaml", env={})
    assert settings.models["c"].cache_write_1h_price == 6.0
    unset = parse_settings(f"{PROVIDER}models:\n  c: {{provider: a}}\n", source="x", env={})
    assert unset.models["c"].cache_write_1h_price is None


def test_a_negative_1h_price_is_a_config_error() -> None:
    text = f"{PROVIDER}models:\n  c: {{provider: a, cache_write_1h_price: -1}}\n"
    with pytest.raises(ConfigError) as info:
        parse_settings(text, source="polyrelay.yaml", env={})
    assert str(info.value).startswith("polyrelay.yaml:4: models.c.cache_write_1h_price: "), str(
        info.value
    )
    assert ">= 0" in str(info.value)
