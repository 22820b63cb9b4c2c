"""Snakemake script (rule render_card): encode the title or end card."""
from machine_imagination.files import job_log
from machine_imagination.film.jobs import card_job

card = snakemake.params.card
with job_log(snakemake.log[0]):
    card_job(snakemake.config, text=card["text"], frames=card["frames"], segment_path=snakemake.output[0])
