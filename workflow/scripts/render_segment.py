"""Snakemake script: render and encode a block of film segments."""
from machine_imagination.files import job_log
from machine_imagination.film.jobs import SegmentRender, segment_block_job

with job_log(snakemake.log[0]):
    segment_block_job(
        snakemake.config,
        [SegmentRender(**segment, segment=path) for segment, path in zip(snakemake.params.segments, snakemake.output)],
        timing_path=snakemake.input.get("timing"),
        threads=snakemake.threads,
        text_dir=snakemake.params.results,
    )
