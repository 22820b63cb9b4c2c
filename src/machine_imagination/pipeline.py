"""The workflow's plan of a text's jobs: its sentences shared out in blocks, each stage job's receipt
and params, and what determines each (its identity), computed once when Snakemake parses the
workflow. workflow/rules/*.smk ask this module and nothing else, so that the rule's params (Snakemake's
rerun trigger), the receipt a job is asked for and what the job itself checks before reusing a file
all come from the stages' own identities (search.settings.search_identity, search.judge.judge_identity,
film.settings.FilmSettings).

The stage rules — `search`, `judge`, `keep`, `progress`, `render` — are one rule each, whatever the
length of the text: a job takes a block of consecutive sentences (`{block}`: `0000-0024`, or `0007` for
a block of one) and its one declared output is its receipt (machine_imagination.receipts). Snakemake
reruns a search, judge or keep job when its params change; they are what the job's result depends on,
one param per setting (`search.iterations=50`) and one per sentence of the block, so that a dry run
names what changed. A render job's receipt is named by the digest of its identity (its sentences' kept
latents, captions, holds and walks, the film's settings), so that exactly the render jobs holding a
changed segment run: an edit in one sentence re-renders the segments that walk from it and to it,
even when the one before it belongs to another block.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property

from .files import digest, package_versions
from .film.captions import film_title
from .film.plan import card_frames, frame_plan
from .film.settings import FilmSettings
from .search.candidates import candidate_seed
from .search.judge import judge_identity
from .search.race import RaceSchedule
from .search.settings import SearchSettings

STAGES = ("search", "judge", "keep", "progress", "render")
BLOCK_PATTERN = r"\d{4}(-\d{4})?"
DIGEST_PATTERN = r"[0-9a-f]{16}"
SHEET_PAGE = 100  # sentences per page of the contact sheet and the candidates sheet


@dataclass(frozen=True)
class Block:
    """Consecutive sentences `first` … `last` of a text, one job's share."""

    first: int
    last: int

    @property
    def name(self) -> str:
        """'0007' for a block of one sentence, '0000-0024' for a longer one: its job's wildcard, log, receipt."""
        return f"{self.first:04d}" if self.first == self.last else f"{self.first:04d}-{self.last:04d}"

    @property
    def indices(self) -> range:
        return range(self.first, self.last + 1)

    @classmethod
    def parse(cls, name: str) -> "Block":
        first, _, last = name.partition("-")
        return cls(int(first), int(last or first))


def blocks(count: int, size: int) -> list[Block]:
    """`count` sentences in blocks of `size` (0-24, 25-49, …; the last one shorter): sentence i's block
    stays the same when sentences are added after it."""
    return [Block(first, min(first + size, count) - 1) for first in range(0, count, size)]


def sentence_params(size: int) -> list[str]:
    """The names of a block job's per-sentence params ('s00' … for blocks of up to `size`)."""
    width = len(str(max(size - 1, 1)))
    return [f"s{n:0{width}d}" for n in range(size)]


def block_items(params) -> list:
    """A block job's per-sentence params in order (a job script's `snakemake.params`)."""
    names = sorted(name for name in params.keys() if name.startswith("s") and name[1:].isdigit())
    return [params[name] for name in names if params[name] is not None]


def setting_params(settings: dict) -> dict:
    """Settings as params, one each ('search.iterations=50'): Snakemake shows the ones that changed."""
    return {f"x_{key.replace('.', '_').replace('-', '_')}": f"{key}={json.dumps(value, sort_keys=True)}"
            for key, value in sorted(settings.items())}


def flat(prefix: str, values: dict) -> dict:
    return {f"{prefix}.{key}": value for key, value in values.items()}


