# Text -> prompts. The sentences themselves are split at parse time (common.smk) so that the DAG has
# one search job per sentence; this rule writes those prompts down, with how each fits CLIP's context.


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
    params:
        prompts=lambda wildcards: PROMPTS[wildcards.text],
        clip=config["clip"]["model"],
    threads: 1
    resources:
        runtime=5,
        mem_mb=1000,
    conda:
        "../../environment.yml"
    script:
        "../scripts/split_text.py"
