"""Snakemake script (rule keep): each sentence of a block keeps one of its candidates (the best judge
score, or the artist's pick)."""
from pathlib import Path

from machine_imagination.files import job_log
from machine_imagination.pipeline import Block, block_items
from machine_imagination.receipts import ReceiptTarget
from machine_imagination.search.candidates import SearchFiles, SentenceKeep, candidate_files, keep_block_job

config, root = snakemake.config, Path("results", snakemake.wildcards.text)
block = Block.parse(snakemake.wildcards.block)
count = config["search"]["candidates"]
with job_log(snakemake.log[0]):
    keep_block_job([SentenceKeep(item["index"], candidate_files(root, item["index"], count),
                                 SearchFiles.of_sentence(root, item["index"]), item["pick"])
                    for item in block_items(snakemake.params)],
                   text_dir=root,
                   receipt=ReceiptTarget(Path(snakemake.output[0]), "keep", block.name, dict(snakemake.params.items())))
