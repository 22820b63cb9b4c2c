# The report: each text's results at a glance (contact sheet, summary table) and what made them (the
# manifest, written last, with a SHA-256 of every other output). `snakemake --report report.html`
# gathers these with the film and every sentence's image and search plot (workflow/report/*.rst).
from dataclasses import asdict

from machine_imagination.report.review import ReviewSettings


localrules:
    candidates_sheet,
    review_page,
    contact_sheet,
    summarize,
    tabulate_timings,
    write_manifest,


rule contact_sheet:
    input:
        lambda wildcards: expand(
            "results/{text}/images/{index}.png", text=wildcards.text, index=indices(wildcards.text)
        ),
    output:
        report(
            "results/{text}/contact_sheet.png",
            caption="../report/contact_sheet.rst",
            category="{text}",
            subcategory="Overview",
        ),
    log:
        "logs/{text}/contact_sheet.log",
    params:
        captions=lambda wildcards: [p.sentence for p in PROMPTS[wildcards.text]],
    threads: 1
    resources:
        runtime=5,
        mem_mb=2000,
    conda:
        "../../environment.yml"
    script:
        "../scripts/contact_sheet.py"


rule summarize:
    input:
        lambda wildcards: expand(
            "results/{text}/latents/{index}.npz", text=wildcards.text, index=indices(wildcards.text)
        ),
    output:
        report(
            "results/{text}/summary.tsv",
            caption="../report/summary.rst",
            category="{text}",
            subcategory="Overview",
        ),
    log:
        "logs/{text}/summarize.log",
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


rule candidates_sheet:
    input:
        latents=lambda wildcards: expand(
            "results/{text}/latents/{index}.npz", text=wildcards.text, index=indices(wildcards.text)
        ),
        images=lambda wildcards: expand(
            "results/{text}/candidates/{index}/{k}.png",
            text=wildcards.text,
            index=indices(wildcards.text),
            k=range(config["search"]["candidates"]),
        ),
    output:
        report(
            "results/{text}/candidates.png",
            caption="../report/candidates.rst",
            category="{text}",
            subcategory="Overview",
        ),
    log:
        "logs/{text}/candidates_sheet.log",
    threads: 1
    resources:
        runtime=5,
        mem_mb=2000,
    conda:
        "../../environment.yml"
    script:
        "../scripts/candidates_sheet.py"


# What each sentence's search and segment took, as the jobs recorded it (machine_imagination.status):
# a measurement, so outside the manifest (which skips timings/) and after every segment.
rule tabulate_timings:
    input:
        latents=lambda wildcards: expand(
            "results/{text}/latents/{index}.npz", text=wildcards.text, index=indices(wildcards.text)
        ),
        segments=film_segments,
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
# per sentence in review/. It reads per-sentence files, the film and the text's overrides table (an input,
# so that the page shows the table as it is); the settings it edits against are its params.
rule review_page:
    input:
        prompts="results/{text}/prompts.tsv",
        latents=lambda wildcards: expand(
            "results/{text}/latents/{index}.npz", text=wildcards.text, index=indices(wildcards.text)
        ),
        plots=lambda wildcards: expand(
            "results/{text}/history/{index}.png", text=wildcards.text, index=indices(wildcards.text)
        ),
        takes=lambda wildcards: expand(
            "results/{text}/candidates/{index}/{k}{suffix}",
            text=wildcards.text,
            index=indices(wildcards.text),
            k=range(config["search"]["candidates"]),
            suffix=(".png", "-history.png"),
        ),
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
