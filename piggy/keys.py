"""``piggy keys set|status|delete``. Filled in by the credentials work."""
from __future__ import annotations

import typer

app = typer.Typer(help="Exchange API keys: save (encrypted), validate, status, delete.", no_args_is_help=True)
