"""The text stage: read a text file, split it into sentences (or lines), template and seed each one
into a `Prompt`, apply the overrides table, and write `prompts.tsv` with how each prompt fits CLIP's
context (the job of workflow/rules/text.smk)."""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .files import atomic_write_text
from .models.classes import check_initial_class


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


def parse_weighted_prompt(spec: str) -> list[tuple[str, float]]:
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
        parts.append((text, weight))
    if not any(w > 0 for _, w in parts):
        raise TextError(f"prompt {spec!r} has no part with a positive weight")
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


def read_text(path: str | Path) -> str:
    """Read a UTF-8 text; Windows and old Mac line endings and a byte-order mark are normalised."""
    path = Path(path)
    if not path.is_file():
        raise TextError(f"text file '{path}' does not exist (check the path under 'texts:' in the config)")
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise TextError(
            f"text file '{path}' is not UTF-8 (byte 0x{data[err.start]:02x} at line {line}); "
            "re-save it as UTF-8, e.g. `iconv -f latin1 -t utf-8`"
        ) from None
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _has_words(segment: str) -> bool:
    return any(ch.isalnum() for ch in segment)


def _fold(segment: str) -> str:
    return " ".join(segment.split())


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
                pieces.extend(segmenter.segment(paragraph))
    else:
        raise ValueError(f"unknown split mode {mode!r}")
    return [_fold(p) for p in pieces if _has_words(p)]


def check_template(template: str) -> None:
    try:
        filled = template.format(sentence="\0")
    except (KeyError, IndexError, ValueError) as err:
        raise TextError(
            f"text.template {template!r} is not a valid template ({type(err).__name__}: {err}); "
            "use {sentence} for the sentence and {{ }} for literal braces"
        ) from None
    if "\0" not in filled:
        raise TextError(f"text.template {template!r} does not contain {{sentence}}")
    if not any("{sentence}" in text and w > 0 for text, w in parse_weighted_prompt(template)):
        raise TextError(f"text.template {template!r}: {{sentence}} must be in a part with a positive weight")


def check_prompt(prompt: str) -> None:
    """A prompt of the overrides table: a template when it has {sentence}, else weighted parts as they are;
    either way it is filled in like a template (`fill_prompt`), so any other braces must be doubled."""
    if "{sentence}" in prompt:
        check_template(prompt)
        return
    try:
        prompt.format(sentence="")
    except (KeyError, IndexError, ValueError) as err:
        raise TextError(f"prompt {prompt!r} has braces that are not {{sentence}} ({type(err).__name__}: {err}); "
                        "write {{ }} for literal braces") from None
    parse_weighted_prompt(prompt)


def sentence_seed(project_seed: int, index: int) -> int:
    """A seed in [1, 2**31 - 1] that depends only on the project seed and the sentence index."""
    state = np.random.SeedSequence([int(project_seed), int(index)]).generate_state(1, dtype=np.uint32)[0]
    return int(state % (2**31 - 2)) + 1


def make_prompts(path, *, split="sentences", language="en", template="{sentence}", style="", seed=1,
                 overrides=None, overrides_table=None, class_names=None, candidates=1) -> list[Prompt]:
    """The prompts of one text; `overrides`: {index: {column: value}}, or `overrides_table`: the path
    of an overrides table (read against this text's sentences, the generator's `class_names` and the
    number of `candidates` per sentence)."""
    check_template(template)
    sentences = split_text(read_text(path), split, language)
    if not sentences:
        unit = "line" if split == "lines" else "sentence"
        raise TextError(f"text file '{path}' contains no {unit} (it is empty or holds no words)")
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


def read_overrides(path, sentences: int, class_names=None, candidates: int = 1) -> dict:
    """An overrides table: a TSV with an `index` column and any of seed, initial_class, iterations,
    prompt, candidate (a pick among the sentence's `candidates`); an empty cell keeps the project's
    value. Returns {index: {column: value}}."""
    if not Path(path).is_file():
        raise TextError(f"overrides table '{path}' does not exist (check the path under 'overrides:' in the config)")
    return parse_overrides(read_text(path), path, sentences, class_names, candidates)


def overrides_rows(content: str) -> list[tuple[int, list[str]]]:
    """The line number and cells of each line of an overrides table that is not blank, the header first,
    as its parser reads them."""
    lines = content.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return [(number, line.split("\t")) for number, line in enumerate(lines, start=1) if line.strip()]


def parse_overrides(content: str, path, sentences: int, class_names=None, candidates: int = 1) -> dict:
    """`read_overrides` of a table's text, as if read from the file `path` (which the messages name):
    what the pipeline will read of a table before it is written (machine-imagination review)."""
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
            raise TextError(f"{where}: index {row[0]!r} is not a whole number") from None
        if not 0 <= index < sentences:
            raise TextError(f"{where}: index {index} is out of range (the text has {sentences} sentences)")
        if index in table:
            raise TextError(f"{where}: index {index} appears twice")
        values = {}
        for name, cell in zip(header[1:], row[1:]):
            cell = cell.strip()
            if not cell:
                continue
            try:
                values[name] = OVERRIDE_COLUMNS[name](cell)
            except ValueError:
                raise TextError(f"{where}: {name} {cell!r} is not a whole number") from None
            if name == "iterations" and values[name] < 1 or name == "seed" and values[name] < 0:
                raise TextError(f"{where}: {name} must be {'at least 1' if name == 'iterations' else '0 or more'}")
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
                    check_prompt(cell)
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
