"""Snakemake script (rule assemble_film): join the segments into results/<text>/film.mp4."""
from pathlib import Path

from machine_imagination.files import job_log
from machine_imagination.film.jobs import film_job

root, captions = Path("results", snakemake.wildcards.text), snakemake.params.captions
segments = [*snakemake.input.title, *(root / "segments" / f"{i:04d}.mp4" for i in range(len(captions))),
            *snakemake.input.end]
with job_log(snakemake.log[0]):
    film_job(snakemake.config, segments, captions, snakemake.output.film, snakemake.output.record,
             subtitles=snakemake.input.subtitles, reading_wav=snakemake.input.get("reading"),
             timing_path=snakemake.input.get("timing"), sound=snakemake.params.sound)
