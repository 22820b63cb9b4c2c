"""Snakemake script: render and encode one film segment."""
from machine_imagination.files import job_log
from machine_imagination.film.jobs import segment_job

# The last segment walks nowhere (unless the film loops): its next_latents input is an empty list.
following = snakemake.input.next_latents
following = following if isinstance(following, str) else (following[0] if following else None)

with job_log(snakemake.log[0]):
    frames = segment_job(
        snakemake.config,
        index=int(snakemake.wildcards.index),
        timing_path=snakemake.input.get("timing"),
        latents_path=snakemake.input.latents,
        next_latents_path=following,
        caption=snakemake.params.caption,
        hold=snakemake.params.hold,
        segment_path=snakemake.output[0],
        threads=snakemake.threads,
    )
    print(f"{frames} frames written to {snakemake.output[0]}")
