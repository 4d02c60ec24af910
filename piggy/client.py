"""How the CLI reaches the running stack: the HTTP API (with its token) and Redis."""
from __future__ import annotations

from typing import Any

import httpx
import typer

from shared.settings import ApiSettings


def api_base(settings: ApiSettings) -> str:
    return f"http://{settings.api_host}:{settings.api_port}"


def api_token(settings: ApiSettings) -> str:
    if settings.api_token is not None:
        return settings.api_token.get_secret_value()
    if settings.token_file.exists():
        return settings.token_file.read_text().strip()
    raise typer.BadParameter(
        f"no API token: set PIGGY_API_TOKEN or start the stack (piggy up) to create {settings.token_file}")


def call(method: str, path: str, *, json: Any = None, params: dict[str, Any] | None = None,
         timeout: float = 30.0, answers: frozenset[int] = frozenset()) -> Any:
    """One API call; prints a clear message and exits 1 when the API can't be reached.
    A status in ``answers`` (e.g. 422 for refused keys) returns its body like a success."""
    settings = ApiSettings()
    try:
        resp = httpx.request(method, api_base(settings) + path, json=json, params=params,
                             headers={"Authorization": f"Bearer {api_token(settings)}"}, timeout=timeout)
    except httpx.HTTPError as exc:
        typer.secho(f"API unreachable at {api_base(settings)}: {type(exc).__name__}. Is `piggy up` running?",
                    fg="red", err=True)
        raise typer.Exit(1) from exc
    if resp.status_code == 401:
        typer.secho("API refused the token (401): check PIGGY_API_TOKEN / .piggy/api-token", fg="red", err=True)
        raise typer.Exit(1)
    try:
        body = resp.json()
    except ValueError:
        body = {"detail": resp.text}
    if resp.status_code >= 400 and resp.status_code not in answers:
        typer.secho(f"API error {resp.status_code}: {body.get('detail', body) if isinstance(body, dict) else body}",
                    fg="red", err=True)
        raise typer.Exit(1)
    return body
