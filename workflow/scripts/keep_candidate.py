"""Snakemake script: keep one of a sentence's candidates (the best judge score, or the artist's pick)."""
from machine_imagination.files import job_log
from machine_imagination.search.candidates import SearchFiles, keep_candidate

source, out = snakemake.input, snakemake.output
with job_log(snakemake.log[0]):
    keep_candidate(
        [
            SearchFiles(*files, progress=source.progress[k] if source.progress else None)
            for k, files in enumerate(zip(source.latents, source.images, source.histories, source.plots))
        ],
        SearchFiles(out.latents, out.image, out.history, out.plot, progress=out.progress[0] if out.progress else None),
        pick=snakemake.params.pick,
    )
