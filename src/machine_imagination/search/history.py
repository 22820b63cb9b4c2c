"""What a search leaves behind besides its latents: the per-iteration history as TSV and a plot."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from ..files import atomic_write_bytes

# Per iteration, of its best candidate: loss_best = 100 · (1 − similarity_best) + regularisation, and
# regularisation = 100 · Σ weight_i · term_i over the three (unweighted) terms with the search.* weights.
COLUMNS = ("iteration", "phase", "loss_mean", "loss_best", "similarity_best", "regularisation", "best_ever_loss",
           "noise_normality", "embedding_normality", "class_entropy", "top_classes")


def history_columns(history: list[dict]) -> dict:
    """The numeric columns of a history, one array each (what the latents record keeps of it)."""
    numeric = [key for key, value in history[0].items() if isinstance(value, float)]
    return {key: np.array([row[key] for row in history]) for key in numeric}


def write_history_tsv(history: list[dict], path) -> None:
    lines = ["\t".join(COLUMNS)]
    for row in history:
        lines.append("\t".join(f"{row[c]:.6g}" if isinstance(row[c], float) else str(row[c]) for c in COLUMNS))
    atomic_write_bytes(path, ("\n".join(lines) + "\n").encode())


def read_history_tsv(path) -> list[dict]:
    lines = Path(path).read_text().splitlines()
    header = lines[0].split("\t")
    return [dict(zip(header, line.split("\t"))) for line in lines[1:]]


def plot_history(history: list[dict], path, title: str = "") -> None:
    """Loss (each iteration's best and the best ever) and CLIP similarity against the iteration."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = list(range(1, len(history) + 1))
    fig, loss_axis = plt.subplots(figsize=(6, 3.2), dpi=100)
    loss_axis.plot(steps, [r["loss_mean"] for r in history], color="0.7", label="loss, mean")
    loss_axis.plot(steps, [r["loss_best"] for r in history], color="tab:blue", label="loss, best")
    loss_axis.plot(steps, [r["best_ever_loss"] for r in history], color="tab:blue", linestyle="--",
                   label="loss, best ever")
    loss_axis.set_xlabel("step")
    loss_axis.set_ylabel("loss")
    similarity_axis = loss_axis.twinx()
    similarity_axis.plot(steps, [r["similarity_best"] for r in history], color="tab:orange", label="similarity")
    similarity_axis.set_ylabel("CLIP similarity", color="tab:orange")
    loss_axis.legend(loc="upper right", fontsize=7)
    if title:
        loss_axis.set_title(title if len(title) < 70 else title[:67] + "…", fontsize=8)
    fig.tight_layout()
    buffer = io.BytesIO()
    # No date or software version in the file, so a rerun writes the same bytes.
    fig.savefig(buffer, format="png", metadata={"Software": None})
    plt.close(fig)
    atomic_write_bytes(path, buffer.getvalue())
