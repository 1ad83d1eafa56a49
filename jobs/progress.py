"""Live progress of a job's Ray workers on the driver's screen.

    workers (rank 0 of each domain) --post(key, status), fire and forget--> ProgressBoard (named actor, 0 CPU)
    a build (Ray task) --note(key, message), fire and forget--> the same board, every message kept in order
    driver thread --every few seconds: snapshot()--> one line per domain whose status moved, and every build message
                                                     not shown yet (a build may say several things between two polls)

Workers find the board by name, so nothing has to travel through Ray Train's config; a worker that
cannot find it (a board-less run, a restarted cluster) trains on without reporting.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

BOARD_PREFIX = "nbmf-progress-"
POLL_TIMEOUT_S = 2.0


class ProgressBoard:
    """Latest status per key (a domain), as workers posted it; a build's messages as a list (``phases``, oldest first),
    the latest also as ``phase``."""

    def __init__(self) -> None:
        self._status: dict[str, dict[str, Any]] = {}

    def post(self, key: str, status: dict[str, Any]) -> None:
        self._status[key] = dict(self._status.get(key, {})) | status

    def note(self, key: str, message: str) -> None:
        st = self._status.setdefault(key, {})
        st["phase"] = message
        st["phases"] = [*st.get("phases", ()), message]

    def snapshot(self) -> dict[str, dict[str, Any]]:
        return self._status


def board_name(run: str) -> str:
    return BOARD_PREFIX + run


def start_board(run: str) -> Any:
    import ray

    return ray.remote(num_cpus=0)(ProgressBoard).options(name=board_name(run), get_if_exists=True).remote()


class Poster:
    """A ``progress`` callback for work inside a Ray task (a model's build): each message is noted on the board under the
    key (fire and forget); the driver prints every one, in order, instead of the training figures. Without a board: a
    no-op."""

    def __init__(self, run: str | None, key: str) -> None:
        self.board = find_board(run) if run else None
        self.key = key
        self._last: Any = None

    def __call__(self, msg: str) -> None:
        if self.board is not None:
            self._last = self.board.note.remote(self.key, msg)

    def flush(self, timeout_s: float = POLL_TIMEOUT_S) -> None:
        """Wait (briefly) until the board holds the last message: before the task returns, so the driver's last poll
        after it sees where the build ended."""
        if self._last is not None:
            import ray

            try:
                ray.get(self._last, timeout=timeout_s)
            except Exception:  # progress is not worth failing a build for
                pass


def find_board(run: str) -> Any | None:
    """The run's board from inside a worker (None: there is none; progress is not worth failing for)."""
    import ray

    try:
        return ray.get_actor(board_name(run))
    except ValueError:
        return None


def _clock(s: float) -> str:
    s = max(0, int(round(s)))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


def format_training(domain: str, st: dict[str, Any]) -> str:
    """``legal: step 1,200/3,000 · 46.2k tokens/s · train 2.41 · val 2.35 bits/byte · 1:12 left``; once training is over
    and the model is built, what the build is doing (its ``phase``): ``legal: build: match models' trust: 5/8 (...)``."""
    if st.get("phase"):
        return f"{domain}: build: {st['phase']}"
    steps_eta = _steps_eta(st)
    steps_bind = st.get("max_steps") is not None and steps_eta is not None and steps_eta <= _budget_eta(st)
    parts = [f"step {st.get('step', 0):,}/{st['max_steps']:,}" if steps_bind else f"step {st.get('step', 0):,}"]
    if st.get("tokens_per_s"):
        parts.append(f"{st['tokens_per_s'] / 1e3:.1f}k tokens/s")
    if st.get("train_bpb") is not None:
        parts.append(f"train {st['train_bpb']:.2f}")
    if st.get("val_bpb") is not None:
        parts.append(f"val {st['val_bpb']:.3f} bits/byte")
    eta = training_eta(st)
    if eta is not None:
        parts.append(f"~{_clock(eta)} left")
    if st.get("resumed_from") is not None:
        parts.append(f"resumed at step {st['resumed_from']:,}")
    return f"{domain}: " + " · ".join(parts)


def _budget_eta(st: dict[str, Any]) -> float:
    elapsed, budget = st.get("elapsed_s"), st.get("time_budget_s")
    return float("inf") if elapsed is None or budget is None else budget - elapsed


def _steps_eta(st: dict[str, Any]) -> float | None:
    elapsed, step, start, max_steps = st.get("elapsed_s"), st.get("step", 0), st.get("start_step", 0), st.get("max_steps")
    if max_steps is None or elapsed is None or step <= start or elapsed <= 0:
        return None
    return float((max_steps - step) * elapsed / (step - start))


def training_eta(st: dict[str, Any]) -> float | None:
    """Seconds left: whichever ends first, the time budget or the remaining steps at the recent pace."""
    if st.get("elapsed_s") is None:
        return None
    left = [x for x in (_budget_eta(st), _steps_eta(st)) if x is not None and x != float("inf")]
    return max(0.0, min(left)) if left else None


def _gist(line: str) -> str:
    """What a status line says, the time left (``· ~1:12 left``, which moves every poll) aside."""
    return line.rsplit(" · ~", 1)[0]


class Watcher:
    """A driver thread printing what the board holds: a line per key whenever it moved, and each of a key's ``phases``
    (a build's messages) once, in order, as ``fmt`` writes the key's status with that message as its ``phase``."""

    def __init__(self, board: Any, fmt: Callable[[str, dict[str, Any]], str], emit: Callable[[str], None], every_s: float = 10.0):
        self.board, self.fmt, self.emit, self.every_s = board, fmt, emit, every_s
        self._stop = threading.Event()
        self._shown: dict[str, Any] = {}
        self._phases_shown: dict[str, int] = {}
        self._thread = threading.Thread(target=self._run, name="nbmf-progress", daemon=True)

    def __enter__(self) -> Watcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        # joined before returning: a poll still waiting on Ray when the caller shuts Ray down (Ctrl-C) kills the process
        self._thread.join(timeout=POLL_TIMEOUT_S + 2)
        if exc[0] is None:
            self.poll()  # where every key ended

    def poll(self) -> None:
        import ray

        try:
            snap = ray.get(self.board.snapshot.remote(), timeout=POLL_TIMEOUT_S)
        except Exception:  # a board that went away (shutdown under way): nothing to show
            return
        self.show(snap)

    def show(self, snap: dict[str, dict[str, Any]]) -> None:
        """Emit what moved in a snapshot since the last one shown."""
        for key, st in sorted(snap.items()):
            phases = st.get("phases") or []
            for msg in phases[self._phases_shown.get(key, 0) :]:
                said = self.fmt(key, st | {"phase": msg})
                self._shown[key] = _gist(said)
                self.emit(said)
            self._phases_shown[key] = len(phases)
            line = self.fmt(key, st)
            seen = _gist(line)
            if self._shown.get(key) != seen:
                self._shown[key] = seen
                self.emit(line)

    def _run(self) -> None:
        next_at = time.monotonic() + self.every_s
        while not self._stop.wait(max(0.0, next_at - time.monotonic())):
            self.poll()
            next_at += self.every_s
