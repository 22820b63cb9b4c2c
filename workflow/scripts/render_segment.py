"""Snakemake script (rule render): render and encode a block of film segments."""
from pathlib import Path

from machine_imagination.files import job_log
from machine_imagination.film.jobs import SegmentRender, segment_block_job
from machine_imagination.pipeline import block_items
from machine_imagination.receipts import ReceiptTarget

root = Path("results", snakemake.wildcards.text)
with job_log(snakemake.log[0]):
    segment_block_job(
        snakemake.config,
        [SegmentRender(**segment, segment=root / "segments" / f"{segment['index']:04d}.mp4")
         for segment in block_items(snakemake.params)],
        timing_path=snakemake.input.timing or None,
        threads=snakemake.threads,
        text_dir=root,
        receipt=ReceiptTarget(Path(snakemake.output[0]), "render", snakemake.wildcards.block,
                              dict(snakemake.params.items())),
    )
