"""Text -> prompts: read a text file, split it into sentences (or lines), template and seed each one."""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np


class TextError(ValueError):
    """A text file cannot be used; the message names the file and what is wrong."""


@dataclass(frozen=True)
class Prompt:
    index: int  # 0-based position in the text; outputs are named by it, never by the sentence
    sentence: str  # the sentence as it appears in the text (whitespace folded)
    prompt: str  # the sentence put into the template: what CLIP is asked to match
    seed: int  # derived from the project seed and the index only


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


def sentence_seed(project_seed: int, index: int) -> int:
    """A seed in [1, 2**31 - 1] that depends only on the project seed and the sentence index."""
    state = np.random.SeedSequence([int(project_seed), int(index)]).generate_state(1, dtype=np.uint32)[0]
    return int(state % (2**31 - 2)) + 1


def make_prompts(path, *, split="sentences", language="en", template="{sentence}", seed=1) -> list[Prompt]:
    check_template(template)
    sentences = split_text(read_text(path), split, language)
    if not sentences:
        unit = "line" if split == "lines" else "sentence"
        raise TextError(f"text file '{path}' contains no {unit} (it is empty or holds no words)")
    return [
        Prompt(index=i, sentence=s, prompt=_fold(template.format(sentence=s)), seed=sentence_seed(seed, i))
        for i, s in enumerate(sentences)
    ]


@dataclass(frozen=True)
class PromptFit:
    clip_prompt: str  # the text CLIP actually sees (cut to its context when too long)
    tokens: int  # tokens the full prompt needs, start and end tokens included
    truncated: bool


def fit_prompt(tokenizer, prompt: str) -> PromptFit:
    """How a prompt fits CLIP's context: open_clip's tokenizer silently cuts long prompts; we record it."""
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
    Path(path).write_text("\n".join(rows) + "\n", encoding="utf-8")


def read_prompts_tsv(path) -> list[dict]:
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    header = lines[0].split("\t")
    return [dict(zip(header, line.split("\t"))) for line in lines[1:]]
