# The tiny offline models (config/offline.yaml): random, deterministic, in the real on-disk formats.


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
