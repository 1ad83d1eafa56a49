"""Promote and roll back: move a domain's channels in the registry.

nbmf promote --domain legal --version 3 [--canary 10] [--force --reason "…"]
nbmf rollback --domain legal [--reason "…"]
"""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from nbmf.errors import NBMFError
from nbmf.promotion import promote
from nbmf.registry import Registry


def promote_cmd(
    domain: Annotated[str, typer.Option()],
    version: Annotated[int, typer.Option()],
    registry: Annotated[str, typer.Option()],
    canary: Annotated[Optional[float], typer.Option(help="Serve this percent of encodes with the version first.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Promote even without a passing report.")] = False,
    reason: Annotated[Optional[str], typer.Option(help="Why (required with --force; kept in the history).")] = None,
) -> None:
    """Make a validated version production (or canary)."""
    try:
        ch = promote(Registry(registry), domain, version, canary, force, reason)
    except NBMFError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"{domain}: production {ch.production}" + (f", canary {ch.canary.version} at {ch.canary.percent} %" if ch.canary else ""))


def rollback_cmd(
    domain: Annotated[str, typer.Option()],
    registry: Annotated[str, typer.Option()],
    reason: Annotated[Optional[str], typer.Option()] = None,
) -> None:
    """Drop the canary, or return production to the version before it."""
    try:
        ch = Registry(registry).rollback(domain, reason)
    except NBMFError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"{domain}: production {ch.production}" + (f", canary {ch.canary.version}" if ch.canary else ""))


app = typer.Typer(add_completion=False)
app.command("promote")(promote_cmd)
app.command("rollback")(rollback_cmd)

if __name__ == "__main__":
    app()
