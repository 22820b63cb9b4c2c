"""Snakemake script: search one sentence's latents, once per candidate."""
from machine_imagination.files import job_log
from machine_imagination.search.candidates import SearchFiles
from machine_imagination.search.job import search_job

out = snakemake.output
with job_log(snakemake.log[0]):
    search_job(
        snakemake.config,
        text_name=snakemake.wildcards.text,
        index=int(snakemake.wildcards.index),
        sentence=snakemake.params.sentence,
        prompt_parts=snakemake.params.parts,
        seed=snakemake.params.seed,
        candidates=[
            SearchFiles(*files, progress=out.progress[k] if out.progress else None)
            for k, files in enumerate(zip(out.latents, out.images, out.histories, out.plots))
        ],
        previous_latents=snakemake.input.previous or None,
        search_overrides=snakemake.params.overrides,
        checkpoint_path=snakemake.params.checkpoint,
        threads=snakemake.threads,
    )
