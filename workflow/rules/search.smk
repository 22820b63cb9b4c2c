# The searches, then their judging, then the keeping of one candidate per sentence: one job per block of
# search.sentences_per_job consecutive sentences and stage ({block}: 0000-0024, 0025-0049, …), each
# writing its sentences' files (named by sentence index) and a receipt that lists them
# (results/{text}/receipts/<stage>/{block}.json). The params of each job are what its result depends on
# (machine_imagination.pipeline), so that Snakemake runs exactly the jobs an edit affects:
#   search    the block's sentences, each once per candidate (search.candidates), the models loaded once:
#             candidates/{index}/{k}.npz|png|tsv, {k}-history.png and {k}-steps.npz (its iterations).
#             An edited sentence reruns its block's job, which searches only that sentence again: the
#             others' files are there, from the same search (search.job.searched_before).
#   judge     every candidate scored by the held-out judge (judge:), rendered once: {k}-judge.json. A
#             change of judge: judges again and searches nothing.
#   keep      each sentence's best-judged candidate, or the artist's pick (overrides `candidate`), becomes
#             its latents/{index}.npz, images/{index}.png, history/{index}.tsv|png. A pick runs this alone.
#   progress  with search.progress_video, each search's video from its iterations (candidates/{index}/
#             {k}.mp4 and progress/{index}.mp4), without searching again.
# With search.story, sentence i+1 starts from sentence i's kept latents, so the blocks form a chain.
# A profile's set-resources name these rules (profiles/slurm: search, judge and progress on a GPU).


localrules:
    keep,


rule search:
    input:
        models=model_inputs(judge=RACING or (config["search"]["story"] and config["search"]["candidates"] > 1)),
        previous=lambda wildcards: previous_block_kept(wildcards),
    output:
        receipt("search"),
    log:
        "logs/{text}/search/{block}.log",
    benchmark:
        "benchmarks/{text}/search/{block}.tsv"
    params:
        **block_params("search_params"),
    threads: config["search"]["threads"]
    resources:
        runtime=block_runtime(60 * search_work(config)),
        mem_mb=16000,
        gpu=gpus("search"),
    conda:
        "../../environment.yml"
    script:
        "../scripts/search_prompt.py"


rule judge:
    input:
        models=model_inputs(judge=True),
        searched=receipt("search"),
    output:
        receipt("judge"),
    log:
        "logs/{text}/judge/{block}.log",
    benchmark:
        "benchmarks/{text}/judge/{block}.tsv"
    params:
        **block_params("judge_params"),
    threads: config["search"]["threads"]
    resources:
        runtime=block_runtime(5 * config["search"]["candidates"]),
        mem_mb=16000,
        gpu=gpus("search"),
    conda:
        "../../environment.yml"
    script:
        "../scripts/judge_candidates.py"


rule keep:
    input:
        searched=receipt("search"),
        judged=receipt("judge"),
    output:
        receipt("keep"),
    log:
        "logs/{text}/keep/{block}.log",
    params:
        **block_params("keep_params"),
    threads: 1
    resources:
        runtime=5,
        mem_mb=1000,
    conda:
        "../../environment.yml"
    script:
        "../scripts/keep_candidate.py"


rule progress:
    input:
        models=model_inputs(judge=False),
        searched=receipt("search"),
        kept=receipt("keep"),
    output:
        receipt("progress"),
    log:
        "logs/{text}/progress/{block}.log",
    benchmark:
        "benchmarks/{text}/progress/{block}.tsv"
    threads: config["search"]["threads"]
    resources:
        runtime=block_runtime(5 * config["search"]["candidates"]),
        mem_mb=16000,
        gpu=gpus("search"),
    conda:
        "../../environment.yml"
    script:
        "../scripts/progress_videos.py"
