"""Snakemake script (rule write_subtitles): write results/<text>/film.srt."""
from machine_imagination.files import job_log
from machine_imagination.film.jobs import subtitles_job

with job_log(snakemake.log[0]):
    subtitles_job(snakemake.config, snakemake.params.subtitles["captions"], snakemake.output[0],
                  timing_path=snakemake.input.get("timing"))
