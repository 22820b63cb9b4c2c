"""Snakemake script: write results/<text>/review.html and its thumbnails (results/<text>/review/)."""
from pathlib import Path

from machine_imagination.files import job_log
from machine_imagination.report.review import ReviewSettings, review_page_job

with job_log(snakemake.log[0]):
    review = review_page_job(ReviewSettings(**snakemake.params.settings), snakemake.output.page,
                             Path(snakemake.output.thumbnails))
    print(f"{len(review.sentences)} sentences -> {snakemake.output.page}")
