"""Snakemake script: search one sentence's latents."""
from machine_imagination.files import job_log
from machine_imagination.search.job import search_job

with job_log(snakemake.log[0]):
    search_job(
        snakemake.config,
        text_name=snakemake.wildcards.text,
        index=int(snakemake.wildcards.index),
        sentence=snakemake.params.sentence,
        prompt_parts=snakemake.params.parts,
        seed=snakemake.params.seed,
        latents_path=snakemake.output.latents,
        image_path=snakemake.output.image,
        history_path=snakemake.output.history,
        plot_path=snakemake.output.plot,
        progress_path=snakemake.output.progress or None,
        previous_latents=snakemake.input.previous or None,
        search_overrides=snakemake.params.overrides,
        checkpoint_path=snakemake.params.checkpoint,
        threads=snakemake.threads,
    )
