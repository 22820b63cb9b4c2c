"""The latents record: one image's point in BigGAN's latent space and what made it, typed in memory and
a plain `.npz` on disk (one per sentence, written atomically and byte-for-byte reproducibly).

The search produces a `Latents`; the film walks between them, the report summarises them, the CLI
reads and writes them, the checkpoint keys a story start by one. This module is the only one that
knows the file's keys:

    noise [z_dim] float32, and class_logits [num_classes] (before the softmax) or, for searches of the
      class embedding itself, class_embedding [embed_dim], float32; truncation, grayscale
    the sentence: text, index, sentence, prompt, clip_prompt, prompt_truncated
    the search: loss, similarity, start_loss, best_iteration, judge_similarity, judge2_similarity,
      optimizer, initial_class, clip, history_<column> (one value per iteration)
    what made it: seed, generator, source (a converted file), provenance (JSON: the config sections
      that determine the result, the sentence's overrides, package versions)
    with search.candidates > 1, which candidate was kept: candidate, candidate_picked_by, and of every
      candidate candidate_seeds, candidate_scores (the judge score that picks), candidate_losses
    with search.race, the sentence's race: race_rounds [R] (the iteration each round judged after),
      race_scores [R, K] (each candidate's rounded judge score in each round; NaN once it had stopped),
      race_reached [K] (the iterations each candidate ran: the search's full count for a finisher),
      race_kept [K] (the iteration after which each candidate's kept image, its best judged one, was judged)

Strings are numpy unicode scalars, so a file loads with `numpy.load(path)` and no pickle. Files
written before this module had a type (the same keys) load unchanged.
"""
from __future__ import annotations

import io
import json
import zipfile
import zlib
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from .files import atomic_write_bytes

CLASS_KEYS = {"logits": "class_logits", "embedding": "class_embedding"}


class LatentsError(ValueError):
    """A latents file is unreadable or malformed; the message names the file."""


@dataclass(frozen=True)
class Sentence:
    """The sentence latents illustrate."""

    text: str  # the text's name under `texts:` in the config
    index: int  # the sentence's position in the text (0-based)
    sentence: str
    prompt: str  # what was searched ('text:weight | …' when weighted)
    clip_prompt: str  # what CLIP saw of it (cut to its context)
    prompt_truncated: bool = False


@dataclass(frozen=True)
class SearchOutcome:
    """How the search that found the latents went."""

    loss: float  # of the best candidate ever seen
    similarity: float  # its CLIP similarity to the prompt (weighted over the prompt's parts)
    start_loss: float  # the objective at the starting point, before any search step
    best_iteration: int  # the iteration (0-based) that found it
    optimizer: str
    initial_class: str
    clip: str  # the CLIP model that guided it
    judge_similarity: float | None = None  # fresh crops, the guiding CLIP (see search.judge)
    judge2_similarity: float | None = None  # fresh crops, a second CLIP (judge.model)
    history: dict = field(default_factory=dict)  # column -> [iterations] float64 (see search.history)

    @property
    def judge_score(self) -> float:
        """The held-out score a candidate is picked by (`decisive_score`)."""
        return decisive_score(self.judge_similarity, self.judge2_similarity)


def decisive_score(judge_similarity: float | None, judge2_similarity: float | None) -> float | None:
    """The judge score that picks a candidate (and decides a race): the judge's own CLIP (judge.model)
    when there is one, else the guiding CLIP on fresh crops."""
    return judge2_similarity if judge2_similarity is not None else judge_similarity


