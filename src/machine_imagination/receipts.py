"""What a stage job made: its receipt, `results/<text>/receipts/<stage>/<block>.json`.

The workflow's stage rules (search, judge, keep, progress, render) each run a block of consecutive
sentences, and a rule's outputs must be the same files whatever its wildcards are; so each job's one
declared output is its receipt, which names the per-sentence files it wrote (its products: the files
named by sentence index that users read, `latents/0007.npz`, `segments/0007.mp4`, …) with their sizes
and SHA-256, and what determined them (the identity the job was planned with). The workflow reads
receipts, never per-sentence files, to plan; before any job it checks that every product of an
existing receipt is still there at its size (`check_products`), and `machine-imagination repair` sets
aside what is not and removes the receipts that list it, so that the next run makes it again. The
manifest skips receipts (bookkeeping, like timings)."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from .files import sha256_file, write_json

RECEIPTS = "receipts"


class ReceiptError(ValueError):
    """A receipt's products are missing or damaged; the message names them and what to do."""


@dataclass(frozen=True)
class Receipt:
    stage: str
    block: str
    identity: dict  # what the job was planned with (see machine_imagination.pipeline)
    products: dict = field(default_factory=dict)  # path relative to the text's results -> {"size", "sha256"}

    @classmethod
    def of(cls, stage: str, block: str, identity: dict, root, products) -> "Receipt":
        """A receipt for `products` (paths under the text's results directory `root`, given the way
        `root` is: both relative to the working directory, or both absolute), as they are now."""
        root = Path(root)
        listed = {Path(path).relative_to(root).as_posix(): {"size": Path(path).stat().st_size,
                                                            "sha256": sha256_file(path)}
                  for path in sorted(map(str, products))}
        return cls(stage, block, identity, listed)

    def save(self, path) -> None:
        write_json(path, {"stage": self.stage, "block": self.block, "identity": self.identity,
                          "products": self.products})

    @classmethod
    def load(cls, path) -> "Receipt":
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        return cls(data["stage"], data["block"], data["identity"], data.get("products", {}))


@dataclass(frozen=True)
class ReceiptTarget:
    """Where a job writes its receipt, and what it was planned with (the rule's params)."""

    path: Path
    stage: str
    block: str
    identity: dict

    def write(self, root, products) -> Receipt:
        """Write the receipt of `products`, and remove the stage's earlier receipts that list any of
        them (the same block planned otherwise, or blocks of another size): each product has one."""
        receipt = Receipt.of(self.stage, self.block, self.identity, root, products)
        receipt.save(self.path)
        for other in receipts_dir(root, self.stage).glob("*.json"):
            if other.resolve() != Path(self.path).resolve() and overlaps(other, receipt.products):
                other.unlink(missing_ok=True)
        return receipt


def overlaps(path, products: dict) -> bool:
    try:
        return not products.keys().isdisjoint(Receipt.load(path).products)
    except (OSError, ValueError, KeyError):
        return True  # unreadable: nothing can rely on it


def receipts_dir(text_dir, stage: str) -> Path:
    return Path(text_dir) / RECEIPTS / stage


def stage_receipts(text_dir, stage: str) -> list[Receipt]:
    """Every readable receipt of a stage's jobs for a text."""
    found = []
    for path in sorted(receipts_dir(text_dir, stage).glob("*.json")):
        try:
            found.append(Receipt.load(path))
        except (OSError, ValueError, KeyError):
            continue
    return found


def text_receipts(root: Path):
    """(path, Receipt, None) for every receipt of a text, or (path, None, the error) for one that cannot
    be read."""
    for path in sorted((root / RECEIPTS).glob("*/*.json")):
        try:
            yield path, Receipt.load(path), None
        except (OSError, ValueError, KeyError) as err:
            yield path, None, err


def product_problem(root: Path, name: str, record: dict) -> str | None:
    """What is wrong with a product a receipt lists ('missing', or its size against the recorded one),
    or None when it is there at its size. Stats the file only."""
    try:
        size = (root / name).stat().st_size
    except OSError:
        return "missing"
    return None if size == record["size"] else f"{size} bytes, {record['size']} when it was made"


def check_products(text_dir) -> list[str]:
    """Every product that a receipt of the text lists and that is not there at its recorded size (a
    file removed, or cut short by a full disk or an interrupted copy), as 'PATH (listed by RECEIPT):
    what is wrong'. Stats files only: cheap enough for every run's start."""
    root = Path(text_dir)
    problems = []
    for receipt_path, receipt, error in text_receipts(root):
        if receipt is None:
            problems.append(f"{receipt_path.relative_to(root)}: unreadable receipt ({error})")
            continue
        for name, record in receipt.products.items():
            problem = product_problem(root, name, record)
            if problem:
                problems.append(f"{name} (listed by {receipt_path.relative_to(root)}): {problem}")
    return problems


def start_check(text_dir) -> None:
    """What every run checks of a text's results before any job (`check_products`): raise ReceiptError
    naming what is missing or cut short, and the command that sets it aside."""
    problems = check_products(text_dir)
    if problems:
        listed = "\n  ".join(problems[:20]) + (f"\n  … and {len(problems) - 20} more" if len(problems) > 20 else "")
        raise ReceiptError(f"{text_dir}: files that earlier jobs made are missing or damaged:\n  {listed}\n"
                           f"Run `machine-imagination repair {text_dir}` to set them aside; the next run makes "
                           "them again.")


def repair(text_dir) -> list[str]:
    """What `machine-imagination repair` does: every receipt whose products are not all there at their
    recorded size, and every latents file among them that does not load, set aside (the damaged files
    renamed to `<name>.damaged`, the receipts removed), so that the next run makes them again; one
    message per receipt."""
    from .latents import set_aside

    root = Path(text_dir)
    messages = []
    for receipt_path, receipt, _ in text_receipts(root):
        if receipt is None:
            receipt_path.unlink()
            messages.append(f"{receipt_path.relative_to(root)}: unreadable, removed")
            continue
        bad = []
        for name, record in receipt.products.items():
            path = root / name
            problem = product_problem(root, name, record)
            if problem == "missing":
                bad.append(f"{name} missing")
                continue
            if problem or (is_latents(path) and not loads(path)):
                set_aside(path, f"{name} is damaged")
                bad.append(f"{name} damaged, set aside as {path.name}.damaged")
        if bad:
            receipt_path.unlink()
            messages.append(f"{receipt_path.relative_to(root)} removed: " + "; ".join(bad))
    return messages


def is_latents(path: Path) -> bool:
    """A latents file (a candidate's or a kept one), not a search's stored iterations (`-steps.npz`)."""
    return path.suffix == ".npz" and not path.name.endswith("-steps.npz")


def loads(path: Path) -> bool:
    from .latents import Latents, LatentsError

    try:
        Latents.load(path)
    except LatentsError:
        return False
    return True
