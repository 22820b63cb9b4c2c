# One search job per sentence. The sentence reaches the job as a parameter, not through the text
# file, so editing one sentence reruns only its own search (Snakemake's params rerun trigger).


rule search_prompt:
    input:
        model_inputs,
    output:
        latents="results/{text}/latents/{index}.npz",
        image="results/{text}/images/{index}.png",
    log:
        "logs/{text}/search/{index}.log",
    benchmark:
        "benchmarks/{text}/search/{index}.tsv"
    params:
        sentence=lambda wildcards: prompt_of(wildcards).sentence,
        prompt=lambda wildcards: prompt_of(wildcards).prompt,
        seed=lambda wildcards: prompt_of(wildcards).seed,
        settings={key: config[key] for key in ("generator", "clip", "search")},
    threads: config["search"]["threads"]
    resources:
        runtime=60,
        mem_mb=16000,
        gpu=search_gpus(),
    conda:
        "../../environment.yml"
    script:
        "../scripts/search_prompt.py"
