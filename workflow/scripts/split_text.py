"""Snakemake script (rule split_text): write results/<text>/prompts.tsv and keep the text's sentences."""
from machine_imagination.files import job_log
from machine_imagination.text import write_prompts, write_sentences_cache

prompts, split = snakemake.params.prompts, snakemake.params.split
with job_log(snakemake.log[0]):
    write_prompts(prompts, snakemake.params.clip, snakemake.output.prompts)
    write_sentences_cache(snakemake.output.sentences, snakemake.input.text, split["split"], split["language"],
                          [p.sentence for p in prompts])
    print(f"{len(prompts)} prompts written to {snakemake.output.prompts}")
