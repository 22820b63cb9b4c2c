"""The text stage: read a text file, split it into sentences (or lines), template and seed each one
into a `Prompt`, apply the overrides table, and write `prompts.tsv` with how each prompt fits CLIP's
context (the job of workflow/rules/text.smk)."""
from __future__ import annotations

import codecs
import hashlib
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from string import Formatter

import numpy as np

from .files import atomic_write_text
from .inputs import control_character, file_problem, shown
from .models.classes import check_initial_class

# The longest sentence (or line) a text may have, in characters: a page of prose. A longer one is a
# paragraph without sentence ends (or a file that is not prose); CLIP reads only its first ~300
# characters and its caption would not fit the frame. It is refused rather than split: splitting it
# would shift every later sentence's index, and so its seed and its files.
MAX_SENTENCE_CHARS = 10_000
# Seeds (the project's, an overrides table's) are whole numbers from 0 to 2**63 - 1: what every
# consumer of a seed takes (numpy's int64 in a latents file, torch.manual_seed, numpy's SeedSequence).
SEED_MAX = 2**63 - 1
# The most CMA-ES generations (or gradient steps) a search may run: the schema's search.iterations
# maximum, which an overrides table's iterations column shares (tests/test_config.py checks they agree).
MAX_ITERATIONS = 100_000


class TextError(ValueError):
    """A text file cannot be used; the message names the file and what is wrong."""


@dataclass(frozen=True)
class Prompt:
    index: int  # 0-based position in the text; outputs are named by it, never by the sentence
    sentence: str  # the sentence as it appears in the text (whitespace folded)
    prompt: str  # what CLIP is asked to match: the template filled in ('text:weight | ...' if weighted)
    seed: int  # derived from the project seed and the index only (unless overridden)
    parts: tuple = ()  # ((text, weight), ...): the prompt's weighted parts
    search: tuple = ()  # ((setting, value), ...): this sentence's own search settings (overrides)
    candidate: int | None = None  # the artist's pick among the sentence's candidates (overrides), or None: the judge's


def parse_weighted_prompt(spec: str, what: str = "prompt") -> list[tuple[str, float]]:
    """'a red fox:1 | blurry:-0.5' -> [('a red fox', 1.0), ('blurry', -0.5)]. A part without ':weight'
    has weight 1; only text after a part's last ':' that reads as a number is a weight, so a colon
    inside a sentence stays text."""
    parts = []
    for piece in spec.split("|"):
        piece = piece.strip()
        if not piece:
            continue
        text, weight = piece, 1.0
        head, sep, tail = piece.rpartition(":")
        if sep:
            try:
                weight = float(tail)
                text = head.strip()
            except ValueError:
                pass
        if not math.isfinite(weight):
            raise TextError(f"{what} {shown(spec)}: the weight of {shown(text)} is {tail.strip()!r}; a weight is a "
                            "finite number such as 1 or -0.5")
        parts.append((text, weight))
    if not any(w > 0 for _, w in parts):
        raise TextError(f"{what} {shown(spec)} has no part with a positive weight")
    return parts


def format_weighted_prompt(parts) -> str:
    if len(parts) == 1 and parts[0][1] == 1.0:
        return parts[0][0]
    return " | ".join(f"{text}:{weight:g}" for text, weight in parts)


def fill_prompt(template: str, sentence: str, style: str = "") -> tuple:
    """The weighted parts of `template` for one sentence; `style` is appended to every positive part.
    The template is parsed before the sentence goes in, so the sentence's own ':' and '|' stay text."""
    parts = []
    for text, weight in parse_weighted_prompt(template):
        text = _fold(text.format(sentence=sentence))
        parts.append((text + style if weight > 0 else text, weight))
    return tuple(parts)


UTF_BOMS = ((codecs.BOM_UTF32_LE, "UTF-32", "utf-32"), (codecs.BOM_UTF32_BE, "UTF-32", "utf-32"),
            (codecs.BOM_UTF16_LE, "UTF-16", "utf-16"), (codecs.BOM_UTF16_BE, "UTF-16", "utf-16"))


