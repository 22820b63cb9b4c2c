"""Snakemake script: join the segments into results/<text>/film.mp4."""
import sys

from machine_imagination.pipeline import film_job

with open(snakemake.log[0], "w") as log:
    sys.stdout = sys.stderr = log
    film_job(snakemake.config, list(snakemake.input.segments), snakemake.params.captions, snakemake.output.film,
             snakemake.output.record, subtitles=snakemake.input.subtitles)
