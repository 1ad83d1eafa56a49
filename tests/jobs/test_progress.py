"""Training progress lines: what they say, and the time left (whichever of budget and steps ends first)."""

from jobs.progress import Poster, ProgressBoard, Watcher, format_training, training_eta


def test_time_left_is_whichever_ends_first() -> None:
    budget_bound = {"step": 100, "start_step": 0, "max_steps": 10**9, "time_budget_s": 120, "elapsed_s": 20}
    assert training_eta(budget_bound) == 100
    steps_bound = {"step": 100, "start_step": 0, "max_steps": 150, "time_budget_s": 120, "elapsed_s": 20}
    assert training_eta(steps_bound) == 10  # 50 steps left at 5 steps/s
    resumed = {"step": 120, "start_step": 100, "max_steps": 140, "time_budget_s": 600, "elapsed_s": 10}
    assert training_eta(resumed) == 10  # the pace since this attempt started
    assert training_eta({"step": 0}) is None


def test_lines_show_what_binds() -> None:
    line = format_training("legal", {"step": 1200, "start_step": 0, "max_steps": 10**9, "time_budget_s": 240, "elapsed_s": 60,
                                     "tokens_per_s": 46_200, "train_bpb": 2.412, "val_bpb": 2.3456})  # fmt: skip
    assert line == "legal: step 1,200 · 46.2k tokens/s · train 2.41 · val 2.346 bits/byte · ~3:00 left"
    line = format_training("legal", {"step": 30, "start_step": 0, "max_steps": 40, "time_budget_s": 240, "elapsed_s": 3})
    assert line.startswith("legal: step 30/40 · ") and line.endswith("~0:01 left")
    assert "resumed at step 20" in format_training("x", {"step": 25, "resumed_from": 20})


def test_a_build_phase_replaces_the_training_figures() -> None:
    st = {"step": 40, "start_step": 0, "max_steps": 40, "elapsed_s": 3, "phase": "primed in 12 s; choosing on 32 check records"}
    assert format_training("legal", st) == "legal: build: primed in 12 s; choosing on 32 check records"


def test_a_poster_without_a_run_says_nothing() -> None:
    say = Poster(None, "legal")
    say("priming")  # no board, no Ray needed: a no-op
    say.flush()


def test_every_build_message_is_shown_once_in_order() -> None:
    board, lines = ProgressBoard(), list[str]()
    watcher = Watcher(board, format_training, lines.append)
    board.post("legal", {"step": 40, "start_step": 0, "max_steps": 40, "elapsed_s": 3})
    watcher.show(board.snapshot())
    assert lines == ["legal: step 40/40 · ~0:00 left"]
    for msg in ("the build primes 4 times on about 0.7 MiB", "primed in 12 s", "choosing on 32 check records"):
        board.note("legal", msg)  # all between two polls
    watcher.show(board.snapshot())
    assert lines[1:] == ["legal: build: the build primes 4 times on about 0.7 MiB", "legal: build: primed in 12 s",
                         "legal: build: choosing on 32 check records"]  # fmt: skip
    watcher.show(board.snapshot())
    assert len(lines) == 4  # nothing new, nothing said
    board.note("legal", "published as version 1")
    board.post("financial", {"step": 5})
    watcher.show(board.snapshot())
    assert lines[4:] == ["financial: step 5", "legal: build: published as version 1"]
