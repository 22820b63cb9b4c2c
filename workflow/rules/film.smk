# The film: one segment per sentence (its captioned image held, then the walk to the next image),
# joined without re-encoding. A segment depends only on its own and the next sentence's latents, so
# an edited sentence re-renders just the segments that touch it.


localrules:
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
        settings=config["film"],
    threads: 2
    resources:
        runtime=30,
        mem_mb=8000,
        gpu=film_gpus(),
    conda:
        "../../environment.yml"
    script:
        "../scripts/render_segment.py"


rule write_subtitles:
    output:
        "results/{text}/film.srt",
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
        lambda wildcards: expand(
            "results/{text}/segments/{index}.mp4", text=wildcards.text, index=indices(wildcards.text)
        ),
    output:
        film="results/{text}/film.mp4",
        record="results/{text}/film.json",
    log:
        "logs/{text}/assemble_film.log",
    threads: 1
    resources:
        runtime=10,
        mem_mb=1000,
    conda:
        "../../environment.yml"
    script:
        "../scripts/assemble_film.py"
