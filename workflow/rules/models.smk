# The tiny offline models (config/offline.yaml): random, deterministic, in the real on-disk formats.
from machine_imagination.worlds.shapes_training import (
    SHAPES_CLIP_FILES,
    SHAPES_GENERATOR_FILES,
    SHAPES_MODELS,
    SHAPES_RETRAINED,
    SHAPES_TRAINING,
)


localrules:
    make_tiny_models,


rule make_tiny_models:
    output:
        generator=multiext(f"{TINY_GENERATOR}/", "config.json", "pytorch_model.bin"),
        clip=multiext(f"{TINY_CLIP}/", "open_clip_config.json", "open_clip_pytorch_model.bin"),
    log:
        "logs/make_tiny_models.log",
    params:
        seed=0,
    threads: 1
    resources:
        runtime=10,
        mem_mb=2000,
    conda:
        "../../environment.yml"
    script:
        "../scripts/make_tiny_models.py"


# The shapes world's models (config/demo.yaml: the generator, the guiding CLIP and the judge CLIP),
# retrained from fixed seeds, thread count and step counts:
# `snakemake --cores 2 train_shapes_models --configfile config/demo.yaml` writes them under
# resources/ and its log says whether every file is byte-identical to the shipped ones in models/shapes.
# Not part of any film: the shipped checkpoints are what the demo uses.
rule train_shapes_models:
    output:
        generator=multiext(f"{SHAPES_RETRAINED}/biggan-shapes/", *SHAPES_GENERATOR_FILES),
        clip=multiext(f"{SHAPES_RETRAINED}/clip-shapes/", *SHAPES_CLIP_FILES),
        judge=multiext(f"{SHAPES_RETRAINED}/clip-judge/", *SHAPES_CLIP_FILES),
        evaluation=f"{SHAPES_RETRAINED}/evaluation.json",
    log:
        "logs/train_shapes_models.log",
    benchmark:
        "benchmarks/train_shapes_models.tsv"
    params:
        shipped=SHAPES_MODELS,
    threads: SHAPES_TRAINING.threads
    resources:
        runtime=120,
        mem_mb=4000,
    conda:
        "../../environment.yml"
    script:
        "../scripts/train_shapes_models.py"
