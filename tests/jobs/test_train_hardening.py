"""Training on a small node: a node too small is refused with a reason; SIGTERM or Ctrl-C stop a training
job and every process it started within seconds. (Four domains on 2 CPUs, and the best checkpoint
published: tests/jobs/test_migrate.py trains all four.)"""

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from memory_store import make_warm_store

from jobs.collect import CollectConfig
from jobs.collect import run as collect_run
from jobs.train import TrainConfig
from jobs.train import run as train_run
from nbmf.envelope import KEY_ENV


@pytest.fixture(scope="module")
def collected(ray_local, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:  # type: ignore[no-untyped-def]
    mp = pytest.MonkeyPatch()  # module-scoped: the key must not leak into other modules' tests
    mp.setenv(KEY_ENV, "memory-test-key")
    store = tmp_path_factory.mktemp("warm4")
    make_warm_store(store, n=600, broken=0)
    out = str(tmp_path_factory.mktemp("data4"))
    manifest = collect_run(CollectConfig(inputs=[str(store)], out=out, min_bytes=50, val=0.1, test=0.1))
    assert set(manifest["domains"]) == {"legal", "financial", "general", "technical"}
    yield out
    mp.undo()


def test_a_node_too_small_for_one_domain_is_refused_with_a_reason(ray_local, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from nbmf.errors import NBMFError

    cfg = TrainConfig(domains=["legal"], data=str(tmp_path), registry=str(tmp_path), run="x", cpus_per_worker=2.0)
    with pytest.raises(NBMFError, match="cpus-per-worker"):
        train_run(cfg)


def _descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                ppid = int((p / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(p.name))
    out, todo = set(), [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            if c not in out:
                out.add(c)
                todo.append(c)
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "Ctrl-C"])
def test_a_signal_stops_training_and_everything_it_started(collected: str, tmp_path: Path, sig: int) -> None:
    import threading

    env = dict(os.environ, RAY_USAGE_STATS_ENABLED="0", RAY_AUTH_MODE="disabled")
    cmd = [sys.executable, "-m", "nbmf.cli", "train", "--domains", "legal", "--data", collected, "--registry", str(tmp_path)]
    cmd += ["--time-budget", "600", "--max-steps", "100000000", "--reference-mb", "0.1", "--run", "sig"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True)
    assert proc.stdout is not None
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, "")), daemon=True)  # type: ignore[union-attr]
    reader.start()  # drained all along: a full pipe would block the job itself
    deadline = time.time() + 180
    while time.time() < deadline and not any("at a time" in line for line in lines):  # bounded
        time.sleep(0.2)
    time.sleep(8)  # workers and readers started
    started = _descendants(proc.pid)
    assert proc.poll() is None and len(started) >= 3, "".join(lines)
    t0 = time.time()
    proc.send_signal(sig)
    proc.wait(timeout=30)
    deadline = time.time() + 10
    while time.time() < deadline and any(_alive(p) for p in started):  # bounded
        time.sleep(0.2)
    stopped_in = time.time() - t0
    left = {p: Path(f"/proc/{p}/cmdline").read_bytes()[:80] for p in started if _alive(p)}
    reader.join(5)
    out = "".join(lines)
    assert not left, f"still running after the signal: {left}\n{out[-2000:]}"
    assert stopped_in < 10, f"took {stopped_in:.1f} s"
    assert "stopped" in out and proc.returncode == (143 if sig == signal.SIGTERM else 130), f"exit {proc.returncode}\n{out[-2000:]}"
