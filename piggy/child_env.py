"""What each child of ``piggy up`` may find in its environment: an allow-list per child.

The names a service may read are the environment names of the settings classes its own code
builds (found in its package's source, ``XxxSettings(...)`` calls, plus the logging settings
every service builds), so a new setting reaches the service that reads it and no other.
Secrets are handed out separately: each service gets its own Redis user and password, the
vault master key goes only to the processes that decrypt (the gateway, the credentials
service, the books — whose reconciler reads the exchanges — and the executor when its direct
route is configured), the operator's API token only
to the gateway (which checks it); the dashboard, the sandbox and the strategy get none.
"""
from __future__ import annotations

import ast
import functools
from collections.abc import Mapping
from pathlib import Path

from piggy.config import settings_classes
from shared import config_file

ROOT = Path(__file__).resolve().parent.parent
# What any Python process needs to run as the user who started it (no secret among them).
PROCESS = frozenset({"PATH", "HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "TZ", "TMPDIR",
                     "PYTHONPATH", "PYTHONUNBUFFERED", "PYTHONHASHSEED", "VIRTUAL_ENV",
                     "SSL_CERT_FILE", "SSL_CERT_DIR", "XDG_DATA_HOME", "XDG_CONFIG_HOME",
                     config_file.CONFIG_ENV, "PIGGY_INSTANCE_ID", "PIGGY_HEALTH_PORT"})
PROCESS_PREFIXES = ("LC_",)
# Secrets, each handed out by the launcher to whom it belongs, never passed through.
REDIS_LOGIN = frozenset({"PIGGY_REDIS_USERNAME", "PIGGY_REDIS_PASSWORD"})
MASTER_KEY = "PIGGY_MASTER_KEY"
API_TOKEN = "PIGGY_API_TOKEN"
# the executor too, with its direct route; the books: the reconciler reads the exchanges
DECRYPTS = frozenset({"gateway", "credentials", "books"})
PACKAGES = {"gateway": "services/gateway", "executor": "services/executor",
            "credentials": "services/credentials", "strategy": "services/strategy",
            "notifier": "services/notifier", "dashboard": "services/dashboard", "books": "services/books",
            "sandbox": "sandbox"}
EVERY_SERVICE = ("shared/service.py",)  # LogSettings, ServiceSettings: every service's wiring


def secret_names() -> frozenset[str]:
    """Every environment name of a secret setting (a ``SecretStr`` field) and the Redis logins."""
    names: set[str] = set(REDIS_LOGIN)
    for cls in settings_classes():
        prefix = cls.model_config.get("env_prefix", "")
        for name, field in cls.model_fields.items():
            if "SecretStr" in str(field.annotation):
                names.update(config_file.env_names(name, field, prefix))
    return frozenset(names)


def _built_in(paths: list[Path]) -> set[str]:
    """Names of the classes called in these files (``FooSettings(...)``)."""
    called: set[str] = set()
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Call):
                func = node.func
                name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
                if name.endswith("Settings"):
                    called.add(name)
    return called


@functools.cache
def settings_read_by(child: str) -> frozenset[str]:
    """The environment names ``child`` reads: every field of every settings class its code
    builds (and, for the services, the wiring every service builds)."""
    folder = ROOT / PACKAGES.get(child, f"services/{child}")  # a new service: its folder
    files = sorted(folder.rglob("*.py"))
    if child != "sandbox":
        files += [ROOT / f for f in EVERY_SERVICE]
    called = _built_in(files)
    names: set[str] = set()
    for cls in settings_classes():
        if cls.__name__ in called:
            prefix = cls.model_config.get("env_prefix", "")
            for name, field in cls.model_fields.items():
                names.update(config_file.env_names(name, field, prefix))
    return frozenset(names)


def handed_out(name: str) -> bool:
    """The secrets the launcher gives to their owners itself (never passed through)."""
    return name in REDIS_LOGIN or name in (MASTER_KEY, API_TOKEN) or name.startswith(
        "PIGGY_REDIS_PASSWORD")


def allowed(child: str, name: str) -> bool:
    """May ``child`` see the variable ``name`` passed through from the launcher's environment?
    A secret setting only when the child reads it (the notifier's alert URLs, the executor's
    confirm token); the launcher's own secrets never."""
    if handed_out(name):
        return False
    return (name in PROCESS or name.startswith(PROCESS_PREFIXES)
            or (child == "dashboard" and name.startswith("STREAMLIT_"))
            or name in settings_read_by(child))


def decrypts(child: str, direct_route: bool) -> bool:
    return child in DECRYPTS or (child == "executor" and direct_route)


def child_env(child: str, given: Mapping[str, str], own_secrets: Mapping[str, str]) -> dict[str, str]:
    """``given`` (the launcher's environment and the stack's own settings) filtered for
    ``child``, plus the secrets that are its own (its Redis login, the master key if it
    decrypts, the API token for the gateway)."""
    env = {k: v for k, v in given.items() if allowed(child, k)}
    return env | dict(own_secrets)
