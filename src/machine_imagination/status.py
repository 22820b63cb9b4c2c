"""How far a text's run has come: sentences searched, segments rendered, what each took, and about how
long the rest will take.

The search and render jobs record, per sentence and per segment they make, the seconds it took, in
`results/<text>/timings/` (a measurement, not a result: the manifest skips it, so timings never make
two runs of the same config differ). `text_status` reads that and the results tree, whoever asks:
every block job after each sentence or segment (its log), `machine-imagination status results/<text>`
(from another terminal while a long run goes on, on a cluster too) and the report's timings table."""
from __future__ import annotations

import json
import os
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

from .environment import job_machine
from .files import atomic_write_text, write_json
from .text import read_prompts_tsv

TIMINGS = "timings"


def job_progress(done: int, count: int, seconds: float, what: str) -> str:
    """How far a job of several sentences has come, and about how long it still needs."""
    left = seconds / done * (count - done)
    return f"{done} of {count} {what} of this job done in {seconds:.1f} s; about {left:.0f} s left"


def timing_file(text_dir, stage: str, index: int) -> Path:
    """`results/<text>/timings/<stage>/<index>.json` (stage: search or segments)."""
    return Path(text_dir) / TIMINGS / stage / f"{index:04d}.json"


def record_time(text_dir, stage: str, index: int, seconds: float, **details) -> None:
    """What sentence or segment `index` took in `stage`, when it finished, and on what machine (the
    manifest lists the jobs' machines from these records)."""
    write_json(timing_file(text_dir, stage, index), {"seconds": round(seconds, 3), "finished": time.time(),
                                                     "machine": job_machine().to_json(), **details})


def read_records(text_dir, stage: str) -> dict[int, dict]:
    """The timing records of `stage` by index (one being written or unreadable is left out)."""
    records = {}
    for path in sorted((Path(text_dir) / TIMINGS / stage).glob("[0-9]*.json")):
        try:
            record = json.loads(path.read_text())
            records[int(path.stem)] = {**record, "seconds": float(record["seconds"])}
        except (ValueError, KeyError, TypeError, OSError):
            continue
    return records


@dataclass(frozen=True)
class TextStatus:
    """A text's run as the files show it. `search_seconds` / `render_seconds`: what each sentence's
    searches (all its candidates) and each segment took, of those measured."""

    text: str
    sentences: int | None  # None: not known yet (the text job has not run)
    searched: int
    rendered: int
    film: bool
    search_seconds: dict
    render_seconds: dict

    @property
    def seconds_left(self) -> float | None:
        """The searching and rendering still to do at the median pace measured so far, one job at a time
        (None: a stage with work left has nothing measured yet, or the text's length is not known)."""
        if self.sentences is None:
            return None
        left = 0.0
        for todo, measured in ((self.sentences - self.searched, self.search_seconds),
                               (self.sentences - self.rendered, self.render_seconds)):
            if todo and not measured:
                return None
            left += todo * statistics.median(measured.values()) if todo else 0.0
        return left

    def describe(self) -> str:
        """One line: the counts, the pace and the time left."""
        if self.sentences is None:
            return (f"{self.text}: {self.searched} sentences searched, {self.rendered} segments rendered so far "
                    "(how many the text has is known once its text job has run)")
        done = (f"{self.text}: {self.searched} of {self.sentences} sentences searched, "
                f"{self.rendered} of {self.sentences} segments rendered")
        if self.film:
            return done + "; the film is made"
        pace = [f"{statistics.median(times.values()):.1f} s a {what}"
                for times, what in ((self.search_seconds, "sentence"), (self.render_seconds, "segment")) if times]
        left = self.seconds_left
        if left is None:
            return done + (f" ({', '.join(pace)}" + "; the time left is known once every stage has measured one)"
                           if pace else "; the time left is known once a sentence is searched")
        return done + f"; about {duration(left)} left ({', '.join(pace)}; one job at a time, without start-up)"


