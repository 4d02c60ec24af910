"""Strategy configuration: a YAML or TOML file, then per-field overrides from the environment.

File shape (YAML; TOML uses ``[[strategies]]`` tables)::

    strategies:
      - {name: piggy, kind: dca, user_id: alice, symbol: BTC/USDT,
         amount_usd: "5", interval_s: 86400, budget_usd: "100"}

An environment variable ``PIGGY_STRATEGY__<NAME>__<FIELD>`` overrides one field of one
strategy (name upper-cased, ``-`` as ``_``), e.g. ``PIGGY_STRATEGY__PIGGY__AMOUNT_USD=10``.
"""
from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from services.strategy.base import Strategy, StrategyConfig
from services.strategy.crossover import Crossover
from services.strategy.dca import Dca

Kinds = Mapping[str, type[Strategy[Any, Any]]]
KINDS: dict[str, type[Strategy[Any, Any]]] = {"dca": Dca, "crossover": Crossover}
ENV_PREFIX = "PIGGY_STRATEGY__"


class ConfigError(ValueError):
    pass


def read_file(path: Path) -> dict[str, Any]:
    text = path.read_text()
    if path.suffix.lower() == ".toml":
        data: Any = tomllib.loads(text)
    elif path.suffix.lower() in (".yaml", ".yml"):
        data = yaml.safe_load(text) or {}
    else:
        raise ConfigError(f"{path}: use a .yaml, .yml or .toml file")
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping with a 'strategies' list")
    return data


def env_overrides(env: Mapping[str, str]) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for key, value in env.items():
        if not key.upper().startswith(ENV_PREFIX):
            continue
        parts = key[len(ENV_PREFIX):].split("__")
        if len(parts) != 2 or not all(parts):
            raise ConfigError(f"{key}: expected {ENV_PREFIX}<NAME>__<FIELD>")
        out.setdefault(parts[0].upper(), {})[parts[1].lower()] = value
    return out


def parse(data: Mapping[str, Any], env: Mapping[str, str] | None = None,
          kinds: Kinds = KINDS) -> list[StrategyConfig]:
    """Validate every strategy entry against its kind's config model; names are unique."""
    entries = data.get("strategies") or []
    unknown = set(data) - {"strategies"}
    if unknown:
        raise ConfigError(f"unknown top-level keys: {sorted(unknown)}")
    if not isinstance(entries, list):
        raise ConfigError("'strategies' must be a list")
    overrides = env_overrides(env or {})
    configs: list[StrategyConfig] = []
    for i, raw in enumerate(entries):
        if not isinstance(raw, dict):
            raise ConfigError(f"strategies[{i}] is not a mapping")
        name = str(raw.get("name", ""))
        merged = {**raw, **overrides.pop(name.upper().replace("-", "_"), {})}
        kind = merged.get("kind")
        if not isinstance(kind, str) or kind not in kinds:
            raise ConfigError(f"strategies[{i}] ({name or '?'}): unknown kind {kind!r}; "
                              f"known: {sorted(kinds)}")
        try:
            configs.append(kinds[kind].Config.model_validate(merged))
        except ValueError as exc:
            raise ConfigError(f"strategies[{i}] ({name or '?'}): {exc}") from exc
    if overrides:
        raise ConfigError(f"environment overrides name no configured strategy: {sorted(overrides)}")
    names = [c.name for c in configs]
    if len(set(names)) != len(names):
        raise ConfigError(f"strategy names must be unique: {names}")
    return configs


def load(path: Path | None, env: Mapping[str, str] | None = None,
         kinds: Kinds = KINDS) -> list[StrategyConfig]:
    if path is None:
        return []
    return parse(read_file(path), env, kinds)


def build(config: StrategyConfig, state_json: str | None = None,
          kinds: Kinds = KINDS) -> Strategy[Any, Any]:
    return kinds[config.kind].from_json(config, state_json)
