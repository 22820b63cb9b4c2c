"""The review page, `results/<text>/review.html`: every sentence with its prompt as CLIP saw it, its seed,
the kept image and every take (candidate) with its judge score and loss; a chart of the held-out judge
score and the CLIP similarity in reading order; the film with its subtitles; and the editor of the
overrides table (pick a take, reword a prompt, another seed, an initial class, more iterations).

The page is one HTML file: its style, script (`data/review/`) and data inside, nothing from a network.
It references the results' own files relatively (images/, candidates/, history/, film.mp4) and, per
sentence, one strip of thumbnails of its takes (`review/<index>.jpg`), so it opens from disk (file://,
as after an rsync; Save then downloads the table) and from `machine-imagination review`
(`review_server`: Save writes the table, a dry run says what the next run redoes). This module reads
what the page shows from the results tree (`read_review`) and writes the page (`review_page_job`, the
report stage's rule); the page's script displays it and edits the table's text, and the pipeline's own
parser (`text.parse_overrides`) says what it will read of it.
"""
from __future__ import annotations

import hashlib
import io
import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

from ..audio import AudioError, read_timing
from ..files import atomic_write_bytes, atomic_write_text
from ..latents import Candidates, Latents, LatentsError
from ..models.classes import INITIAL_CLASS_MODES
from ..models.generator import generator_class_names
from ..text import OVERRIDE_COLUMNS, TextError, overrides_rows, parse_overrides, read_prompts_tsv, read_text

ASSETS = Path(__file__).resolve().parent.parent / "data" / "review"
THUMB = 128  # a thumbnail's side at most (smaller images keep theirs)
THUMBNAILS = "review"  # beside the page: <index>.jpg, a sentence's takes side by side
NEW_TABLE = "overrides/{text}.tsv"  # where the page saves a text's table when the config names none


@dataclass(frozen=True)
class ReviewSettings:
    """What the page edits against, from the config (the review rule's params, so a change remakes it)."""

    text: str
    candidates: int  # search.candidates: the takes a pick chooses among
    template: str  # text.template: a sentence's prompt without a `prompt` override
    style: str
    iterations: int
    initial_class: str
    classes: tuple  # the generator's class names
    modes: tuple  # the other initial classes (models.classes.INITIAL_CLASS_MODES)
    table: str | None  # the overrides table the config names for the text, or None
    other_tables: bool  # the config names tables for other texts (the line to add goes under them)

    @classmethod
    def from_config(cls, config: dict, text: str) -> "ReviewSettings":
        search = config["search"]
        return cls(text=text, candidates=search["candidates"], template=config["text"]["template"],
                   style=config["text"]["style"], iterations=search["iterations"],
                   initial_class=str(search["initial_class"]),
                   classes=tuple(generator_class_names(config["generator"]["model"])), modes=INITIAL_CLASS_MODES,
                   table=config["overrides"].get(text), other_tables=bool(set(config["overrides"]) - {text}))

    @property
    def table_path(self) -> str:
        """The table Save writes: the config's, else a new one (which the config must then name)."""
        return self.table or NEW_TABLE.format(text=self.text)

    @property
    def config_line(self) -> str:
        """The config line that names a new table ('' when the config names one)."""
        if self.table:
            return ""
        entry = f"{self.text}: {self.table_path}"
        return f"under 'overrides:' add   {entry}" if self.other_tables else f"overrides: {{{entry}}}"


@dataclass(frozen=True)
class Take:
    """One candidate of a sentence, as the page shows it."""

    number: int
    seed: int | None
    score: float | None  # the held-out judge score it was kept or passed over by
    loss: float | None
    image: str  # paths relative to results/<text>
    plot: str
    race: str | None = None  # search.race: where it stopped, and which iteration its image is from (Race.label)


@dataclass(frozen=True)
class SentenceView:
    index: int
    sentence: str
    prompt: str  # as searched ('text:weight | …' when weighted)
    clip_prompt: str  # what CLIP saw of it
    tokens: int
    truncated: bool
    seed: int  # the sentence's seed (candidate 0's; the overrides table's seed column)
    kept: int | None  # the take these results keep (None: not searched yet)
    picked_by: str | None  # "judge" or "overrides"
    judge_score: float | None
    similarity: float | None
    image: str | None
    plot: str | None
    thumbs: str  # the strip of the takes' thumbnails
    takes: tuple


@dataclass(frozen=True)
class OverridesState:
    """The overrides table as it is on disk, and what the pipeline's parser says of it."""

    path: str
    configured: bool  # the config names it (else Save writes a new file, and the config must name it)
    exists: bool
    content: str
    sha256: str | None  # of its bytes: a save is refused if the file changed since the page read it
    error: str | None  # the parser's message (naming the line) when the pipeline cannot read it
    header: tuple
    rows: tuple  # (index or None, cells) per line after the header, as the parser splits them


@dataclass(frozen=True)
class Review:
    settings: ReviewSettings
    columns: tuple  # the table's columns besides index, in the order a new table has them
    config_line: str
    sentences: tuple
    film: str | None
    cues: tuple  # (start, end, text) per subtitle of film.srt, in seconds
    overrides: OverridesState
    served: bool  # by machine-imagination review (Save writes, plans), else a file (Save downloads)