def text_status(text_dir) -> TextStatus:
    """What `results/<text>` holds: the sentences (prompts.tsv, else the sentences the text job kept,
    which it writes first); those searched (latents kept, or every candidate's latents written: as many
    as the search jobs' records say a sentence has); the segments rendered since the latents they walk
    between were written; whether the film is newer than them all; the times recorded. Each directory
    is listed once, so that asking after every sentence of a novel costs milliseconds."""
    root = Path(text_dir)
    # 1. the sentences, and what the jobs recorded of them
    sentences = sentence_count(root)
    known = sentences if sentences is not None else 10**9
    searches, segments = ({i: r for i, r in read_records(root, stage).items() if i < known}
                          for stage in ("search", "segments"))
    candidates = max((int(r.get("candidates", 1)) for r in searches.values()), default=1)
    # 2. what the files say is done
    kept, rendered_at = modified(root / "latents", ".npz"), modified(root / "segments", ".mp4")
    count = sentences if sentences is not None else max([*kept, *rendered_at, *searches, -1]) + 1
    searched = [i for i in range(count) if i in kept
                or (root / "candidates" / f"{i:04d}" / f"{candidates - 1}.npz").is_file()]
    rendered = [i for i in range(count) if i in rendered_at
                and all(rendered_at[i] >= kept[j] for j in (i, i + 1) if j in kept and j < count)]
    film = (sentences is not None and len(rendered) == sentences and (root / "film.mp4").is_file()
            and all((root / "film.mp4").stat().st_mtime >= rendered_at[i] for i in rendered))
    return TextStatus(text=root.name, sentences=sentences, searched=len(searched), rendered=len(rendered),
                      film=film, search_seconds={i: r["seconds"] for i, r in searches.items()},
                      render_seconds={i: r["seconds"] for i, r in segments.items()})


def sentence_count(root: Path) -> int | None:
    """How many sentences the text has: prompts.tsv's rows, else the text job's kept sentences (it
    writes both first), else None (not known yet)."""
    prompts, kept = root / "prompts.tsv", root / "receipts" / "sentences.json"
    if prompts.is_file():
        return len(read_prompts_tsv(prompts))
    if kept.is_file():
        try:
            return len(json.loads(kept.read_text(encoding="utf-8"))["sentences"])
        except (OSError, ValueError, KeyError):
            return None
    return None


def modified(directory: Path, suffix: str) -> dict[int, float]:
    """index -> modification time of the files `NNNN<suffix>` in a directory, listed once."""
    found = {}
    try:
        with os.scandir(directory) as entries:
            for entry in entries:
                stem = entry.name[: -len(suffix)]
                if entry.name.endswith(suffix) and stem.isdigit() and len(stem) == 4:
                    found[int(stem)] = entry.stat().st_mtime
    except OSError:
        pass
    return found


def duration(seconds: float) -> str:
    """'45 s', '12 min', '3 h 05 min' (at least '1 s')."""
    if seconds < 90:
        return f"{max(seconds, 1):.0f} s"
    minutes = round(seconds / 60)
    return f"{minutes} min" if minutes < 90 else f"{minutes // 60} h {minutes % 60:02d} min"


def timings_table(text_dir, path) -> TextStatus:
    """The report's timings: per sentence, the seconds its search and its segment took (empty: not
    measured, e.g. searched before timings were recorded), then the totals; returns the status."""
    status = text_status(text_dir)
    rows = ["index\tsearch_seconds\trender_seconds"]
    for i in range(status.sentences):
        cells = (status.search_seconds.get(i), status.render_seconds.get(i))
        rows.append("\t".join([str(i)] + ["" if v is None else f"{v:.2f}" for v in cells]))
    totals = (sum(status.search_seconds.values()), sum(status.render_seconds.values()))
    rows.append("\t".join(["total"] + [f"{v:.2f}" for v in totals]))
    atomic_write_text(path, "\n".join(rows) + "\n")
    return status
