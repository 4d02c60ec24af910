"""Strategy configuration from YAML/TOML and the environment (files in tmp_path only)."""
from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from services.strategy.config import ConfigError, load, parse
from services.strategy.crossover import CrossoverConfig
from services.strategy.dca import DcaConfig

pytestmark = pytest.mark.unit
REPO = Path(__file__).resolve().parents[2]
DCA = {"name": "pig", "kind": "dca", "user_id": "alice", "symbol": "BTC/USDT",
       "amount_usd": "5", "interval_s": 60, "budget_usd": "20"}


def test_example_config_in_the_repo_is_valid() -> None:
    configs = load(REPO / "strategies.example.yaml", {})
    assert [type(c) for c in configs] == [DcaConfig, CrossoverConfig]


def test_toml_file_loads(tmp_path: Path) -> None:
    f = tmp_path / "s.toml"
    f.write_text('[[strategies]]\nname = "pig"\nkind = "dca"\nuser_id = "alice"\n'
                 'symbol = "BTC/USDT"\namount_usd = "5"\ninterval_s = 60\nbudget_usd = "20"\n')
    (c,) = load(f, {})
    assert isinstance(c, DcaConfig) and c.amount_usd == Decimal(5)


def test_environment_overrides_one_field_of_one_strategy() -> None:
    (c,) = parse({"strategies": [DCA]}, {"PIGGY_STRATEGY__PIG__AMOUNT_USD": "7.5", "HOME": "/x"})
    assert c.amount_usd == Decimal("7.5")


def test_override_for_an_unknown_strategy_is_refused() -> None:
    with pytest.raises(ConfigError, match="no configured strategy"):
        parse({"strategies": [DCA]}, {"PIGGY_STRATEGY__NOPE__AMOUNT_USD": "1"})


@pytest.mark.parametrize(("entry", "message"), [
    ({**DCA, "kind": "martingale"}, "unknown kind"),
    ({**DCA, "amount_usd": "-1"}, "amount_usd"),
    ({**DCA, "surprise": 1}, "surprise"),
    ({**DCA, "name": "Has Spaces"}, "name"),
])
def test_bad_entries_are_refused_with_a_reason(entry: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse({"strategies": [entry]})


def test_duplicate_names_are_refused() -> None:
    with pytest.raises(ConfigError, match="unique"):
        parse({"strategies": [DCA, DCA]})


def test_no_file_means_no_strategies() -> None:
    assert load(None, {}) == []
