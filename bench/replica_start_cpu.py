"""What a replica that Serve adds costs the node's CPUs before it takes traffic.

    python bench/replica_start_cpu.py [--to 3]

Starts the colocated endpoint (bench/autoscale_bench.py's model: a primed context-mixing model with a
1 MiB reference) with one Ingress replica of 0.5 CPU, then deploys it again with ``--to`` replicas and
waits until they are healthy (their constructors load the production version before Serve routes to
them). Serve starts every replica of the second deployment anew (an imperative ``serve.run`` is a new
version; ``replicas_kept`` says how many survived), so each is a replica starting on a node that has
served the version before, as one added by autoscaling is.
Reads from /proc (Linux): each new replica process's CPU seconds (user + system, from the process's
start until it is ready: Ray's worker boot, imports, the model load) and the CPU seconds the whole
machine was busy during the scale-up. Result: bench/results/replica_start_cpu.json.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(Path(__file__).parent)]

from autoscale_bench import local_ray  # noqa: E402
from results_io import save  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


def replicas() -> dict[int, float]:
    """pid -> CPU seconds of every process titled ray::ServeReplica:nbmf:Ingress."""
    out = {}
    for p in Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        try:
            if b"ServeReplica:nbmf:Ingress" not in (p / "cmdline").read_bytes():
                continue
            f = (p / "stat").read_text().rsplit(")", 1)[1].split()
            out[int(p.name)] = (int(f[11]) + int(f[12])) / TICK  # utime, stime (fields 14, 15)
        except OSError:
            continue
    return out


def busy() -> float:
    """CPU seconds all cores of the machine have been busy (not idle or waiting on I/O) since boot."""
    f = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(f) - f[3] - f[4]) / TICK


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--to", type=int, default=3)
    args = ap.parse_args()
    import ray
    from ray import serve

    from serve.app import build
    from serve.local import start
    from serve.schemas import ServeConfig

    _, reg, port = local_ray("nbmf-replica-start-")
    one = {"num_replicas": 1, "ray_actor_options": {"num_cpus": 0.5}}
    overrides = {"colocate": True, "request_timeout_s": 30}
    t0, b0 = time.perf_counter(), busy()
    stop = start(reg, port=port, overrides=overrides, deployment_options={"Ingress": one})
    first = {"ready_s": round(time.perf_counter() - t0, 2), "machine_busy_cpu_s": round(busy() - b0, 2)}
    before = replicas()
    time.sleep(5)  # let the first replica settle: what the machine does while nothing happens
    b_idle = busy()
    time.sleep(5)
    idle = (busy() - b_idle) / 5
    try:
        t0, b0 = time.perf_counter(), busy()
        config = ServeConfig.model_validate({"registry": reg, **overrides})
        serve.run(build(config, None, {**one, "num_replicas": args.to}), name="nbmf", route_prefix="/")
        wall = time.perf_counter() - t0
        spent = busy() - b0
        after = replicas()
    finally:
        stop()
        ray.shutdown()
    new = sorted(cpu for pid, cpu in after.items() if pid not in before)
    save(
        "replica_start_cpu",
        {
            "command": "python " + " ".join(sys.argv),
            "machine": f"{os.cpu_count()} CPUs",
            "first_replica": first | {"replica_cpu_s": [round(c, 2) for c in before.values()]},
            "idle_machine_busy_cpu_s_per_s": round(idle, 3),
            "scale_up": {
                "replicas": f"1 -> {args.to}",
                "until_healthy_s": round(wall, 2),
                "new_replica_cpu_s": [round(c, 2) for c in new],
                "replicas_kept": len(set(before) & set(after)),
                "machine_busy_cpu_s": round(spent, 2),
                "machine_busy_share": round(spent / (wall * (os.cpu_count() or 1)), 3),
            },
        },
    )


if __name__ == "__main__":
    main()