def overrides_state(settings: ReviewSettings, sentences: int) -> OverridesState:
    """The table Save writes, read now (paths relative to the working directory, as the config's are)."""
    path = Path(settings.table_path)
    if not path.is_file():
        return OverridesState(settings.table_path, settings.table is not None, False, "", None, None, (), ())
    data = path.read_bytes()
    try:
        content = read_text(path)
    except TextError as err:  # not UTF-8: nothing of it can be shown, and Save will not overwrite it
        return OverridesState(settings.table_path, settings.table is not None, True, "",
                              hashlib.sha256(data).hexdigest(), str(err), (), ())
    try:
        parse_overrides(content, settings.table_path, sentences, settings.classes, settings.candidates)
        error = None
    except TextError as err:
        error = str(err)
    rows = [cells for _, cells in overrides_rows(content)]
    return OverridesState(settings.table_path, settings.table is not None, True, content,
                          hashlib.sha256(data).hexdigest(), error, tuple(rows[0]) if rows else (),
                          tuple((_whole(cells[0]), tuple(cells)) for cells in rows[1:]))


def _whole(cell: str) -> int | None:
    try:
        return int(cell)
    except ValueError:
        return None


def _number(value) -> float | None:
    """A score for the page: 5 decimals are more than it shows (and keep a long text's page small)."""
    return None if value is None or math.isnan(value) else round(float(value), 5)


def _kept_latents(path: Path) -> Latents | None:
    try:
        return Latents.load(path) if path.is_file() else None
    except LatentsError:
        return None


def sentence_view(root: Path, row: dict, candidates: int) -> SentenceView:
    """One sentence of results/<text> (`root`): its prompts.tsv row, its kept latents, its takes' files."""
    index = int(row["index"])
    name = f"{index:04d}"
    kept = _kept_latents(root / "latents" / f"{name}.npz")
    choice = None if kept is None else kept.candidates or Candidates.among([kept])
    takes = []
    for k in range(candidates):
        known = choice is not None and k < len(choice.seeds)
        takes.append(Take(k, choice.seeds[k] if known else None, _number(choice.scores[k]) if known else None,
                          _number(choice.losses[k]) if known else None, f"candidates/{name}/{k}.png",
                          f"candidates/{name}/{k}-history.png",
                          kept.race.label(k) if kept is not None and kept.race else None))
    return SentenceView(
        index=index, sentence=row["sentence"], prompt=row["prompt"], clip_prompt=row["clip_prompt"],
        tokens=int(row["tokens"]), truncated=row["truncated"] == "true", seed=int(row["seed"]),
        kept=None if choice is None else choice.kept, picked_by=None if choice is None else choice.picked_by,
        judge_score=None if kept is None else _number(kept.search.judge_score),
        similarity=None if kept is None else _number(kept.search.similarity),
        image=None if kept is None else f"images/{name}.png", plot=None if kept is None else f"history/{name}.png",
        thumbs=f"{THUMBNAILS}/{name}.jpg", takes=tuple(takes))


def read_review(settings: ReviewSettings, root, served: bool = False) -> Review:
    """What the page shows of results/<text> (`root`), read now: prompts.tsv, the kept latents, the takes,
    the film and its subtitles, and the overrides table."""
    root = Path(root)
    rows = read_prompts_tsv(root / "prompts.tsv")
    sentences = tuple(sentence_view(root, row, settings.candidates) for row in rows)
    try:
        cues = tuple((c.start, c.end, c.text) for c in read_timing(root / "film.srt")) \
            if (root / "film.srt").is_file() else ()
    except AudioError:
        cues = ()
    return Review(settings=settings, columns=tuple(OVERRIDE_COLUMNS), config_line=settings.config_line,
                  sentences=sentences, film="film.mp4" if (root / "film.mp4").is_file() else None, cues=cues,
                  overrides=overrides_state(settings, len(sentences)), served=served)


def page_data(review: Review) -> str:
    """The page's data, as JSON that can sit inside a <script> element."""
    text = json.dumps(asdict(review), ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c")


def render_page(review: Review) -> str:
    """The whole page: the template with its style, script and data inside."""
    template = (ASSETS / "review.html").read_text(encoding="utf-8")
    parts = {"{{title}}": _escape(review.settings.text), "{{style}}": (ASSETS / "review.css").read_text("utf-8"),
             "{{script}}": (ASSETS / "review.js").read_text("utf-8"), "{{data}}": page_data(review)}
    for key, value in parts.items():
        head, sep, tail = template.partition(key)
        template = head + value + tail if sep else template
    return template


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def thumbnail_strip(images: list, side: int = THUMB) -> bytes:
    """A sentence's takes side by side, each `side` pixels square at most, as one JPEG (one request per
    sentence instead of one per take; a take not written yet is grey)."""
    from PIL import Image

    pictures = [Image.open(path).convert("RGB") if Path(path).is_file() else None for path in images]
    size = min([side] + [p.width for p in pictures if p is not None])
    strip = Image.new("RGB", (size * max(1, len(pictures)), size), (128, 128, 128))
    for k, picture in enumerate(pictures):
        if picture is not None:
            strip.paste(picture.resize((size, size), Image.LANCZOS) if picture.size != (size, size) else picture,
                        (k * size, 0))
    buffer = io.BytesIO()
    strip.save(buffer, format="JPEG", quality=85)
    return buffer.getvalue()


def review_page_job(settings: ReviewSettings, page, thumbnails) -> Review:
    """The report stage's job: each sentence's strip of thumbnails in `thumbnails` (the directory beside
    the page that it references), then the page."""
    root = Path(page).parent
    if Path(thumbnails) != root / THUMBNAILS:
        raise ValueError(f"the review page's thumbnails go to '{root / THUMBNAILS}', not '{thumbnails}'")
    review = read_review(settings, root)
    for view in review.sentences:
        atomic_write_bytes(root / view.thumbs, thumbnail_strip([root / take.image for take in view.takes]))
    atomic_write_text(page, render_page(review))
    return review