def read_text(path: str | Path, what: str = "text file", key: str = "texts") -> str:
    """Read a UTF-8 text (`what`: a text file or an overrides table, under config key `key`); Windows
    and old Mac line endings and a byte-order mark are normalised. A file that is not UTF-8, or that
    holds a control character other than tab and newline (NUL, ESC, …), is refused naming the line."""
    path = Path(path)
    problem = file_problem(path)
    if problem:
        raise TextError(f"{what} '{path}' {problem} (check the path under '{key}:' in the config)")
    data = path.read_bytes()
    for bom, name, codec in UTF_BOMS:
        if data.startswith(bom):
            raise TextError(f"{what} '{path}' is {name} (it starts with a {name} byte-order mark), not UTF-8; "
                            f"convert it: `iconv -f {codec} -t utf-8 '{path}' > converted.txt`")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise TextError(
            f"{what} '{path}' is not UTF-8 (byte 0x{data[err.start]:02x} at line {line}); "
            "re-save it as UTF-8, e.g. `iconv -f latin1 -t utf-8`"
        ) from None
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    found = control_character(text)
    if found:
        line, name = found
        hint = (" (NUL bytes throughout: is it UTF-16 without a byte-order mark? `iconv -f utf-16le -t utf-8`)"
                if text.count("\0") > len(text) // 4 else " (is it a binary file?)")
        raise TextError(f"{what} '{path}', line {line}: control character {name}; a text may hold only "
                        f"printable characters, tabs and line breaks{hint}")
    return text


def _has_words(segment: str) -> bool:
    return any(ch.isalnum() for ch in segment)


def _fold(segment: str) -> str:
    return " ".join(segment.split())


SEGMENT_WINDOW = 4000  # characters of a paragraph that pysbd segments at a time


def split_text(text: str, mode: str = "sentences", language: str = "en") -> list[str]:
    """Split into sentences (pysbd, within paragraphs) or non-empty lines; drop pieces without words."""
    if mode == "lines":
        pieces = text.split("\n")
    elif mode == "sentences":
        import pysbd

        segmenter = pysbd.Segmenter(language=language, clean=False)
        pieces = []
        # Hard-wrapped prose: a single newline is not a sentence break, a blank line is.
        for paragraph in re.split(r"\n\s*\n", text):
            paragraph = _fold(paragraph)
            if paragraph:
                pieces.extend(segment(segmenter, paragraph))
    else:
        raise ValueError(f"unknown split mode {mode!r}")
    return [_fold(p) for p in pieces if _has_words(p)]


def segment(segmenter, paragraph: str, window: int = SEGMENT_WINDOW) -> list[str]:
    """pysbd's sentences of a paragraph, a window at a time. pysbd's time grows faster than the length of
    what it segments (a novel set as one paragraph took minutes), so each window's sentences but its last
    two (which may run on past the window) are kept and the next window starts where they end: the
    same sentences as the whole paragraph at once (a sentence's end is decided by what is near it), in
    time that grows with the paragraph's length."""
    sentences, start, size = [], 0, window
    while len(paragraph) - start > size:
        pieces = segmenter.segment(paragraph[start:start + size])
        if len(pieces) < 3:  # a sentence longer than the window: a wider one
            size *= 2
            continue
        kept = "".join(pieces[:-2])
        if not paragraph.startswith(kept, start):  # pysbd changed the text: segment the rest at once
            break
        sentences += pieces[:-2]
        start, size = start + len(kept), window
    return sentences + segmenter.segment(paragraph[start:])


def check_template(template: str, what: str = "text.template", needs_sentence: bool = True) -> None:
    """A prompt template (`what`: text.template, or an overrides table's prompt, which may leave the
    sentence out): its only field is {sentence}, literal braces are doubled, its weights are finite
    numbers, and (where there is one) {sentence} is in a part with a positive weight."""
    help = "use {sentence} for the sentence and {{ }} for literal braces"
    try:
        fields = [(name, spec, conversion) for _, name, spec, conversion in Formatter().parse(template)
                  if name is not None]
    except ValueError as err:
        raise TextError(f"{what} {shown(template)} is not a valid template ({err}); {help}") from None
    for name, spec, conversion in fields:
        if name != "sentence" or spec or conversion:
            field = "{" + name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}"
            raise TextError(f"{what} {shown(template)} is not a valid template ({shown(field)} is not a field it "
                            f"may use); {help}")
    if needs_sentence and not fields:
        raise TextError(f"{what} {shown(template)} does not contain {{sentence}}")
    parts = parse_weighted_prompt(template, what)
    if fields and not any("{sentence}" in text and w > 0 for text, w in parts):
        raise TextError(f"{what} {shown(template)}: {{sentence}} must be in a part with a positive weight")


def sentence_seed(project_seed: int, index: int) -> int:
    """A seed in [1, 2**31 - 1] that depends only on the project seed and the sentence index."""
    state = np.random.SeedSequence([int(project_seed), int(index)]).generate_state(1, dtype=np.uint32)[0]
    return int(state % (2**31 - 2)) + 1


def sentences_key(text: str, split: str, language: str) -> str:
    """What a text's split depends on: its characters, the split mode and language, pysbd's version."""
    from .files import digest, package_versions

    return digest([hashlib.sha256(text.encode()).hexdigest(), split, language, package_versions(("pysbd",)),
                   SEGMENT_WINDOW])