@dataclass(frozen=True)
class Candidates:
    """Which of a sentence's candidates (search.candidates) latents are, and how every candidate scored."""

    kept: int  # the candidate these latents are
    picked_by: str  # "judge" (the best judge score) or "overrides" (the artist's pick)
    seeds: tuple  # of every candidate, in order
    scores: tuple  # every candidate's judge score (SearchOutcome.judge_score)
    losses: tuple  # every candidate's best optimisation loss

    @classmethod
    def among(cls, records: list, pick: int | None = None, eligible: list[int] | None = None) -> "Candidates":
        """Which of a sentence's candidate `Latents` records to keep: `pick` (the artist's, from the
        overrides table), else the one with the best judge score among the `eligible` ones (all of them
        unless a race stopped some: its finishers) — the first of equals; never the optimisation loss. A
        single candidate is kept as it is."""
        scores = [r.search.judge_score for r in records]
        eligible = list(range(len(records))) if eligible is None else eligible
        if pick is not None:
            if not 0 <= pick < len(records):
                raise ValueError(f"candidate {pick} does not exist (candidates 0 to {len(records) - 1})")
            kept, picked_by = int(pick), "overrides"
        elif len(records) == 1:
            kept, picked_by = 0, "judge"
        elif any(scores[k] is None for k in eligible):
            raise ValueError("a candidate has no judge score (the judge job scores each): cannot pick the best")
        else:
            kept, picked_by = max(eligible, key=lambda k: (scores[k], -k)), "judge"
        return cls(kept=kept, picked_by=picked_by, seeds=tuple(int(r.seed) for r in records),
                   scores=tuple(float(s) if s is not None else float("nan") for s in scores),
                   losses=tuple(float(r.search.loss) for r in records))


@dataclass(frozen=True)
class Race:
    """How a sentence's candidates raced (search.race): the iteration each round judged after, every
    candidate's rounded judge score in each round (NaN once it had stopped) and how far each one ran."""

    rounds: tuple  # [R] iterations
    scores: tuple  # [R][K] rounded judge scores (None: stopped before the round; NaN on disk)
    reached: tuple  # [K] iterations run; a finisher's is the search's full count
    kept: tuple = ()  # [K] the iteration each candidate's kept image was judged after (its best judged one);
    #                   () in files of races before a candidate kept its best judged image (it kept its last)

    @property
    def finishers(self) -> list[int]:
        """The candidates that ran the whole search."""
        return [k for k, reached in enumerate(self.reached) if reached == max(self.reached)]

    def stopped_at(self, k: int) -> int | None:
        """The iteration candidate k stopped at, or None if it finished."""
        return None if k in self.finishers else int(self.reached[k])

    def kept_at(self, k: int) -> int:
        """The iteration after which candidate k's kept image was judged (its best judged one)."""
        return int(self.kept[k]) if self.kept else int(self.reached[k])

    def label(self, k: int) -> str | None:
        """Candidate k's race in a few words, for under its image on the candidates sheet and the review
        page: where the race stopped it, and the iteration its image is from when earlier than its last
        (a candidate is kept as its best judged image); None for a finisher kept as its last image."""
        stopped, image = self.stopped_at(k), self.kept_at(k)
        if stopped is None:
            return None if image == self.reached[k] else f"image of iteration {image}"
        return f"stopped after {stopped}" if image == stopped else f"stopped {stopped}, image of {image}"


