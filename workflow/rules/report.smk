# The report: each text's results at a glance (contact sheet, candidates sheet, summary table) and what
# made them (the manifest, written last, with a SHA-256 of every other output). A text of more than a
# hundred sentences gets its sheets in pages of a hundred (contact_sheet-001.png, …). `snakemake --report
# report.html` gathers these with the film and its subtitles (workflow/report/*.rst).
from dataclasses import asdict

from machine_imagination.report.review import ReviewSettings


localrules:
    candidates_sheet,
    review_page,
    contact_sheet,
    summarize,
    tabulate_timings,
    write_manifest,


wildcard_constraints:
    page=r"(-\d{3})?",


rule contact_sheet:
    input:
        page_kept,
    output:
        report(
            "results/{text}/contact_sheet{page}.png",
            caption="../report/contact_sheet.rst",
            category="{text}",
            subcategory="Overview",
        ),
    log:
        "logs/{text}/contact_sheet{page}.log",
    params:
        captions=lambda wildcards: {i: PROMPTS[wildcards.text][i].sentence
                                    for i in JOBS[wildcards.text].page_indices(wildcards.page)},
    threads: 1
    resources:
        runtime=5,
        mem_mb=2000,
    conda:
        "../../environment.yml"
    script:
        "../scripts/contact_sheet.py"


rule candidates_sheet:
    input:
        page_kept,
    output:
        report(
            "results/{text}/candidates{page}.png",
            caption="../report/candidates.rst",
            category="{text}",
            subcategory="Overview",
        ),
    log:
        "logs/{text}/candidates_sheet{page}.log",
    params:
        indices=lambda wildcards: list(JOBS[wildcards.text].page_indices(wildcards.page)),
    threads: 1
    resources:
        runtime=5,
        mem_mb=2000,
    conda:
        "../../environment.yml"
    script:
        "../scripts/candidates_sheet.py"


rule summarize:
    input:
        lambda wildcards: JOBS[wildcards.text].all_receipts("keep"),
    output:
        report(
            "results/{text}/summary.tsv",
            caption="../report/summary.rst",
            category="{text}",
            subcategory="Overview",
        ),
    log:
        "logs/{text}/summarize.log",
    params:
        sentences=lambda wildcards: len(PROMPTS[wildcards.text]),
    threads: 1
    resources:
        runtime=5,
        mem_mb=1000,
    conda:
        "../../environment.yml"
    script:
        "../scripts/summarize.py"


rule write_manifest:
    input:
        outputs=lambda wildcards: outputs_of(wildcards.text),
        prompts="results/{text}/prompts.tsv",
    output:
        "results/{text}/manifest.json",
    log:
        "logs/{text}/write_manifest.log",
    threads: 1
    resources:
        runtime=10,
        mem_mb=1000,
    conda:
        "../../environment.yml"
    script:
        "../scripts/write_manifest.py"


# What each sentence's search and segment took, as the jobs recorded it (machine_imagination.status):
# a measurement, so outside the manifest (which skips timings/) and after every segment.
rule tabulate_timings:
    input:
        kept=lambda wildcards: JOBS[wildcards.text].all_receipts("keep"),
        rendered=lambda wildcards: JOBS[wildcards.text].all_receipts("render"),
    output:
        report(
            "results/{text}/timings/timings.tsv",
            caption="../report/timings.rst",
            category="{text}",
            subcategory="Overview",
        ),
    log:
        "logs/{text}/tabulate_timings.log",
    params:
        results="results/{text}",
    threads: 1
    resources:
        runtime=5,
        mem_mb=1000,
    conda:
        "../../environment.yml"
    script:
        "../scripts/tabulate_timings.py"


# The review page (machine_imagination.report.review): every sentence's takes with their judge scores and
# losses, the chart of judge scores in reading order, the film with its subtitles, and the editor of the
# overrides table; it opens from disk, or served by `machine-imagination review`. One strip of thumbnails
# per sentence in review/. It reads the per-sentence files that the search, judge and keep receipts list,
# the film and the text's overrides table (an input, so that the page shows the table as it is); the
# settings it edits against are its params.
rule review_page:
    input:
        prompts="results/{text}/prompts.tsv",
        kept=lambda wildcards: JOBS[wildcards.text].all_receipts("keep"),
        takes=lambda wildcards: JOBS[wildcards.text].all_receipts("search") + JOBS[wildcards.text].all_receipts("judge"),
        film="results/{text}/film.mp4",
        subtitles="results/{text}/film.srt",
        overrides=lambda wildcards: config["overrides"].get(wildcards.text, []),
    output:
        page="results/{text}/review.html",
        thumbnails=directory("results/{text}/review"),
    log:
        "logs/{text}/review_page.log",
    params:
        settings=lambda wildcards: asdict(ReviewSettings.from_config(config, wildcards.text)),
    threads: 1
    resources:
        runtime=10,
        mem_mb=2000,
    conda:
        "../../environment.yml"
    script:
        "../scripts/review_page.py"