def text_sentences(path, split: str = "sentences", language: str = "en", cache=None) -> list[str]:
    """The sentences (or lines) of a text file; with `cache`, a file the text job wrote with them
    (`write_sentences_cache`), read instead of splitting again when it was made from the same text and
    settings (a cluster job parses the workflow again: a novel's split takes seconds)."""
    text = read_text(path)
    key = sentences_key(text, split, language)
    if cache is not None and Path(cache).is_file():
        try:
            saved = json.loads(Path(cache).read_text(encoding="utf-8"))
            if saved.get("key") == key:
                return saved["sentences"]
        except (OSError, ValueError):
            pass
    return split_text(text, split, language)


def write_sentences_cache(path, text_path, split: str, language: str, sentences: list[str]) -> None:
    from .files import write_json

    write_json(path, {"key": sentences_key(read_text(text_path), split, language), "sentences": sentences})


def make_prompts(path, *, split="sentences", language="en", template="{sentence}", style="", seed=1,
                 overrides=None, overrides_table=None, class_names=None, candidates=1, cache=None) -> list[Prompt]:
    """The prompts of one text; `overrides`: {index: {column: value}}, or `overrides_table`: the path
    of an overrides table (read against this text's sentences, the generator's `class_names` and the
    number of `candidates` per sentence); `cache`: see `text_sentences`."""
    check_template(template)
    sentences = text_sentences(path, split, language, cache)
    unit = "line" if split == "lines" else "sentence"
    if not sentences:
        raise TextError(f"text file '{path}' contains no {unit} (it is empty or holds no words)")
    for i, s in enumerate(sentences):
        if len(s) > MAX_SENTENCE_CHARS:
            raise TextError(f"text file '{path}': {unit} {i} has {len(s)} characters, more than the "
                            f"{MAX_SENTENCE_CHARS} a {unit} may have (it starts {shown(s, 60)}); a paragraph without "
                            "sentence ends? Add them, or a blank line between paragraphs (it is not split "
                            "for you: that would move every later sentence to another index and seed)")
    if overrides_table:
        overrides = read_overrides(overrides_table, len(sentences), class_names, candidates)
    overrides = overrides or {}
    prompts = []
    for i, s in enumerate(sentences):
        own = dict(overrides.get(i, {}))
        parts = fill_prompt(own.pop("prompt", template), s, style)
        seed_i = own.pop("seed", None)
        candidate = own.pop("candidate", None)  # not a search setting: it picks among the searches' results
        prompts.append(Prompt(index=i, sentence=s, prompt=format_weighted_prompt(parts),
                              seed=sentence_seed(seed, i) if seed_i is None else seed_i,
                              parts=parts, search=tuple(sorted(own.items())), candidate=candidate))
    return prompts


OVERRIDE_COLUMNS = {"seed": int, "initial_class": str, "iterations": int, "prompt": str, "candidate": int}
OVERRIDE_BOUNDS = {  # column: (lowest, highest, why)
    "seed": (0, SEED_MAX, "2**63 - 1 is the largest seed the search and the latents file can take"),
    "iterations": (1, MAX_ITERATIONS, "as search.iterations: more could never finish"),
}


def read_overrides(path, sentences: int, class_names=None, candidates: int = 1) -> dict:
    """An overrides table: a TSV with an `index` column and any of seed, initial_class, iterations,
    prompt, candidate (a pick among the sentence's `candidates`); an empty cell keeps the project's
    value. Returns {index: {column: value}}."""
    return parse_overrides(read_text(path, "overrides table", "overrides"), path, sentences, class_names, candidates)


def overrides_rows(content: str) -> list[tuple[int, list[str]]]:
    """The line number and cells of each line of an overrides table that is not blank, the header first,
    as its parser reads them."""
    lines = content.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return [(number, line.split("\t")) for number, line in enumerate(lines, start=1) if line.strip()]


