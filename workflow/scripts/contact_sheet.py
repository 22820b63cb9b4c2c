"""Snakemake script (rule contact_sheet): write results/<text>/contact_sheet.png (or one page of it)."""
from pathlib import Path

from machine_imagination.files import job_log
from machine_imagination.report.jobs import contact_sheet_job

root, captions = Path("results", snakemake.wildcards.text), snakemake.params.captions
with job_log(snakemake.log[0]):
    contact_sheet_job(snakemake.config, [root / "images" / f"{i:04d}.png" for i in captions], list(captions.values()),
                      snakemake.output[0], first=min(captions))
