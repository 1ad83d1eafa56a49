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
    _catch_sigterm()
    try:
        return fn(*args)
    except NBMFError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    except KeyboardInterrupt as exc:
        import os
        import sys

        typer.echo(f"{'terminated' if isinstance(exc, Terminated) else 'interrupted'}: stopping Ray and what this job started…", err=True)
        _stop_ray()
        typer.echo("stopped", err=True)
        sys.stdout.flush()
        sys.stderr.flush()
        # Ray is down; threads still inside a trainer's fit() would keep a normal interpreter exit waiting
        os._exit(143 if isinstance(exc, Terminated) else 130)


def _catch_sigterm() -> None:
    import signal
    import threading

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _on_sigterm)
        signal.signal(signal.SIGINT, signal.default_int_handler)  # Ctrl-C: KeyboardInterrupt, whatever Ray set


def init_ray(address: str | None, **options: Any) -> None:
    """Start or join Ray for a job (once per process).

    ``ray.init`` installs Ray's own fatal-signal handler, under which SIGTERM killed the driver in place
    (a local Ray's DashboardAgent and RuntimeEnvAgent then ran on: measured, issue #14); ours goes back
    on after it, so SIGTERM unwinds the job and ``run_or_exit`` shuts Ray down."""
    import logging

    import ray

    if not ray.is_initialized():
        if verbose():
            ray.init(address=address, ignore_reinit_error=True, **options)
        else:  # quiet by default: Ray's worker / raylet chatter and INFO lines stay in its log files
            ray.init(address=address, ignore_reinit_error=True, log_to_driver=False, logging_level=logging.ERROR, **options)
            typer.echo(f"Ray's own logs: {_session_logs()} (nbmf --verbose … shows them here)", err=True)
    _quiet_ray_data()
    _quiet_raylet_noise()
    _catch_sigterm()


VERBOSE_ENV = "NBMF_VERBOSE"


def verbose() -> bool:
    """``nbmf --verbose …`` (or NBMF_VERBOSE=1): Ray's own logs on the screen too."""
    import os

    return os.environ.get(VERBOSE_ENV, "") not in ("", "0")


def _session_logs() -> str:
    import os

    return os.path.join(os.environ.get("RAY_TMPDIR", "/tmp/ray"), "session_latest", "logs")


def _quiet_ray_data() -> None:
    """Ray Data's INFO lines (progress tables, operator lists) go to its log file only, unless verbose."""
    import logging

    import ray.data  # noqa: F401 - importing it configures its loggers

    if verbose():
        return
    for handler in logging.getLogger("ray.data").handlers:
        if type(handler) is logging.StreamHandler or getattr(handler, "name", "") == "console":
            handler.setLevel(logging.WARNING)


RAYLET_NOISE = (
    "PYTHON worker processes have been started",  # fractional-CPU tasks start many workers: expected here
    "ServeController.graceful_shutdown failed",  # Serve's controller, stopped by serve.shutdown(), retried by Ray
)


def _quiet_raylet_noise() -> None:
    """Ray's driver prints the raylet's warnings whatever ``log_to_driver`` says; the known noise among them
    (listed in ``RAYLET_NOISE``) stays in Ray's own logs (raylet.out) unless verbose. Others still show."""
    if verbose():
        return
    try:
        import ray._private.worker as ray_worker
    except ImportError:
        return
    shown = ray_worker.print_to_stdstream
    if getattr(shown, "_nbmf_quiet", False):
        return

    def quiet(data: dict[str, Any], ignore_prefix: bool) -> None:
        if data.get("pid") == "raylet" and any(n in line for line in data.get("lines", []) for n in RAYLET_NOISE):
            return
        shown(data, ignore_prefix)

    quiet._nbmf_quiet = True
    ray_worker.print_to_stdstream = quiet


def quiet_serve_logs() -> None:
    """Serve's INFO lines on the driver (started, app ready, app deleted) go to Ray's logs unless verbose:
    for jobs that start an endpoint for a moment (the demo); ``nbmf serve`` keeps them."""
    import logging

    class _WarningsUp(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            return record.levelno >= logging.WARNING

    serve_log = logging.getLogger("ray.serve")
    if not verbose() and not any(isinstance(f, _WarningsUp) or type(f).__name__ == "_WarningsUp" for f in serve_log.filters):
        serve_log.addFilter(_WarningsUp())  # a filter on the logger: Serve resets its level when it starts


def _stop_ray() -> None:
    """Shut down the Ray this process started or joined, while other threads may still wait inside Ray.

    ``ray.shutdown()`` tears the driver's core worker down under any thread still blocked in ``ray.get``
    (a trainer's ``fit()`` waits on its controller all along), and such a thread then touches freed
    structures (ray-project/ray#31145): a CI run died there without printing "stopped" (stop 31), and a
    local run with a thread still in ``fit()`` died of SIGSEGV. So the actors this driver created are killed
    first, which ends those waits with an error at once (a trainer's thread returned in 0.01 s, measured),
    the threads get a few seconds to return, and only then does Ray shut down. (Killing the local raylet
    first instead makes the driver's core worker exit the process with status 1: measured.)"""
    import sys
    import threading
    import time

    ray = sys.modules.get("ray")
    if ray is None or not ray.is_initialized():
        return
    try:
        _kill_this_jobs_actors(ray)
    except Exception:  # noqa: BLE001 - best effort: shutting down below still stops a local Ray
        pass
    deadline = time.monotonic() + THREADS_GRACE_S
    for t in threading.enumerate():
        if t.name.startswith(RAY_CALLER_THREADS) and t is not threading.current_thread():
            t.join(max(0.0, deadline - time.monotonic()))
    ray.shutdown()


THREADS_GRACE_S = 5.0  # for threads that waited on a killed actor to return before Ray shuts down
RAY_CALLER_THREADS = "nbmf-ray-"  # name prefix of a job's threads that call Ray (jobs/train.py's fit threads)


def _kill_this_jobs_actors(ray: Any) -> None:
    """Kill every live actor of this job that this driver created (a trainer's controller among them), as
    the job's end would; the actors those created die with them, and detached ones stay."""
    from ray._private.state import state

    job = ray.get_runtime_context().get_job_id()
    actors = state.actor_table(None, job_id=ray.JobID.from_hex(job), actor_state_name="ALIVE")
    core = ray._private.worker.global_worker.core_worker
    for actor_id, info in actors.items():
        if not info.get("IsDetached"):
            try:
                core.kill_actor(ray.ActorID.from_hex(actor_id), True)
            except ray.exceptions.ActorHandleNotFoundError:
                pass  # created by another actor (a trainer's workers): it dies with its owner
