"""``piggy.toml``: where it is found, how it is read, and the source that applies it.

The file is flat: every key is a setting's environment name without the ``PIGGY_`` prefix,
in lower case (``PIGGY_API_PORT`` → ``api_port = 8000``; ``ALLOW_LIVE`` → ``allow_live``).
It is looked for, first found wins:

1. the path in ``PIGGY_CONFIG`` (``piggy --config FILE`` sets it; it must exist);
2. ``$XDG_CONFIG_HOME/cryptopiggy/piggy.toml`` (default ``~/.config/cryptopiggy/piggy.toml``);
3. ``piggy.toml`` in the state folder (``PIGGY_HOME``, default ``~/.local/share/cryptopiggy``).

Everything is read when a settings object is built (never at import time), from the
environment of that moment; children of ``piggy up`` inherit ``PIGGY_CONFIG``.
"""
from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, InitSettingsSource

CONFIG_ENV = "PIGGY_CONFIG"
FILE_NAME = "piggy.toml"


class ConfigFileError(ValueError):
    """The config file named can't be used; the message says which file and why."""


def default_home(environ: Mapping[str, str] | None = None) -> Path:
    """The state folder when ``PIGGY_HOME`` is not set: ``$XDG_DATA_HOME/cryptopiggy``."""
    env = os.environ if environ is None else environ
    data = env.get("XDG_DATA_HOME") or str(Path(env.get("HOME") or Path.home()) / ".local" / "share")
    return Path(data) / "cryptopiggy"


def state_home(environ: Mapping[str, str] | None = None) -> Path:
    """The state folder from the environment alone (the config file may not move it)."""
    env = os.environ if environ is None else environ
    home = env.get("PIGGY_HOME", "").strip()
    return Path(home).expanduser() if home else default_home(env)


def candidates(environ: Mapping[str, str] | None = None) -> list[Path]:
    """Where the file is looked for, in order (``PIGGY_CONFIG`` alone when it is set)."""
    env = os.environ if environ is None else environ
    explicit = env.get(CONFIG_ENV, "").strip()
    if explicit:
        return [Path(explicit).expanduser()]
    config = env.get("XDG_CONFIG_HOME") or str(Path(env.get("HOME") or Path.home()) / ".config")
    return [Path(config) / "cryptopiggy" / FILE_NAME, state_home(env) / FILE_NAME]


def find_config_file(environ: Mapping[str, str] | None = None) -> Path | None:
    """The file in use, or None; a ``PIGGY_CONFIG`` that names no file is an error."""
    env = os.environ if environ is None else environ
    paths = candidates(env)
    if env.get(CONFIG_ENV, "").strip():
        if not paths[0].is_file():
            raise ConfigFileError(f"config file {paths[0]} (from {CONFIG_ENV} / --config) does not exist")
        return paths[0]
    return next((p for p in paths if p.is_file()), None)


def read_config_file(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigFileError(f"{path}: not valid TOML ({exc})") from exc
    except OSError as exc:
        raise ConfigFileError(f"{path}: can't be read ({exc.strerror})") from exc
    nested = [k for k, v in data.items() if isinstance(v, dict)]
    if nested:
        raise ConfigFileError(f"{path}: tables are not used ([{nested[0]}]); write every setting "
                              "as a top-level key, e.g. api_port = 8000")
    return {k.lower(): v for k, v in data.items()}


def load(environ: Mapping[str, str] | None = None) -> tuple[Path | None, dict[str, Any]]:
    """The file in use and its settings (empty when there is none)."""
    path = find_config_file(environ)
    return path, (read_config_file(path) if path is not None else {})


def file_key(name: str, field: FieldInfo, prefix: str) -> str:
    """The key a field has in the file: its environment name without the prefix, lower case."""
    return env_names(name, field, prefix)[0].lower().removeprefix(prefix.lower())


def env_names(name: str, field: FieldInfo, prefix: str) -> list[str]:
    """Every environment name a field is read from (its aliases, else prefix + name)."""
    alias = field.validation_alias
    choices = getattr(alias, "choices", None)
    if choices:
        return [str(c) for c in choices]
    if isinstance(alias, str):
        return [alias]
    return [f"{prefix}{name}".upper()]


def _canonical(name: str, field: FieldInfo) -> str:
    """The key pydantic validates this field under (the first alias when it has aliases)."""
    alias = field.validation_alias
    choices = getattr(alias, "choices", None)
    if choices:
        return str(choices[0])
    return alias if isinstance(alias, str) else name


class FileSettingsSource(InitSettingsSource):
    """The config file's values for the fields of one settings class (others are ignored:
    one flat file feeds every class; unknown keys are reported by ``unknown_keys``)."""

    def __init__(self, settings_cls: type[BaseSettings]) -> None:
        self.path, data = load()
        prefix = settings_cls.model_config.get("env_prefix", "")
        values = {}
        for name, field in settings_cls.model_fields.items():
            key = file_key(name, field, prefix)
            if key in data:
                values[_canonical(name, field)] = data[key]
        super().__init__(settings_cls, values)

    def __repr__(self) -> str:
        return f"FileSettingsSource({self.path})"


def unknown_keys(data: Mapping[str, Any], classes: Sequence[type[BaseSettings]]) -> list[str]:
    """Keys of the file that no settings class reads (a typo is reported, not ignored)."""
    known = {file_key(n, f, c.model_config.get("env_prefix", ""))
             for c in classes for n, f in c.model_fields.items()}
    return sorted(set(data) - known)