@dataclass(frozen=True)
class Latents:
    noise: np.ndarray  # [z_dim] float32, before the generator clamps it to ±2·truncation
    class_vector: np.ndarray  # [num_classes] logits, or [embed_dim] embedding (class_mode "embedding")
    class_mode: str = "logits"
    truncation: float = 1.0
    grayscale: bool = False
    seed: int | None = None
    generator: str | None = None  # the generator spec it was made for
    sentence: Sentence | None = None
    search: SearchOutcome | None = None
    source: str | None = None  # the files it was converted from (the notebook's text files)
    provenance: dict | None = None
    candidates: Candidates | None = None  # with several candidates per sentence: which one, and all scores
    race: Race | None = None  # with search.race: how the sentence's candidates raced

    def class_embedding(self, generator):
        """The class embedding the generator is given, as a CPU float32 tensor [embed_dim]: the stored
        embedding, or the embedding of the softmax of the logits."""
        import torch

        if self.class_mode == "embedding":
            return torch.as_tensor(self.class_vector)
        logits = torch.as_tensor(self.class_vector, dtype=torch.float32, device=generator.device)
        return generator.embed_logits(logits.unsqueeze(0))[0].cpu()

    # -- on disk

    def save(self, path: str | Path, if_changed: bool = False) -> None:
        save_arrays(path, self.to_arrays(), if_changed)

    @classmethod
    def load(cls, path: str | Path, shape: "LatentShape | None" = None) -> "Latents":
        """Read a latents file; raise LatentsError naming the file if it is unreadable, incomplete or
        holds no point a generator can render (`check_point`; with `shape`, a point of that generator)."""
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {key: data[key] for key in data.files}
        except (OSError, ValueError, zipfile.BadZipFile, EOFError, zlib.error) as err:
            raise LatentsError(f"latents file '{path}' cannot be read: {err}") from None
        missing = [k for k in ("noise", "truncation") if k not in arrays]
        if not any(k in arrays for k in CLASS_KEYS.values()):
            missing.append("class_logits")
        if missing:
            raise LatentsError(f"latents file '{path}' lacks {', '.join(missing)}")
        try:
            latents = cls.from_arrays(arrays)
        except (ValueError, TypeError, KeyError, IndexError) as err:
            raise LatentsError(f"latents file '{path}' holds a malformed entry: {err}") from None
        problem = latents.point_problem(shape)
        if problem:
            raise LatentsError(f"latents file '{path}' {problem}")
        return latents

    def point_problem(self, shape: "LatentShape | None" = None) -> str | None:
        """What keeps the point from being rendered: a noise or class vector that is not a vector of
        finite floating-point numbers, a truncation outside (0, 1], or (with `shape`) sizes other than
        the generator's. None when it can be."""
        class_key = CLASS_KEYS[self.class_mode]
        for name, values in (("noise", np.asarray(self.noise)), (class_key, np.asarray(self.class_vector))):
            if values.dtype.kind != "f":
                return f"holds {name} of type {values.dtype}, not floating-point numbers"
            if values.ndim != 1 or values.size == 0:
                return f"holds {name} of shape {values.shape}, not a vector"
            if not np.isfinite(values).all():
                return f"holds {name} with NaN or infinite values"
        if not (np.isfinite(self.truncation) and 0 < self.truncation <= 1):
            return f"holds truncation {self.truncation}, not in (0, 1]"
        if shape is not None:
            wanted = {"noise": shape.z_dim,
                      class_key: shape.num_classes if self.class_mode == "logits" else shape.embed_dim}
            for name, values in (("noise", self.noise), (class_key, self.class_vector)):
                if np.asarray(values).size != wanted[name]:
                    return (f"holds {name} of {np.asarray(values).size} values, but the generator takes "
                            f"{wanted[name]}")
        return None

    def to_arrays(self) -> dict:
        """The file's entries (see the module's doc), with the numpy types they have always had."""
        arrays = {
            "noise": np.asarray(self.noise),
            CLASS_KEYS[self.class_mode]: np.asarray(self.class_vector),
            "truncation": np.float64(self.truncation),
        }
        if self.grayscale or self.search is not None:  # a search records it either way
            arrays["grayscale"] = np.bool_(self.grayscale)
        if self.seed is not None:
            arrays["seed"] = np.int64(self.seed)
        for key in ("generator", "source"):
            if getattr(self, key) is not None:
                arrays[key] = getattr(self, key)
        if self.sentence is not None:
            s = self.sentence
            arrays.update(text=s.text, index=np.int64(s.index), sentence=s.sentence, prompt=s.prompt,
                          clip_prompt=s.clip_prompt, prompt_truncated=np.bool_(s.prompt_truncated))
        if self.search is not None:
            o = self.search
            arrays.update(loss=np.float64(o.loss), similarity=np.float64(o.similarity),
                          start_loss=np.float64(o.start_loss), best_iteration=np.int64(o.best_iteration),
                          optimizer=o.optimizer, initial_class=o.initial_class, clip=o.clip)
            for key in ("judge_similarity", "judge2_similarity"):
                if getattr(o, key) is not None:
                    arrays[key] = np.float64(getattr(o, key))
            arrays.update({f"history_{column}": np.asarray(values) for column, values in o.history.items()})
        if self.provenance is not None:
            arrays["provenance"] = json.dumps(self.provenance, sort_keys=True)
        if self.candidates is not None:
            c = self.candidates
            arrays.update(candidate=np.int64(c.kept), candidate_picked_by=c.picked_by,
                          candidate_seeds=np.asarray(c.seeds, dtype=np.int64),
                          candidate_scores=np.asarray(c.scores, dtype=np.float64),
                          candidate_losses=np.asarray(c.losses, dtype=np.float64))
        if self.race is not None:
            r = self.race
            arrays.update(race_rounds=np.asarray(r.rounds, dtype=np.int64),
                          race_scores=np.asarray([[np.nan if s is None else s for s in row] for row in r.scores],
                                                 dtype=np.float64).reshape(len(r.rounds), len(r.reached)),
                          race_reached=np.asarray(r.reached, dtype=np.int64))
            if r.kept:
                arrays["race_kept"] = np.asarray(r.kept, dtype=np.int64)
        return arrays

    @classmethod
    def from_arrays(cls, arrays: dict) -> "Latents":
        def value(key, default=None):
            return arrays[key].item() if key in arrays else default

        mode = "logits" if CLASS_KEYS["logits"] in arrays else "embedding"
        sentence = None
        if "index" in arrays:
            sentence = Sentence(text=value("text", ""), index=int(value("index")), sentence=value("sentence", ""),
                                prompt=value("prompt", ""), clip_prompt=value("clip_prompt", value("prompt", "")),
                                prompt_truncated=bool(value("prompt_truncated", False)))
        search = None
        if "loss" in arrays:
            search = SearchOutcome(
                loss=value("loss"), similarity=value("similarity"), start_loss=value("start_loss", float("nan")),
                best_iteration=int(value("best_iteration", -1)), optimizer=value("optimizer", ""),
                initial_class=value("initial_class", ""), clip=value("clip", ""),
                judge_similarity=value("judge_similarity"), judge2_similarity=value("judge2_similarity"),
                history={key.removeprefix("history_"): arrays[key] for key in arrays if key.startswith("history_")})
        provenance = json.loads(value("provenance")) if "provenance" in arrays else None
        candidates = None
        if "candidate" in arrays:
            candidates = Candidates(kept=int(value("candidate")), picked_by=value("candidate_picked_by", ""),
                                    seeds=tuple(int(v) for v in arrays["candidate_seeds"]),
                                    scores=tuple(float(v) for v in arrays["candidate_scores"]),
                                    losses=tuple(float(v) for v in arrays["candidate_losses"]))
        race = None
        if "race_rounds" in arrays:
            race = Race(rounds=tuple(int(v) for v in arrays["race_rounds"]),
                        scores=tuple(tuple(None if np.isnan(v) else float(v) for v in row)
                                     for row in arrays["race_scores"]),
                        reached=tuple(int(v) for v in arrays["race_reached"]),
                        kept=tuple(int(v) for v in arrays["race_kept"]) if "race_kept" in arrays else ())
        return cls(noise=arrays["noise"], class_vector=arrays[CLASS_KEYS[mode]], class_mode=mode,
                   truncation=float(value("truncation")), grayscale=bool(value("grayscale", False)),
                   seed=None if "seed" not in arrays else int(value("seed")), generator=value("generator"),
                   sentence=sentence, search=search, source=value("source"), provenance=provenance,
                   candidates=candidates, race=race)

    def with_truncation(self, truncation: float) -> "Latents":
        return replace(self, truncation=float(truncation))

    def with_scores(self, verdict) -> "Latents":
        """These latents with a judge's scores (a search.judge.Verdict) as their search's judge scores."""
        return replace(self, search=replace(self.search, judge_similarity=verdict.judge_similarity,
                                            judge2_similarity=verdict.judge2_similarity))


