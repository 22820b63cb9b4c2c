# Text -> prompts. The sentences themselves are split at parse time (common.smk) so that the DAG knows
# them; this rule writes those prompts down, with how each fits CLIP's context, and keeps the split
# sentences (receipts/sentences.json), which every job's own parse of the workflow reads instead of
# splitting a long text again. It runs first (priority), so that the search jobs' progress lines know
# how many sentences the text has.


localrules:
    split_text,


rule split_text:
    input:
        text=lambda wildcards: config["texts"][wildcards.text],
        tokenizer=tokenizer_inputs,
    output:
        prompts="results/{text}/prompts.tsv",
        sentences="results/{text}/receipts/sentences.json",
    log:
        "logs/{text}/split_text.log",
    params:
        # What prompts.tsv holds (not a sentence's search overrides or pick: they change no row)
        prompts=lambda wildcards: [replace(p, search=(), candidate=None) for p in PROMPTS[wildcards.text]],
        clip=config["clip"]["model"],
        split={key: config["text"][key] for key in ("split", "language")},
    priority: 100
    threads: 1
    resources:
        runtime=5,
        mem_mb=1000,
    conda:
        "../../environment.yml"
    script:
        "../scripts/split_text.py"
