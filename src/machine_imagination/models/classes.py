"""Naming classes: the 1000 ImageNet classes in BigGAN's order (shipped as package data), a class by
name or index among a generator's classes, and the ways a search may choose its initial class."""
from __future__ import annotations

from pathlib import Path

# Ways of choosing the class a search starts from, besides naming one of the generator's classes.
INITIAL_CLASS_MODES = ("random-mix", "from-prompt", "random-class", "random-dirichlet", "random-embeddings")


def imagenet_classes() -> list[str]:
    """The 1000 ImageNet class names in BigGAN's order."""
    return (Path(__file__).parent.parent / "data" / "imagenet_classes.txt").read_text().splitlines()


def resolve_class(name, names=None) -> int:
    """A class by index ('933', 933) or by name ('cheeseburger') among `names` (default: the ImageNet
    classes); the error suggests names."""
    import difflib

    names = names or imagenet_classes()
    text = str(name).strip()
    if text.isdigit():
        if int(text) < len(names):
            return int(text)
        raise ValueError(f"class index {text} is out of range (0-{len(names) - 1})")
    lowered = [n.lower() for n in names]
    if text.lower() in lowered:
        return lowered.index(text.lower())
    close = difflib.get_close_matches(text.lower(), lowered, n=5, cutoff=0.5)
    hint = f"; did you mean: {', '.join(close)}?" if close else ""
    kind = "ImageNet class" if len(names) == 1000 else "class of this generator"
    raise ValueError(f"unknown {kind} '{text}'{hint}")


def check_initial_class(value: str, names=None) -> None:
    """An initial class is a mode of INITIAL_CLASS_MODES or one of the classes `names` (raises ValueError)."""
    if value not in INITIAL_CLASS_MODES:
        resolve_class(value, names)
