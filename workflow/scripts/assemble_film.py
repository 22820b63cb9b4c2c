"""Snakemake script: join the segments into results/<text>/film.mp4."""
from machine_imagination.files import job_log
from machine_imagination.film.jobs import film_job

with job_log(snakemake.log[0]):
    film_job(snakemake.config, list(snakemake.input.segments), snakemake.params.captions, snakemake.output.film,
             snakemake.output.record, subtitles=snakemake.input.subtitles, reading_wav=snakemake.input.get("reading"),
             timing_path=snakemake.input.get("timing"), sound=snakemake.params.sound)
