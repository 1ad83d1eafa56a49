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


class Terminated(KeyboardInterrupt):
    """SIGTERM, turned into an exception so that the job unwinds like Ctrl-C instead of dying in place."""


def _on_sigterm(signum: int, frame: Any) -> None:
    raise Terminated()


def run_or_exit(fn: Callable[..., T], *args: Any) -> T:
    """Run a job; an ``NBMFError`` becomes its message on stderr and exit status 2 (no traceback).

    Ctrl-C or SIGTERM stop the job and everything it started: Python's default SIGTERM kills the driver
    in place and left the local Ray's agents running (issue #14); here both unwind and shut Ray down.
    """
    import signal
    import threading

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        return fn(*args)
    except NBMFError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    except KeyboardInterrupt as exc:
        typer.echo(f"{'terminated' if isinstance(exc, Terminated) else 'interrupted'}: stopping Ray and what this job started…", err=True)
        _stop_ray()
        typer.echo("stopped", err=True)
        raise typer.Exit(130 if not isinstance(exc, Terminated) else 143) from None


def _stop_ray() -> None:
    """Shut down the Ray this process started or joined (a local one stops with its processes)."""
    import sys

    ray = sys.modules.get("ray")
    if ray is not None and ray.is_initialized():
        ray.shutdown()
