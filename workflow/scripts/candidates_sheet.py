"""Snakemake script (rule candidates_sheet): write results/<text>/candidates.png (or one page of it)."""
from pathlib import Path

from machine_imagination.files import job_log
from machine_imagination.report.jobs import candidates_sheet_job
from machine_imagination.search.candidates import candidate_files

root, count = Path("results", snakemake.wildcards.text), snakemake.config["search"]["candidates"]
indices = snakemake.params.indices
with job_log(snakemake.log[0]):
    candidates_sheet_job(snakemake.config, [root / "latents" / f"{i:04d}.npz" for i in indices],
                         [[f.image for f in candidate_files(root, i, count)] for i in indices], snakemake.output[0])
