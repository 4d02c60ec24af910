"""``piggy config show``: every setting, its value (secrets masked) and where it came from."""
from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer
from pydantic import SecretStr, ValidationError

from piggy import output
from shared import config_file
from shared.settings import BaseSettings

app = typer.Typer(help="The configuration: piggy.toml, the environment, the defaults.",
                  no_args_is_help=True)


def settings_classes() -> list[type[BaseSettings]]:
    """Every settings class (each subclass of shared.settings.BaseSettings, the dashboard's, the
    books' and the exchange rate budget's too)."""
    import services.dashboard.settings  # noqa: F401 - registers DashboardSettings
    import shared.books.settings  # noqa: F401 - registers BooksSettings
    import shared.exchanges.budget  # noqa: F401 - registers RateBudgetSettings

    found: list[type[BaseSettings]] = []
    todo = list(BaseSettings.__subclasses__())
    while todo:
        cls = todo.pop(0)
        if cls not in found:
            found.append(cls)
            todo.extend(cls.__subclasses__())
    return found


@dataclass(frozen=True)
class Row:
    key: str
    env: str
    value: str
    source: str
    owner: str


def _shown(value: Any) -> str:
    if isinstance(value, SecretStr):
        return "********" if value.get_secret_value() else ""
    if value is None:
        return ""
    return str(value)


def rows(environ: Mapping[str, str], path: Path | None, data: Mapping[str, Any]) -> list[Row]:
    """One row per setting (first class that reads it wins); a class that can't be built
    from this environment/file raises its ValidationError."""
    out: dict[str, Row] = {}
    upper_env = {k.upper(): k for k in environ}
    for cls in settings_classes():
        prefix = cls.model_config.get("env_prefix", "")
        built = cls()
        for name, field in cls.model_fields.items():
            key = config_file.file_key(name, field, prefix)
            if key in out:
                continue
            names = config_file.env_names(name, field, prefix)
            from_env = next((n for n in names if n.upper() in upper_env), None)
            if from_env is not None:
                source = f"env {from_env}"
            elif key in data:
                source = f"file {path}"
            else:
                source = "default"
            out[key] = Row(key, names[0], _shown(getattr(built, name)), source, cls.__name__)
    return sorted(out.values(), key=lambda r: r.key)


@app.command("show")
def show(as_json: bool = typer.Option(False, "--json", help="data only, as JSON")) -> None:
    """Every setting with its value (secrets masked) and its source: env, file or default."""
    path, data = config_file.load()
    unknown = config_file.unknown_keys(data, settings_classes())
    if unknown:
        output.fail(f"{path}: unknown setting(s) {', '.join(unknown)} (keys are the environment "
                    "names without PIGGY_, lower case; see `piggy config show`)", output.USAGE)
    try:
        found = rows(os.environ, path, data)
    except ValidationError as exc:
        output.fail(describe_validation(exc), output.USAGE)
    searched = [str(p) for p in config_file.candidates()]
    if as_json:
        output.emit_json({"file": str(path) if path else None, "searched": searched,
                          "settings": [r.__dict__ for r in found]})
        return
    output.say(f"config file: {path or 'none'} (looked in: {', '.join(searched)})")
    output.table(["key", "value", "source", "environment"],
                 [(r.key, r.value, r.source, r.env) for r in found])


def check_file() -> None:
    """Refuse a config file with keys no setting reads (a typo would be silently ignored)."""
    path, data = config_file.load()
    unknown = config_file.unknown_keys(data, settings_classes())
    if unknown:
        raise config_file.ConfigFileError(f"{path}: unknown setting(s) {', '.join(unknown)}")


def describe_validation(exc: ValidationError) -> str:
    """A settings error as one line naming the variable (never the value: it may be a secret)."""
    parts = []
    for e in exc.errors(include_url=False, include_input=False):
        loc = str(e["loc"][0]) if e["loc"] else ""
        name = loc if loc.isupper() else f"PIGGY_{loc.upper()}"
        msg = str(e["msg"]).removeprefix("Value error, ")
        parts.append(msg if name in msg else f"{name} (or {loc.lower()} in piggy.toml): {msg}")
    return "; ".join(parts)
