# Text -> prompts. The sentences themselves are split at parse time (common.smk) so that the DAG has
# one search job per sentence; this rule writes them down, with how each prompt fits CLIP's context.


localrules:
    split_text,


rule split_text:
    input:
        text=lambda wildcards: config["texts"][wildcards.text],
        tokenizer=tokenizer_inputs,
    output:
        "results/{text}/prompts.tsv",
    log:
        "logs/{text}/split_text.log",
    threads: 1
    resources:
        runtime=5,
        mem_mb=1000,
    conda:
        "../../environment.yml"
    script:
        "../scripts/split_text.py"
