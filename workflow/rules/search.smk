# One search job per sentence: it searches the sentence once per candidate (search.candidates, the
# models loaded once) and writes every candidate under results/{text}/candidates/{index}/. The sentence
# reaches the job as a parameter, not through the text file, so editing one sentence reruns only its
# own search (Snakemake's params rerun trigger). A small local job then keeps one candidate as the
# sentence's latents and image: the best judge score, or the artist's pick (the overrides table's
# `candidate` column, a parameter of that job only, so that a pick searches nothing again).
# With search.story, sentence i+1 starts from sentence i's kept latents, so the jobs form a chain.


localrules:
    keep_candidate,


rule search_prompt:
    input:
        models=model_inputs,
        previous=previous_latents,
    output:
        latents=candidate_files(".npz"),
        images=candidate_files(".png"),
        histories=candidate_files(".tsv"),
        plots=candidate_files("-history.png"),
        progress=progress_outputs(candidate_files(".mp4")),
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
        runtime=60 * config["search"]["candidates"],
        mem_mb=16000,
        gpu=gpus("search"),
    conda:
        "../../environment.yml"
    script:
        "../scripts/search_prompt.py"


rule keep_candidate:
    input:
        latents=candidate_files(".npz"),
        images=candidate_files(".png"),
        histories=candidate_files(".tsv"),
        plots=candidate_files("-history.png"),
        progress=progress_outputs(candidate_files(".mp4")),
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
        progress=progress_outputs(["results/{text}/progress/{index}.mp4"]),
    log:
        "logs/{text}/keep/{index}.log",
    params:
        pick=lambda wildcards: prompt_of(wildcards).candidate,
    threads: 1
    resources:
        runtime=5,
        mem_mb=1000,
    conda:
        "../../environment.yml"
    script:
        "../scripts/keep_candidate.py"
