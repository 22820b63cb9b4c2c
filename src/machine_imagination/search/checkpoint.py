"""Checkpoints of a running search, so a preempted or timed-out cluster job loses (almost) nothing.

The search saves its whole state (`search.state.SearchState`: the stage and step, CMA-ES with its
covariance, optimizer moments, the best candidate so far, the history, every random generator)
atomically every N iterations and when the job is told to end: SLURM sends SIGTERM at the time limit
and on preemption (SIGUSR1 is caught too, but the profile sends none: `--signal=USR1` would also reach
the Snakemake process inside the job, which does not survive it). A rerun of the same search finds
the checkpoint and carries on, ending with exactly the latents an uninterrupted run finds. A finished
search is saved too (the job clears it once its files are written), so that a job searching several
candidates and killed in candidate k does not search candidates 0 … k−1 again. A checkpoint made by a
different search (other prompt, seed, settings or models) is ignored.
"""
from __future__ import annotations

import hashlib
import json
import pickle
import signal
from pathlib import Path

from ..files import atomic_write_bytes

FORMAT = 2  # 2: the state is a search.state.SearchState
FINISHED = "finished"  # `done` of a finished search's checkpoint


class SearchInterrupted(RuntimeError):
    """The search stopped on a signal after saving a checkpoint; rerun the job to resume it."""


def search_key(**identity) -> str:
    """A digest of everything that determines a search's result."""
    return hashlib.sha256(json.dumps(identity, sort_keys=True, default=repr).encode()).hexdigest()


class Checkpointer:
    def __init__(self, path, key: str, every: int = 10, log=None):
        self.path = Path(path)
        self.key = key
        self.every = max(1, int(every))
        self.log = log or (lambda message: None)
        self.stop_signal = None
        self._previous_handlers = {}

    # -- signals: installed by the job that runs a search, never at import time
    def install_signal_handlers(self, signals=(signal.SIGTERM, signal.SIGUSR1)) -> None:
        for sig in signals:
            self._previous_handlers[sig] = signal.signal(sig, self._on_signal)

    def restore_signal_handlers(self) -> None:
        for sig, handler in self._previous_handlers.items():
            signal.signal(sig, handler)
        self._previous_handlers.clear()

    def _on_signal(self, signum, frame):
        # Only note it: the search saves at the end of the iteration in progress, then stops.
        self.stop_signal = signal.Signals(signum).name

    # -- state
    def load(self):
        """The saved state of this search, or None (no checkpoint, or one of another search)."""
        if not self.path.is_file():
            return None
        try:
            saved = pickle.loads(self.path.read_bytes())
        except Exception as err:  # a damaged checkpoint is no reason to fail: start afresh
            self.log(f"ignoring unreadable checkpoint {self.path}: {err}")
            return None
        if saved.get("format") != FORMAT or saved.get("key") != self.key:
            self.log(f"ignoring checkpoint {self.path}: it belongs to another search")
            return None
        when = "a finished search" if saved["done"] == FINISHED else f"after iteration {saved['done']}"
        self.log(f"resuming from checkpoint {self.path} ({when})")
        return saved["state"]

    def after_iteration(self, done: int, state) -> None:
        """Called after each iteration (`done` iterations so far) with the search's state."""
        if done % self.every == 0 or self.stop_signal:
            self.save(done, state)
        if self.stop_signal:
            raise SearchInterrupted(f"stopped by {self.stop_signal} after iteration {done}; "
                                    f"checkpoint saved to {self.path}, rerun to resume")

    def finish(self, state) -> None:
        """Save the finished search: a rerun takes its result without searching again."""
        self.save(FINISHED, state)

    def save(self, done, state) -> None:
        atomic_write_bytes(self.path, pickle.dumps({"format": FORMAT, "key": self.key, "done": done, "state": state}))

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)
