"""The report stage's jobs (workflow/rules/report.smk): a text's contact sheet, summary table and
manifest. (`snakemake --report` builds the HTML report from these and the other stages' outputs.)"""
from __future__ import annotations

from .contact_sheet import contact_sheet
from .manifest import write_manifest
from .summary import summary_table


def contact_sheet_job(config: dict, images: list, captions: list[str], path) -> None:
    contact_sheet(images, captions, path, font=config["film"]["caption"]["font"])


def summary_job(latents: list, path) -> None:
    summary_table(latents, path)


def manifest_job(config: dict, text_name: str, root) -> None:
    write_manifest(root, config, text_name)
