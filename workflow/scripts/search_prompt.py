"""Snakemake script (rule search): search a block of sentences' latents, each once per candidate."""
from pathlib import Path

from machine_imagination.files import job_log
from machine_imagination.pipeline import Block, block_items
from machine_imagination.receipts import ReceiptTarget
from machine_imagination.search.candidates import candidate_files
from machine_imagination.search.job import SentenceSearch, search_block_job

config, root = snakemake.config, Path("results", snakemake.wildcards.text)
block = Block.parse(snakemake.wildcards.block)
sentences = [SentenceSearch(**item, candidates=candidate_files(root, item["index"], config["search"]["candidates"]),
                            checkpoint=root / "checkpoints" / f"{item['index']:04d}.pkl")
             for item in block_items(snakemake.params)]
previous = root / "latents" / f"{block.first - 1:04d}.npz" if snakemake.input.previous else None
with job_log(snakemake.log[0]):
    search_block_job(config, text_name=snakemake.wildcards.text, sentences=sentences, previous_latents=previous,
                     threads=snakemake.threads, text_dir=root,
                     receipt=ReceiptTarget(Path(snakemake.output[0]), "search", block.name, dict(snakemake.params.items())))
