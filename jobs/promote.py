"""Promote and roll back: move a domain's channels in the registry.

nbmf promote --domain legal --version 3 [--canary 10] [--force --reason "…"]
nbmf rollback --domain legal [--reason "…"]
"""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from jobs.common import run_or_exit
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
    ch = run_or_exit(promote, Registry(registry), domain, version, canary, force, reason)
    typer.echo(f"{domain}: production {ch.production}" + (f", canary {ch.canary.version} at {ch.canary.percent} %" if ch.canary else ""))


def rollback_cmd(
    domain: Annotated[str, typer.Option()],
    registry: Annotated[str, typer.Option()],
    reason: Annotated[Optional[str], typer.Option()] = None,
) -> None:
    """Drop the canary, or return production to the version before it."""
    ch = run_or_exit(Registry(registry).rollback, domain, reason)
    typer.echo(f"{domain}: production {ch.production}" + (f", canary {ch.canary.version}" if ch.canary else ""))


app = typer.Typer(add_completion=False)
app.command("promote")(promote_cmd)
app.command("rollback")(rollback_cmd)

if __name__ == "__main__":
    app()
