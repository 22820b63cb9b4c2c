"""Snakemake script: write results/<text>/film.srt."""
import sys

from machine_imagination.pipeline import subtitles_job

with open(snakemake.log[0], "w") as log:
    sys.stdout = sys.stderr = log
    subtitles_job(snakemake.config, snakemake.params.captions, snakemake.output[0])
