"""Snakemake script: join the segments into results/<text>/film.mp4."""
from machine_imagination.pipeline import film_job, job_log

with job_log(snakemake.log[0]):
    film_job(snakemake.config, list(snakemake.input.segments), snakemake.params.captions, snakemake.output.film,
             snakemake.output.record, subtitles=snakemake.input.subtitles)
