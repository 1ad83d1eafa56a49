"""``take_serving_priority``: a ready replica lowers every one of its threads' niceness below Ray's 15.

Each case runs in a fresh interpreter that first takes Ray's worker niceness (15) and starts a thread, as a
replica process is when its constructor finishes; the test process's own priority is never touched.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]

CHILD = """
import json, os, threading, time
os.nice(15 - os.nice(0))  # a Ray worker's niceness
started = threading.Event()
stop = threading.Event()
def idle():
    started.set()
    stop.wait(30)
before = threading.Thread(target=idle, daemon=True)
before.start()
started.wait(10)
from serve.hosting import take_serving_priority
got = take_serving_priority()
later = []
def record():
    later.append(os.getpriority(os.PRIO_PROCESS, 0))
t = threading.Thread(target=record)
t.start()
t.join(10)
def priority(tid):
    try:
        return os.getpriority(os.PRIO_PROCESS, tid)
    except ProcessLookupError:  # a thread that ended after it was listed (join returns before its exit)
        return None
tasks = {int(t): priority(int(t)) for t in os.listdir("/proc/self/task")}
stop.set()
print(json.dumps({"got": got, "threads": sorted({v for v in tasks.values() if v is not None}), "later": later}))
"""

can_lower = sys.platform.startswith("linux") and os.geteuid() == 0


def _child(env_value: str | None) -> tuple[dict, str]:  # type: ignore[type-arg]
    env = {k: v for k, v in os.environ.items() if k != "NBMF_READY_NICE"}
    if env_value is not None:
        env["NBMF_READY_NICE"] = env_value
    env["PYTHONPATH"] = str(ROOT)
    p = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, f"the child exited {p.returncode}:\n{p.stderr}"
    return json.loads(p.stdout.strip().splitlines()[-1]), p.stderr


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread niceness is Linux's")
def test_ready_replica_lowers_every_thread() -> None:
    out, _ = _child(None)
    if can_lower:
        assert out == {"got": 0, "threads": [0], "later": [0]}  # threads started before and after
    else:  # no CAP_SYS_NICE: Ray's niceness stays, and the replica still serves
        assert out == {"got": None, "threads": [15], "later": [15]}


@pytest.mark.skipif(not can_lower, reason="needs CAP_SYS_NICE (root) to lower a niceness")
def test_ready_niceness_is_configurable() -> None:
    out, _ = _child("5")
    assert out == {"got": 5, "threads": [5], "later": [5]}


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread niceness is Linux's")
def test_off_and_bad_values_leave_rays_niceness() -> None:
    out, _ = _child("off")
    assert out == {"got": None, "threads": [15], "later": [15]}
    out, err = _child("fast")
    assert out == {"got": None, "threads": [15], "later": [15]}
    assert "NBMF_READY_NICE='fast' is not a niceness" in err
