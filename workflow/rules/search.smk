# The searches: one job per block of search.sentences_per_job consecutive sentences (a rule per block,
# generated below from the texts), which loads the models once and searches each sentence once per
# candidate (search.candidates), writing every candidate under results/{text}/candidates/{index}/ as a
# job of one sentence would. The sentences reach the job as parameters, not through the text file, so
# editing one sentence reruns only its block (Snakemake's params rerun trigger), which searches only
# that sentence again: the others' files are there, from the same search. A small local job per
# sentence then keeps one candidate as the sentence's latents and image: the best judge score, or the
# artist's pick (the overrides table's `candidate` column, a parameter of that job only, so that a pick
# searches nothing again). With search.story, sentence i+1 starts from sentence i's kept latents, so the
# blocks form a chain. A profile's set-resources for `search_prompt` apply to every search job.


localrules:
    keep_candidate,


for block, texts in blocks(config["search"]["sentences_per_job"]).items():

    rule:
        name:
            f"search_{block_name(block).replace('-', '_')}"
        input:
            models=model_inputs,
            previous=previous_latents(block),
        # update(): Snakemake keeps the files when the job runs again (and restores them if it fails), so
        # that a block run for one edited sentence keeps the others' searches (search.job.searched_before).
        output:
            latents=update(candidate_files(".npz", block)),
            images=update(candidate_files(".png", block)),
            histories=update(candidate_files(".tsv", block)),
            plots=update(candidate_files("-history.png", block)),
            progress=update(progress_outputs(candidate_files(".mp4", block))),
        wildcard_constraints:
            text=texts_pattern(texts),
        log:
            f"logs/{{text}}/search/{block_name(block)}.log",
        benchmark:
            f"benchmarks/{{text}}/search/{block_name(block)}.tsv"
        params:
            sentences=block_searches(block),
            checkpoints=f"results/{{text}}/checkpoints",
            results=f"results/{{text}}",  # the job records its sentences' times there (timings/)
            settings={key: config[key] for key in ("generator", "clip", "search", "judge")},
        threads: config["search"]["threads"]
        resources:
            **stage_resources(
                "search_prompt",
                runtime=block_runtime(60 * config["search"]["candidates"], block),
                mem_mb=16000,
                gpu=gpus("search"),
            ),
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
