"""The report stage's jobs (workflow/rules/report.smk): a text's contact sheet, candidates sheet,
summary table and manifest. (`snakemake --report` builds the HTML report from these and the other stages' outputs.)"""
from __future__ import annotations

from ..latents import Candidates, Latents
from .candidates_sheet import CandidateRow, candidates_sheet
from .contact_sheet import contact_sheet
from .manifest import write_manifest
from .summary import summary_table


def contact_sheet_job(config: dict, images: list, captions: list[str], path, first: int = 0) -> None:
    """A contact sheet (or a page of one, its first sentence `first`)."""
    contact_sheet(images, captions, path, font=config["film"]["caption"]["font"], first=first)


def candidates_sheet_job(config: dict, kept_latents: list, candidate_images: list, path) -> None:
    """kept_latents: each sentence's kept latents file; candidate_images: each sentence's candidates' images."""
    rows = []
    for latents_path, images in zip(kept_latents, candidate_images):
        latents = Latents.load(latents_path)
        choice = latents.candidates or Candidates.among([latents])  # one candidate: the latents are it
        rows.append(CandidateRow(latents.sentence.index, latents.sentence.sentence, list(images), choice,
                                 latents.race))
    candidates_sheet(rows, path, font=config["film"]["caption"]["font"])


def summary_job(latents: list, path) -> None:
    summary_table(latents, path)


def manifest_job(config: dict, text_name: str, root) -> None:
    write_manifest(root, config, text_name)