class TextJobs:
    """A text's jobs: its blocks, and each stage job's receipt, params and identity."""

    def __init__(self, name: str, config: dict, prompts: list):
        self.name, self.config, self.prompts = name, config, prompts
        self.root = f"results/{name}"
        self.candidates = config["search"]["candidates"]
        self.search_blocks = blocks(len(prompts), config["search"]["sentences_per_job"])
        self.render_blocks = blocks(len(prompts), config["film"]["segments_per_job"])
        self.film = FilmSettings.from_config(config)

    # -- paths

    def receipt(self, stage: str, block: Block | str, digest_: str | None = None) -> str:
        name = block.name if isinstance(block, Block) else block
        return f"{self.root}/receipts/{stage}/{name}{'.' + digest_ if digest_ else ''}.json"

    def search_block_of(self, index: int) -> Block:
        return self.search_blocks[index // self.config["search"]["sentences_per_job"]]

    def keep_receipts(self, indices) -> list[str]:
        """The keep receipts of the blocks holding `indices`, in order, each once."""
        return list(dict.fromkeys(self.receipt("keep", self.search_block_of(i)) for i in indices))

    def all_receipts(self, stage: str) -> list[str]:
        if stage == "render":
            return [self.receipt("render", b, self.render_digest(b)) for b in self.render_blocks]
        return [self.receipt(stage, b) for b in self.search_blocks]

    # -- the search, judge and keep jobs

    def search_settings(self) -> dict:
        """What every search of the text depends on besides its sentence (the settings of its engine,
        the models, where it runs, the package versions) and what the search job makes (how many
        candidates; in a race its schedule and the judge that decides it, and in story mode the judge,
        which chooses where the next sentence starts)."""
        config = self.config
        story = config["search"]["story"]
        settings = {**flat("search", SearchSettings.from_config(config).identity(story=story)),
                    "generator.model": config["generator"]["model"], "clip.model": config["clip"]["model"],
                    "clip.pretrained": config["clip"]["pretrained"], "search.device": config["search"]["device"],
                    "search.threads": config["search"]["threads"], "search.candidates": self.candidates,
                    "search.story": story, **flat("packages", package_versions())}
        settings.pop("search.truncation", None)
        settings["generator.truncation"] = config["generator"]["truncation"]
        race = RaceSchedule.from_config(config)
        if race is not None:  # a race: the schedule, and the judge that decides it
            settings.update(flat("search.race", race.identity()))
        if (story and self.candidates > 1) or race is not None:
            settings.update(flat("judge", judge_identity(config)))
        return settings

    def search_params(self, block: Block) -> dict:
        """The search job's params: its settings, then each of its sentences (its index, sentence,
        weighted parts, seed and overrides; in story mode where it starts from and the artist's pick)."""
        story = self.config["search"]["story"]
        sentences = [{"index": p.index, "sentence": p.sentence, "parts": [list(part) for part in p.parts],
                      "seed": p.seed, "overrides": dict(p.search),
                      **({"pick": p.candidate, "start": self.kept_digests[p.index - 1] if p.index else None}
                         if story else {})}
                     for p in (self.prompts[i] for i in block.indices)]
        return {**self.padded(sentences, self.config["search"]["sentences_per_job"]),
                **setting_params(self.search_settings())}

    def judge_params(self, block: Block) -> dict:
        return setting_params(flat("judge", judge_identity(self.config)))

    def keep_params(self, block: Block) -> dict:
        """The keep job's params: each sentence's pick (None: the judge's best) and how many candidates."""
        picks = [{"index": i, "pick": self.prompts[i].candidate} for i in block.indices]
        return {**self.padded(picks, self.config["search"]["sentences_per_job"]),
                **setting_params({"search.candidates": self.candidates})}

    @staticmethod
    def padded(items: list, size: int) -> dict:
        names = sentence_params(size)
        return {name: items[n] if n < len(items) else None for n, name in enumerate(names)}

    # -- identities

    @cached_property
    def kept_digests(self) -> list[str]:
        """What each sentence's kept latents depend on, as a digest: its candidates' searches (prompt,
        seed, settings, models; in story mode the previous sentence's kept latents) and what chooses
        among them (the artist's pick, else with several candidates the judge)."""
        config, story = self.config, self.config["search"]["story"]
        shared = digest(self.search_settings())
        judge = digest(judge_identity(config)) if self.candidates > 1 else None
        overridden = {}
        kept, start = [], None
        for p in self.prompts:
            if p.search not in overridden:
                overridden[p.search] = digest(SearchSettings.from_config(config, dict(p.search)).identity(story=story))
            searches = [digest([shared, overridden[p.search], p.parts, candidate_seed(p.seed, k), start])
                        for k in range(self.candidates)]
            kept.append(digest([searches, p.candidate, judge if p.candidate is None else None]))
            start = kept[-1] if story else None
        return kept

    @cached_property
    def holds(self) -> tuple | None:
        """Each image's hold in frames (None with film.pacing: audio: the reading's cues say, in the job)."""
        if self.film.pacing == "audio":
            return None
        return frame_plan(self.config["film"], [p.sentence for p in self.prompts]).holds

    def next_index(self, index: int) -> int | None:
        """The sentence segment `index` walks to: the next, the first when the film loops, else none."""
        if index + 1 < len(self.prompts):
            return index + 1
        return 0 if self.film.loop and index > 0 else None

    def segment_identity(self, index: int) -> dict:
        """What segment `index` depends on besides the film's settings for segments: its caption, hold
        and walk, and the kept latents it walks between."""
        following = self.next_index(index)
        return {"caption": self.prompts[index].sentence, "hold": None if self.holds is None else self.holds[index],
                "steps": self.film.steps if following is not None else 0, "latents": self.kept_digests[index],
                "next": None if following is None else self.kept_digests[following]}

    def render_segments(self, block: Block) -> list[dict]:
        """Each segment of a render block: its index, caption, hold, the latents it walks between, and
        the digest of its identity (with the film's), by which a render job finds it rendered before."""
        film = self.film.segment_identity(self.config)
        segments = []
        for i in block.indices:
            following = self.next_index(i)
            identity = self.segment_identity(i)
            segments.append({"index": i, "caption": identity["caption"], "hold": identity["hold"],
                             "latents": f"{self.root}/latents/{i:04d}.npz",
                             "next_latents": None if following is None else f"{self.root}/latents/{following:04d}.npz",
                             "identity": digest([identity, film])})
        return segments

    def render_identity(self, block: Block) -> dict:
        """What a render job's segments depend on: each one's identity, and the film's settings for
        segments."""
        return {"segments": [self.segment_identity(i) for i in block.indices],
                "film": self.film.segment_identity(self.config)}

    def render_digest(self, block: Block) -> str:
        return digest(self.render_identity(block))

    def render_params(self, block: Block) -> dict:
        return self.padded(self.render_segments(block), self.config["film"]["segments_per_job"])

    def render_inputs(self, block: Block) -> dict:
        """The keep receipts a render job waits for (order only: its identity says when it reruns)."""
        needed = list(block.indices)
        following = self.next_index(block.last)
        if following is not None:
            needed.append(following)
        return {"kept": self.keep_receipts(needed)}

    # -- cards, subtitles, sheets

    def card(self, which: str) -> tuple[str, int, dict]:
        """A card's text, frames and identity ('title' or 'end')."""
        title, end = card_frames(self.config["film"])
        text = film_title(self.config, self.name) if which == "title" else self.film.credits
        frames = title if which == "title" else end
        return text, frames, self.film.card_identity(self.config, text, frames)

    def subtitle_identity(self) -> dict:
        """What film.srt depends on: the captions and when each shows."""
        film = self.film
        timing = ({"pacing": "audio"} if film.pacing == "audio" else
                  {"holds": list(self.holds), "steps": film.steps, "loop": film.loop})
        return {"captions": [p.sentence for p in self.prompts], "fps": film.fps,
                "cards": list(card_frames(self.config["film"])), **timing}

    def sheet_pages(self) -> list[str]:
        """'' for a text of up to SHEET_PAGE sentences, else '-001', '-002', …: the contact sheet's and the
        candidates sheet's pages."""
        if len(self.prompts) <= SHEET_PAGE:
            return [""]
        return [f"-{n + 1:03d}" for n in range((len(self.prompts) + SHEET_PAGE - 1) // SHEET_PAGE)]

    def page_indices(self, page: str) -> range:
        if not page:
            return range(len(self.prompts))
        first = (int(page[1:]) - 1) * SHEET_PAGE
        return range(first, min(first + SHEET_PAGE, len(self.prompts)))
