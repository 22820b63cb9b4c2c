# The film: one segment per sentence (its captioned image held, then the walk to the next image),
# optional title and end cards, joined without re-encoding. A segment depends only on its own and the
# next sentence's latents, so an edited sentence re-renders just the segments that touch it.


localrules:
    render_card,
    write_subtitles,
    assemble_film,


rule render_segment:
    input:
        latents="results/{text}/latents/{index}.npz",
        next_latents=next_latents,
        generator=generator_inputs,
    output:
        "results/{text}/segments/{index}.mp4",
    log:
        "logs/{text}/segments/{index}.log",
    benchmark:
        "benchmarks/{text}/segments/{index}.tsv"
    params:
        caption=lambda wildcards: prompt_of(wildcards).sentence,
        hold=lambda wildcards: plan_of(wildcards.text).holds[int(wildcards.index)],
        settings=config["film"],
    threads: 2
    resources:
        runtime=30,
        mem_mb=8000,
        gpu=gpus("film"),
    conda:
        "../../environment.yml"
    script:
        "../scripts/render_segment.py"


rule render_card:
    input:
        generator=generator_inputs,
    output:
        "results/{text}/segments/{card}.mp4",
    wildcard_constraints:
        card="title|end",
    log:
        "logs/{text}/segments/{card}.log",
    params:
        text=lambda wildcards: title_of(wildcards.text) if wildcards.card == "title" else config["film"]["credits"],
        frames=lambda wildcards: plan_of(wildcards.text).title or plan_of(wildcards.text).end,
        settings=config["film"],
    threads: 1
    resources:
        runtime=5,
        mem_mb=1000,
    conda:
        "../../environment.yml"
    script:
        "../scripts/render_card.py"


rule write_subtitles:
    output:
        report(
            "results/{text}/film.srt",
            caption="../report/subtitles.rst",
            category="{text}",
            subcategory="Film",
        ),
    log:
        "logs/{text}/write_subtitles.log",
    params:
        captions=lambda wildcards: [p.sentence for p in PROMPTS[wildcards.text]],
        settings=config["film"],
    threads: 1
    resources:
        runtime=5,
        mem_mb=500,
    conda:
        "../../environment.yml"
    script:
        "../scripts/write_subtitles.py"


rule assemble_film:
    input:
        segments=film_segments,
        subtitles="results/{text}/film.srt",
    output:
        film=report(
            "results/{text}/film.mp4", caption="../report/film.rst", category="{text}", subcategory="Film"
        ),
        record="results/{text}/film.json",
    log:
        "logs/{text}/assemble_film.log",
    params:
        captions=lambda wildcards: [p.sentence for p in PROMPTS[wildcards.text]],
    threads: 1
    resources:
        runtime=10,
        mem_mb=1000,
    conda:
        "../../environment.yml"
    script:
        "../scripts/assemble_film.py"
