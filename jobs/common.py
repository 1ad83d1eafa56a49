"""What every job's command line shares: reading a config file, turning nbmf errors into exit code 2."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import typer

from nbmf.errors import NBMFError

T = TypeVar("T")


def load_config(path: str) -> dict[str, Any]:
    """A job config file (YAML or JSON) as a dict for pydantic."""
    import yaml

    with open(path, encoding="utf-8") as f:
        loaded = yaml.safe_load(f)
    if not isinstance(loaded, dict):
        raise typer.BadParameter(f"{path} must hold a mapping of config fields")
    return loaded


def run_or_exit(fn: Callable[..., T], *args: Any) -> T:
    """Run a job; an ``NBMFError`` becomes its message on stderr and exit status 2 (no traceback)."""
    try:
        return fn(*args)
    except NBMFError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
