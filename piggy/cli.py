"""``piggy``: run the stack, trade a test amount, operate the live switch and emergency stop."""
from __future__ import annotations

import typer

from piggy import keys, strategy

app = typer.Typer(help="CryptoPiggy operator CLI.", no_args_is_help=True, add_completion=False)
app.add_typer(keys.app, name="keys")
app.add_typer(strategy.app, name="strategy")