def parse_overrides(content: str, path, sentences: int, class_names=None, candidates: int = 1) -> dict:
    """`read_overrides` of a table's text, as if read from the file `path` (which the messages name):
    what the pipeline will read of a table before it is written (machine-imagination review)."""
    found = control_character(content)
    if found:
        raise TextError(f"overrides table '{path}', line {found[0]}: control character {found[1]}; a table may "
                        "hold only printable characters, tabs and line breaks")
    numbered = overrides_rows(content)
    rows = [cells for _, cells in numbered]
    if not rows or rows[0][0].strip() != "index":
        raise TextError(f"overrides table '{path}' must start with a header line whose first column is 'index'")
    header = [h.strip() for h in rows[0]]
    unknown = [h for h in header[1:] if h not in OVERRIDE_COLUMNS]
    if unknown:
        raise TextError(f"overrides table '{path}': unknown column(s) {', '.join(unknown)} "
                        f"(known: index, {', '.join(OVERRIDE_COLUMNS)})")
    table = {}
    for number, row in numbered[1:]:
        where = f"overrides table '{path}', line {number}"
        try:
            index = int(row[0])
        except ValueError:
            raise TextError(f"{where}: index {shown(row[0])} is not a whole number") from None
        if not 0 <= index < sentences:
            raise TextError(f"{where}: index {index} is out of range (the text has {sentences} sentences)")
        if index in table:
            raise TextError(f"{where}: index {index} appears twice")
        extra = [cell for cell in row[len(header):] if cell.strip()]
        if extra:
            raise TextError(f"{where}: {len(header) + len(extra)} cells, but the header names {len(header)} "
                            f"columns (extra: {shown(extra)}); a tab inside a cell starts another cell")
        values = {}
        for name, cell in zip(header[1:], row[1:]):
            cell = cell.strip()
            if not cell:
                continue
            try:
                values[name] = OVERRIDE_COLUMNS[name](cell)
            except ValueError:
                raise TextError(f"{where}: {name} {shown(cell)} is not a whole number") from None
            if name in OVERRIDE_BOUNDS and not OVERRIDE_BOUNDS[name][0] <= values[name] <= OVERRIDE_BOUNDS[name][1]:
                low, high, why = OVERRIDE_BOUNDS[name]
                raise TextError(f"{where}: {name} {values[name]} is out of range: give {low} to {high} ({why})")
            if name == "candidate" and not 0 <= values[name] < candidates:
                allowed = f"0 to {candidates - 1}" if candidates > 1 else "0 (search.candidates is 1)"
                raise TextError(f"{where}: candidate {values[name]} is out of range: sentence {index} has "
                                f"{candidates} candidate{'s' if candidates > 1 else ''} (search.candidates), "
                                f"so a pick is {allowed}")
            if name == "initial_class":
                try:
                    check_initial_class(cell, class_names)
                except ValueError as err:
                    raise TextError(f"{where}: {err}") from None
            if name == "prompt":
                try:
                    check_template(cell, "prompt", needs_sentence=False)
                except TextError as err:
                    raise TextError(f"{where}: {err}") from None
        table[index] = values
    return table


@dataclass(frozen=True)
class PromptFit:
    clip_prompt: str  # the text CLIP actually sees (cut to its context when too long)
    tokens: int  # tokens the full prompt needs, start and end tokens included
    truncated: bool


def fit_prompt(tokenizer, prompt) -> PromptFit:
    """How a prompt (a string, or weighted parts) fits CLIP's context: open_clip's tokenizer silently
    cuts long texts; we record it."""
    if not isinstance(prompt, str):
        fits = [(fit_prompt(tokenizer, text), weight) for text, weight in prompt]
        return PromptFit(format_weighted_prompt([(f.clip_prompt, w) for f, w in fits]),
                         max(f.tokens for f, _ in fits), any(f.truncated for f, _ in fits))
    ids = tokenizer.encode(prompt)
    budget = tokenizer.context_length - 2  # start-of-text and end-of-text
    if len(ids) <= budget:
        return PromptFit(prompt, len(ids) + 2, False)
    return PromptFit(tokenizer.decode(ids[:budget]).strip(), len(ids) + 2, True)


TSV_COLUMNS = ("index", "sentence", "prompt", "seed", "tokens", "truncated", "clip_prompt")


def write_prompts_tsv(prompts: list[Prompt], fits: list[PromptFit], path) -> None:
    rows = ["\t".join(TSV_COLUMNS)]
    for p, f in zip(prompts, fits, strict=True):
        rows.append("\t".join([str(p.index), p.sentence, p.prompt, str(p.seed), str(f.tokens),
                               str(f.truncated).lower(), f.clip_prompt]))
    atomic_write_text(path, "\n".join(rows) + "\n")


def read_prompts_tsv(path) -> list[dict]:
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    header = lines[0].split("\t")
    return [dict(zip(header, line.split("\t"))) for line in lines[1:]]


def write_prompts(prompts: list[Prompt], clip_model: str, path, log=print) -> None:
    """The text stage's job: fit each prompt to CLIP's context and write `prompts.tsv`; say which
    prompts CLIP sees only in part."""
    from .models.clip import load_tokenizer

    tokenizer = load_tokenizer(clip_model)
    fits = [fit_prompt(tokenizer, p.parts) for p in prompts]
    write_prompts_tsv(prompts, fits, path)
    for p, f in zip(prompts, fits):
        if f.truncated:
            log(f"sentence {p.index}: prompt needs {f.tokens} tokens, more than CLIP's "
                f"{tokenizer.context_length}; CLIP sees only: {f.clip_prompt!r}")
