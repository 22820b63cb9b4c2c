# Config validation and the project's sentences, at parse time: bad input stops the run here, before
# any job starts, with a message that names the key, file or sentence at fault.
import re

from snakemake.exceptions import WorkflowError

from machine_imagination.config import ConfigError, check_models, project_prompts, validate_config
from machine_imagination.models import ModelError, clip_files, generator_files
from machine_imagination.text import TextError
from machine_imagination.tiny_models import TINY_CLIP, TINY_GENERATOR

try:
    config.update(validate_config(config))
    PROMPTS = project_prompts(config)
    if workflow.is_main_process:  # jobs re-parse the workflow; the model check needs doing only once
        check_models(config, buildable=(TINY_GENERATOR, TINY_CLIP))
except (ConfigError, TextError, ModelError) as err:
    raise WorkflowError(str(err)) from None


wildcard_constraints:
    text="|".join(map(re.escape, config["texts"])),
    index=r"\d{4}",


def prompt_of(wildcards):
    return PROMPTS[wildcards.text][int(wildcards.index)]


def indices(text):
    return [f"{p.index:04d}" for p in PROMPTS[text]]


def generator_inputs(wildcards=None):
    return generator_files(config["generator"]["model"])


def model_inputs(wildcards=None):
    files = generator_inputs() + clip_files(config["clip"]["model"], config["clip"]["pretrained"])
    if config["judge"]["model"]:
        files += clip_files(config["judge"]["model"], config["judge"]["pretrained"])
    return files


def tokenizer_inputs(wildcards=None):
    # A local CLIP directory's config says which tokenizer to use; named models need no file.
    return [f for f in clip_files(config["clip"]["model"], None) if f.endswith(".json")]


def next_latents(wildcards):
    following = int(wildcards.index) + 1
    if following < len(PROMPTS[wildcards.text]):
        return f"results/{wildcards.text}/latents/{following:04d}.npz"
    return []


def previous_latents(wildcards):
    """With search.story, a search starts from the previous sentence's latents: a DAG edge."""
    index = int(wildcards.index)
    if config["search"]["story"] and index > 0:
        return f"results/{wildcards.text}/latents/{index - 1:04d}.npz"
    return []


def progress_outputs(pattern):
    return [pattern] if config["search"]["progress_video"] else []


def search_gpus():
    return 0 if config["search"]["device"] == "cpu" else 1


def film_gpus():
    return 0 if config["film"]["device"] == "cpu" else 1


def all_outputs():
    outputs = []
    for text in config["texts"]:
        outputs += [
            f"results/{text}/prompts.tsv",
            f"results/{text}/film.mp4",
            f"results/{text}/film.srt",
            f"results/{text}/film.json",
        ]
        outputs += expand("results/{text}/images/{index}.png", text=text, index=indices(text))
        outputs += expand("results/{text}/history/{index}.png", text=text, index=indices(text))
    return outputs
