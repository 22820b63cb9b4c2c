# Weights for offline compute nodes. With `weights.cache` set, the named models (generator, clip, judge)
# are fetched once, by local rules (they run in the Snakemake process itself, where the network is),
# into that directory in the loaders' local formats, and verified before they are put in place; the
# config (resolved in common.smk) names those directories, so every job loads its weights from there
# and never touches the network. `snakemake --cores 1 fetch_weights` fetches them alone (on a login node).
localrules:
    fetch_weights,


rule fetch_weights:
    input:
        [f for item in WEIGHTS for f in item.files],


if WEIGHTS_CACHE:

    localrules:
        fetch_generator,
        fetch_clip,

    rule fetch_generator:
        output:
            multiext(f"{WEIGHTS_CACHE}/biggan/{{name}}/", "config.json", "pytorch_model.bin", "SHA256SUMS"),
        log:
            "logs/fetch_weights/biggan/{name}.log",
        params:
            item=lambda wildcards: fetch_item("generator", wildcards.name),
        threads: 1
        resources:
            runtime=60,
            mem_mb=4000,
        conda:
            "../../environment.yml"
        script:
            "../scripts/fetch_weights.py"

    rule fetch_clip:
        output:
            multiext(
                f"{WEIGHTS_CACHE}/open_clip/{{name}}/",
                "open_clip_config.json",
                "open_clip_pytorch_model.bin",
                "SHA256SUMS",
            ),
        log:
            "logs/fetch_weights/open_clip/{name}.log",
        params:
            item=lambda wildcards: fetch_item("clip", wildcards.name),
        threads: 1
        resources:
            runtime=60,
            mem_mb=8000,
        conda:
            "../../environment.yml"
        script:
            "../scripts/fetch_weights.py"


# Without weights.cache, named models download into their libraries' caches on first use. They do so
# here, once, before any job needs them (in the Snakemake process, where the network is): a machine
# that cannot reach them stops at this one job, with one message that says what to do.
if DOWNLOADS:

    localrules:
        download_models,

    rule download_models:
        output:
            DOWNLOADED,
        log:
            "logs/download_models.log",
        params:
            models=DOWNLOADS,
        threads: 1
        resources:
            runtime=60,
            mem_mb=8000,
        conda:
            "../../environment.yml"
        script:
            "../scripts/download_models.py"
