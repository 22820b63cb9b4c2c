"""Snakemake script (rule progress): each search's progress video, from the iterations it kept."""
from pathlib import Path

from machine_imagination.files import job_log
from machine_imagination.pipeline import Block
from machine_imagination.receipts import ReceiptTarget
from machine_imagination.search.candidates import SearchFiles, candidate_files
from machine_imagination.search.progress import SentenceProgress, progress_block_job

config, root = snakemake.config, Path("results", snakemake.wildcards.text)
block = Block.parse(snakemake.wildcards.block)
count = config["search"]["candidates"]
with job_log(snakemake.log[0]):
    progress_block_job(config, [SentenceProgress(i, candidate_files(root, i, count, progress=True),
                                                 SearchFiles.of_sentence(root, i, progress=True))
                                for i in block.indices],
                       threads=snakemake.threads, text_dir=root,
                       receipt=ReceiptTarget(Path(snakemake.output[0]), "progress", block.name, {}))
