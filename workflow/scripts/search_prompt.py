"""Snakemake script: search a block of sentences' latents, each once per candidate."""
from pathlib import Path

from machine_imagination.files import job_log
from machine_imagination.search.candidates import SearchFiles
from machine_imagination.search.job import SentenceSearch, search_block_job

out, sentences = snakemake.output, snakemake.params.sentences
per_sentence = len(out.latents) // len(sentences)  # the outputs list each sentence's candidates in turn
files = [
    SearchFiles(*paths, progress=out.progress[k] if out.progress else None)
    for k, paths in enumerate(zip(out.latents, out.images, out.histories, out.plots))
]
with job_log(snakemake.log[0]):
    search_block_job(
        snakemake.config,
        text_name=snakemake.wildcards.text,
        sentences=[
            SentenceSearch(**sentence, candidates=files[n * per_sentence:(n + 1) * per_sentence],
                           checkpoint=Path(snakemake.params.checkpoints) / f"{sentence['index']:04d}.pkl")
            for n, sentence in enumerate(sentences)
        ],
        previous_latents=snakemake.input.previous or None,
        threads=snakemake.threads,
        text_dir=snakemake.params.results,
    )
