"""The summary table: per sentence, its prompt, seed and scores (the search's and the held-out judge's),
and with several candidates which one was kept and how."""
from __future__ import annotations

from ..files import atomic_write_text
from ..latents import Latents

COLUMNS = ("index", "sentence", "prompt", "seed", "optimizer", "loss", "similarity", "judge_similarity",
           "judge2_similarity", "best_iteration", "candidate", "picked_by")


def summary_row(latents: Latents) -> tuple:
    """The summary's cells of one sentence's latents, in COLUMNS order (None: not recorded)."""
    s, o, c = latents.sentence, latents.search, latents.candidates
    return (s.index, s.sentence, s.prompt, latents.seed, o.optimizer, o.loss, o.similarity, o.judge_similarity,
            o.judge2_similarity, o.best_iteration, c and c.kept, c and c.picked_by)


def summary_table(latents_paths: list, path) -> None:
    """One row per sentence, as TSV: floats to 4 decimals, a value not recorded as an empty cell."""
    rows = ["\t".join(COLUMNS)]
    for latents_path in latents_paths:
        cells = summary_row(Latents.load(latents_path))
        rows.append("\t".join("" if v is None else f"{v:.4f}" if isinstance(v, float) else str(v) for v in cells))
    atomic_write_text(path, "\n".join(rows) + "\n")