def set_aside(path, error) -> str:
    """A damaged file renamed to `<name>.damaged` (kept, never read again, not an output), and the
    message that says so."""
    path = Path(path)
    path.replace(path.with_name(path.name + DAMAGED))
    return f"{error}; set aside as '{path.name}{DAMAGED}' to be made again"


@dataclass(frozen=True)
class LatentShape:
    """The sizes of a generator's latents (models.generator.latent_shape)."""

    z_dim: int
    num_classes: int  # class logits
    embed_dim: int  # a class embedding (searches of the embedding itself)


DAMAGED = ".damaged"  # the suffix of a latents file set aside: never an output (the manifest skips it)


def damaged_latents(paths, shape: LatentShape | None = None) -> list[tuple[Path, str]]:
    """The latents files among `paths` that cannot be read (truncated or garbled: a disk that filled up,
    a copy cut short) or hold no point the generator can render (a valid archive with NaN values,
    another dtype, other sizes than `shape`'s), each with what is wrong."""
    found = []
    for path in map(Path, paths):
        try:
            Latents.load(path, shape)
        except LatentsError as err:
            found.append((path, str(err)))
    return found


def save_arrays(path: str | Path, arrays: dict, if_changed: bool = False) -> None:
    """Like np.savez (compressed), but with fixed zip timestamps and members in sorted order (the same
    content gives the same bytes), never pickled, and written atomically."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for key in sorted(arrays):
            member = io.BytesIO()
            np.lib.format.write_array(member, np.asarray(arrays[key]), allow_pickle=False)
            info = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, member.getvalue())
    atomic_write_bytes(path, buffer.getvalue(), if_changed)


# --------------------------------------------------------------------------- the workshop notebook's files


def softmax(logits) -> np.ndarray:
    """Class probabilities of logits (a numpy vector; in its own precision)."""
    logits = np.asarray(logits)
    probs = np.exp(logits - logits.max())
    probs /= probs.sum()
    return probs


def _read_vector(path: Path, size: int | None, what: str) -> np.ndarray:
    try:
        values = np.loadtxt(path, dtype=np.float64, ndmin=1)
    except (OSError, ValueError) as err:
        raise LatentsError(f"{what} file '{path}' cannot be read as one number per line: {err}") from None
    if values.ndim != 1 or (size is not None and len(values) != size):
        raise LatentsError(f"{what} file '{path}' holds {values.size} numbers, expected {size}")
    return values


def from_notebook(noise_txt, class_txt, *, truncation: float = 1.0, z_dim: int | None = 128,
                  num_classes: int | None = 1000) -> Latents:
    """Latents from the workshop notebook's `*_noise.txt` / `*_class.txt` (one number per line).
    The class file holds the vector BigGAN was given: probabilities (non-negative, summing to 1) are
    turned into logits whose softmax gives them back; anything else is taken as logits."""
    noise = _read_vector(Path(noise_txt), z_dim, "noise")
    classes = _read_vector(Path(class_txt), num_classes, "class")
    if classes.min() >= 0 and abs(classes.sum() - 1) < 1e-3:
        classes = np.log(np.clip(classes, 1e-12, None))
    return Latents(noise=noise.astype(np.float32), class_vector=classes.astype(np.float32),
                   truncation=float(truncation), source=f"{noise_txt} + {class_txt}")


def to_notebook(latents: Latents, prefix) -> tuple[Path, Path]:
    """Write `<prefix>_noise.txt` and `<prefix>_class.txt` as the notebook did (the class file holds
    the softmax probabilities BigGAN is given)."""
    if latents.class_mode != "logits":
        raise LatentsError("latents searched as class embeddings have no class vector for the notebook")
    noise_path, class_path = Path(f"{prefix}_noise.txt"), Path(f"{prefix}_class.txt")
    np.savetxt(noise_path, np.asarray(latents.noise, dtype=np.float64), fmt="%.9g")
    np.savetxt(class_path, softmax(np.asarray(latents.class_vector, dtype=np.float64)), fmt="%.9g")
    return noise_path, class_path
