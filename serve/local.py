"""Starting the endpoint on a local Ray Serve (``nbmf serve``, the demo, the tests)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def start(
    registry: str | None,
    host: str = "127.0.0.1",
    port: int = 8000,
    token: str | None = None,
    config: str | None = None,
    overrides: dict[str, Any] | None = None,
    deployment_options: dict[str, dict[str, Any]] | None = None,
    direct: bool = False,
) -> Callable[[], None]:
    """Start Serve on ``host:port`` with the nbmf app; returns a function that shuts it down.

    ``direct``: Serve's direct ingress. The proxy still answers on ``host:port``; each Ingress replica
    also listens on its own port (``RAY_SERVE_DIRECT_INGRESS_MIN_HTTP_PORT``..``MAX``, 30000-31000 by
    default), listed by ``GET /v1/endpoints`` for ``Client(direct=True)``. Ray reads the switch when
    it starts, so it applies to a Ray this call starts (or one started with the variable set).
    """
    import os

    import ray
    from ray import serve

    from nbmf.config import parse_config
    from serve.app import build
    from serve.schemas import ServeConfig

    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    from serve.direct import DIRECT_INGRESS_ENV, DIRECT_INGRESS_SWITCH
    from serve.hosting import LOW_LATENCY_ENV

    for k, v in LOW_LATENCY_ENV.items():  # the proxy and controller read these when Ray starts them
        os.environ.setdefault(k, v)
    started_ray = not ray.is_initialized()
    if direct:
        if not started_ray and os.environ.get(DIRECT_INGRESS_SWITCH) != "1":
            raise RuntimeError(f"direct ingress needs {DIRECT_INGRESS_SWITCH}=1 set before Ray starts")
        for k, v in DIRECT_INGRESS_ENV.items():
            os.environ.setdefault(k, v)
    args: dict[str, Any] = {"registry": registry, "auth_token": token}
    opts = dict(deployment_options or {})
    if config:
        import yaml

        with open(config, encoding="utf-8") as f:
            app_cfg = yaml.safe_load(f)["applications"][0]
        args.update({k: v for k, v in app_cfg.get("args", {}).items() if k not in args or args[k] is None})
        for d in app_cfg.get("deployments", []):
            opts.setdefault(d["name"], {k: v for k, v in d.items() if k != "name"})
    args.update(overrides or {})
    cfg = parse_config(ServeConfig, args, config or "the endpoint's settings")  # before Ray starts: a bad field starts nothing
    if started_ray:
        ray.init(include_dashboard=False, ignore_reinit_error=True)
    # per-request access logs are off (the ingress logs errors and fallbacks): on a small node the
    # proxy's log write per request is a measurable share of the latency
    serve.start(http_options={"host": host, "port": port}, logging_config={"enable_access_log": False})
    app = build(cfg, opts.get("Encoder"), opts.get("Ingress"))
    serve.run(app, name="nbmf", route_prefix="/")

    def stop() -> None:
        serve.delete("nbmf")
        serve.shutdown()
        if started_ray:
            ray.shutdown()

    return stop
