"""Direct ingress: each Ingress replica also listens on its own port, and clients skip the proxy hop.

RAY_SERVE_ENABLE_DIRECT_INGRESS=1 on the cluster (``nbmf serve --direct``); ``GET /v1/endpoints`` lists
the replicas' addresses and ``Client(direct=True)`` spreads requests over them.
"""

from __future__ import annotations

import logging
import os
import time

log = logging.getLogger("nbmf.serve")

DIRECT_INGRESS_SWITCH = "RAY_SERVE_ENABLE_DIRECT_INGRESS"
# Set before Ray starts (its processes read them then). A stopping replica keeps serving this long for
# load balancers to notice (Ray's default: 30 s); nbmf's client drops a replica that stops answering.
DIRECT_INGRESS_ENV = {DIRECT_INGRESS_SWITCH: "1", "RAY_SERVE_DIRECT_INGRESS_MIN_DRAINING_PERIOD_S": "2"}
ENDPOINTS_TTL_S = 2.0


def enabled() -> bool:
    return os.environ.get(DIRECT_INGRESS_SWITCH) == "1"


async def replica_urls(app_name: str) -> list[str]:
    """HTTP URLs of ``app_name``'s running ingress replicas, from the Serve controller's target groups.

    Ray 2.60 publishes them in the instance details (``GET /api/serve/applications``, ``target_groups``);
    a replica bound to loopback is reached on loopback (single-node), otherwise on its node's IP.
    """
    import ray

    controller = ray.get_actor("SERVE_CONTROLLER_ACTOR", namespace="serve")
    details = await controller.get_serve_instance_details.remote()
    host = str((details.get("http_options") or {}).get("host") or "127.0.0.1")
    urls = []
    for group in details.get("target_groups") or []:
        if group.get("app_name") != app_name or str(group.get("protocol", "")).upper().split(".")[-1] != "HTTP":
            continue
        for t in group.get("targets") or []:
            ip = host if host.startswith("127.") or host == "localhost" else t["ip"]
            urls.append(f"http://{ip}:{int(t['port'])}")
    return sorted(set(urls))


class Endpoints:
    """The replicas' direct addresses, listed at most once per ``ENDPOINTS_TTL_S``."""

    def __init__(self) -> None:
        self._at, self._urls = -1e9, list[str]()

    async def get(self) -> list[str]:
        if time.monotonic() - self._at < ENDPOINTS_TTL_S:
            return self._urls
        urls: list[str] = []
        if enabled():
            from ray import serve

            try:
                urls = await replica_urls(serve.get_replica_context().app_name)
            except Exception as exc:  # the proxy URL keeps working: clients just don't get a shortcut
                log.warning("could not list direct-ingress endpoints: %s: %s", type(exc).__name__, exc)
        self._at, self._urls = time.monotonic(), urls
        return urls
