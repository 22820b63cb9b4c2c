# One search job per sentence. The sentence reaches the job as a parameter, not through the text
# file, so editing one sentence reruns only its own search (Snakemake's params rerun trigger).
# With search.story, sentence i+1 starts from sentence i's latents, so the jobs form a chain.


rule search_prompt:
    input:
        models=model_inputs,
        previous=previous_latents,
    output:
        latents="results/{text}/latents/{index}.npz",
        image=report(
            "results/{text}/images/{index}.png",
            caption="../report/image.rst",
            category="{text}",
            subcategory="Sentences",
            labels={"sentence": "{index}", "figure": "image"},
        ),
        history="results/{text}/history/{index}.tsv",
        plot=report(
            "results/{text}/history/{index}.png",
            caption="../report/history.rst",
            category="{text}",
            subcategory="Sentences",
            labels={"sentence": "{index}", "figure": "search history"},
        ),
        progress=progress_outputs("results/{text}/progress/{index}.mp4"),
    log:
        "logs/{text}/search/{index}.log",
    benchmark:
        "benchmarks/{text}/search/{index}.tsv"
    params:
        sentence=lambda wildcards: prompt_of(wildcards).sentence,
        parts=lambda wildcards: [list(part) for part in prompt_of(wildcards).parts],
        seed=lambda wildcards: prompt_of(wildcards).seed,
        overrides=lambda wildcards: dict(prompt_of(wildcards).search),
        checkpoint=lambda wildcards: f"results/{wildcards.text}/checkpoints/{wildcards.index}.pkl",
        settings={key: config[key] for key in ("generator", "clip", "search", "judge")},
    threads: config["search"]["threads"]
    resources:
        runtime=60,
        mem_mb=16000,
        gpu=gpus("search"),
    conda:
        "../../environment.yml"
    script:
        "../scripts/search_prompt.py"
