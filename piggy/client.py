"""How the CLI reaches the running stack: the HTTP API (with its token), Redis and the
exchanges' URLs. What the environment and ``piggy.toml`` don't say is taken from the stack
file ``piggy up`` wrote in the state folder (``piggy/stackfile.py``), so a second shell
finds the stack the first one started without any variable."""
from __future__ import annotations

from typing import Any

import httpx
from pydantic import SecretStr

from piggy import stackfile
from piggy.ha_stack import active_url
from piggy.output import FAILED, USAGE, fail
from shared.settings import (
    ApiSettings,
    ExchangeSettings,
    HomeSettings,
    RedisSettings,
    StackSettings,
)


def running_stack() -> stackfile.StackInfo | None:
    return stackfile.read(HomeSettings().home)


def redis_url() -> str:
    """``PIGGY_REDIS_URL`` (or ``PIGGY_REDIS_SENTINELS``) when set (environment or file), else
    the sentinels of a `piggy up --ha` running from this state folder, else the running stack's
    Redis, else the embedded Redis on ``PIGGY_REDIS_PORT``; logged in as
    ``PIGGY_REDIS_USERNAME`` when set, else as the stack's operator (its password from the
    state folder)."""
    settings = RedisSettings()
    info = running_stack()
    url, user, password = settings.redis_url, settings.redis_username, settings.redis_password
    if "redis_url" not in settings.model_fields_set and not settings.redis_sentinels:
        url = (active_url(HomeSettings().home) or (info.redis_url if info else None)
               or f"redis://127.0.0.1:{StackSettings().redis_port}/0")
    if password is None and info is not None and info.redis_user:
        found = stackfile.operator_password(HomeSettings().home)
        if found:
            user, password = info.redis_user, SecretStr(found)
    return settings.model_copy(update={"redis_url": url, "redis_username": user,
                                       "redis_password": password}).url()  # never print it


def redis_shown() -> str:
    """The Redis URL the CLI uses, as it may be printed (no password)."""
    from piggy.child import shown

    return shown(redis_url())


def exchange_url(exchange: str) -> str | None:
    """``PIGGY_<EXCHANGE>_URL`` when set, else the running stack's (its sandbox venue)."""
    given = ExchangeSettings().base_url(exchange)
    if given:
        return given
    info = running_stack()
    return info.exchange_urls.get(f"PIGGY_{exchange.upper()}_URL") if info else None


def api_base(settings: ApiSettings) -> str:
    """``PIGGY_API_HOST``/``PIGGY_API_PORT`` when set, else the running stack's API."""
    info = running_stack()
    if info is not None and not {"api_host", "api_port"} & settings.model_fields_set:
        return info.api_url
    return f"http://{settings.api_host}:{settings.api_port}"


def _token(settings: ApiSettings) -> str | None:
    """``PIGGY_API_TOKEN``, else the token file the stack wrote; None when neither is there."""
    if settings.api_token is not None:
        return settings.api_token.get_secret_value()
    if settings.token_file.exists():
        return settings.token_file.read_text().strip()
    return None


def api_token(settings: ApiSettings) -> str:
    token = _token(settings)
    if token is not None:
        return token
    fail(f"no API token: set PIGGY_API_TOKEN, or start the stack (`piggy up`) to create "
         f"{settings.token_file} (state folder: PIGGY_HOME)", USAGE)


def ask(method: str, path: str, *, params: dict[str, Any] | None = None,
          timeout: float = 10.0) -> Any | None:
    """An optional question to the API: its answer, or None (nothing printed) when there is
    no token, the API can't be reached or it answers an error."""
    settings = ApiSettings()
    token = _token(settings)
    if not token:
        return None
    try:
        resp = httpx.request(method, api_base(settings) + path, params=params, timeout=timeout,
                             headers={"Authorization": f"Bearer {token}"})
        return resp.json() if resp.status_code < 400 else None
    except (httpx.HTTPError, ValueError):
        return None


def call(method: str, path: str, *, json: Any = None, params: dict[str, Any] | None = None,
         timeout: float = 30.0, answers: frozenset[int] = frozenset()) -> Any:
    """One API call; prints a clear message and exits 1 when the API can't be reached.
    A status in ``answers`` (e.g. 422 for refused keys) returns its body like a success."""
    settings = ApiSettings()
    try:
        resp = httpx.request(method, api_base(settings) + path, json=json, params=params,
                             headers={"Authorization": f"Bearer {api_token(settings)}"}, timeout=timeout)
    except httpx.HTTPError as exc:
        fail(f"API unreachable at {api_base(settings)} ({type(exc).__name__}); is `piggy up` running, "
             "and is PIGGY_API_PORT right?")
    if resp.status_code == 401:
        fail(f"the API refused the token (401): check PIGGY_API_TOKEN or {settings.token_file}", USAGE)
    try:
        body = resp.json()
    except ValueError:
        body = {"detail": resp.text}
    if resp.status_code >= 400 and resp.status_code not in answers:
        detail = body.get("detail", body) if isinstance(body, dict) else body
        fail(f"API error {resp.status_code}: {detail}", FAILED)
    return body
