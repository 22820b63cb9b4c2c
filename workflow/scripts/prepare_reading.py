"""Snakemake script: the reading the film follows (results/<text>/audio/): a recording decoded, or
the sentences narrated by espeak-ng."""
from machine_imagination.files import job_log
from machine_imagination.film.jobs import reading_job

with job_log(snakemake.log[0]):
    reading = reading_job(snakemake.config, snakemake.params.sentences, wav_path=snakemake.output.reading,
                          timing_path=snakemake.output.timing, recording=snakemake.input.get("reading"),
                          timing=snakemake.input.get("timing"))
    print(f"{len(reading.cues)} cues, {reading.duration:.3f} s of reading")
