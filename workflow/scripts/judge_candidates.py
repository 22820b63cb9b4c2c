"""Snakemake script (rule judge): score every candidate of a block's sentences with the judge."""
from pathlib import Path

from machine_imagination.files import job_log
from machine_imagination.pipeline import Block
from machine_imagination.receipts import ReceiptTarget
from machine_imagination.search.candidates import candidate_files
from machine_imagination.search.judge import judge_block_job

config, root = snakemake.config, Path("results", snakemake.wildcards.text)
block = Block.parse(snakemake.wildcards.block)
with job_log(snakemake.log[0]):
    judge_block_job(config, [[f.latents for f in candidate_files(root, i, config["search"]["candidates"])]
                             for i in block.indices],
                    threads=snakemake.threads, text_dir=root,
                    receipt=ReceiptTarget(Path(snakemake.output[0]), "judge", block.name, dict(snakemake.params.items())))
