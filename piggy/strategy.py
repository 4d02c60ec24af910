"""``piggy strategy list|start|stop|status``. Filled in by the strategy work."""
from __future__ import annotations

import typer

app = typer.Typer(help="Strategies: list, start, stop, status, backtest.", no_args_is_help=True)
