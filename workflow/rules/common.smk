# Config validation and the project's sentences, at parse time: bad input stops the run here, before
# any job starts, with a message that names the key, file or sentence at fault. Then the input
# functions the rules share.
import re

from snakemake.exceptions import WorkflowError

from machine_imagination.film.plan import card_frames, frame_plan
from machine_imagination.models import ModelError
from machine_imagination.models.clip import clip_files
from machine_imagination.models.generator import generator_files
from machine_imagination.project import ConfigError, resolve_project
from machine_imagination.text import TextError
from machine_imagination.worlds.tiny import TINY_CLIP, TINY_GENERATOR

# The whole project is resolved here, once: validated with its defaults, its texts split into prompts,
# its models checked (by the main process only: jobs re-parse the workflow) and, with weights.cache,
# the config rewritten to load the named models from there (weights.smk fetches them).
try:
    PROJECT = resolve_project(
        config, buildable=(TINY_GENERATOR, TINY_CLIP), models=workflow.is_main_process
    )
except (ConfigError, TextError, ModelError) as err:
    raise WorkflowError(str(err)) from None
config.update(PROJECT.config)
PROMPTS = PROJECT.prompts
WEIGHTS, WEIGHTS_CACHE = PROJECT.weights, PROJECT.weights_cache
DOWNLOADS = PROJECT.downloads  # named models without weights.cache: rule download_models (weights.smk)
DOWNLOADED = "resources/named-models.json"


wildcard_constraints:
    text="|".join(map(re.escape, config["texts"])),
    index=r"\d{4}",


def prompt_of(wildcards):
    return PROMPTS[wildcards.text][int(wildcards.index)]


def indices(text):
    return [f"{p.index:04d}" for p in PROMPTS[text]]


def downloaded(kind=None):
    """The record of rule download_models, when a model (of `kind`) downloads on first use."""
    return [DOWNLOADED] if any(kind in (None, item.kind) for item in DOWNLOADS) else []


def generator_inputs(wildcards=None):
    return generator_files(config["generator"]["model"]) + downloaded("generator")


def model_inputs(wildcards=None):
    files = generator_files(config["generator"]["model"])
    files += clip_files(config["clip"]["model"], config["clip"]["pretrained"])
    if config["judge"]["model"]:
        files += clip_files(config["judge"]["model"], config["judge"]["pretrained"])
    return files + downloaded()


def tokenizer_inputs(wildcards=None):
    # A local CLIP directory's config says which tokenizer to use; named models need no file.
    return [f for f in clip_files(config["clip"]["model"], None) if f.endswith(".json")]


def next_latents(wildcards):
    """The latents the segment walks to: the next sentence's, the first's when the film loops."""
    following = int(wildcards.index) + 1
    if following < len(PROMPTS[wildcards.text]):
        return f"results/{wildcards.text}/latents/{following:04d}.npz"
    if config["film"]["loop"] and following > 1:
        return f"results/{wildcards.text}/latents/0000.npz"
    return []


def audio_paced():
    return config["film"]["pacing"] == "audio"


def reading_files(wildcards):
    """The reading a film with film.pacing: audio follows (made by prepare_reading): its WAV and its cues."""
    if not audio_paced():
        return {}
    return {"reading": f"results/{wildcards.text}/audio/reading.wav",
            "timing": f"results/{wildcards.text}/audio/timing.json"}


def reading_timing(wildcards):
    """Only the reading's cues (segments and subtitles need no sound)."""
    return {"timing": reading_files(wildcards)["timing"]} if audio_paced() else {}


def sound_of(text):
    """The text's audio settings (recording, timing, music), or an empty map."""
    return config["audio"].get(text, {})


def recording_files(wildcards):
    """The artist's recording and its timing file, if the text has them (else it is narrated)."""
    return {k: v for k, v in sound_of(wildcards.text).items() if k in ("reading", "timing")}


def music_file(wildcards):
    return {"music": sound_of(wildcards.text)["music"]} if "music" in sound_of(wildcards.text) else {}


def plan_of(text):
    return frame_plan(config["film"], [p.sentence for p in PROMPTS[text]])


def title_of(text):
    return config["titles"].get(text) or text.replace("-", " ").replace("_", " ").title()


def film_segments(wildcards):
    """Segments in film order: title card, one per sentence, end card."""
    text = wildcards.text
    title = [f"results/{text}/segments/title.mp4"] if config["film"]["title_card"] else []
    end = [f"results/{text}/segments/end.mp4"] if config["film"]["end_card"] else []
    return title + [f"results/{text}/segments/{index}.mp4" for index in indices(text)] + end


def outputs_of(text):
    """Everything made for a text (what its manifest lists)."""
    files = [f"results/{text}/{name}" for name in ("prompts.tsv", "film.mp4", "film.srt", "film.json",
                                                   "contact_sheet.png", "summary.tsv")]
    if audio_paced():
        files += [f"results/{text}/audio/reading.wav", f"results/{text}/audio/timing.json"]
    for pattern in ("latents/{index}.npz", "images/{index}.png", "history/{index}.tsv", "history/{index}.png"):
        files += expand(f"results/{text}/{pattern}", index=indices(text))
    if config["search"]["progress_video"]:
        files += expand(f"results/{text}/progress/{{index}}.mp4", index=indices(text))
    candidates = [".npz", ".png", ".tsv", "-history.png"] + ([".mp4"] if config["search"]["progress_video"] else [])
    for suffix in candidates:
        files += expand(f"results/{text}/candidates/{{index}}/{{k}}{suffix}", index=indices(text),
                        k=range(config["search"]["candidates"]))
    if config["search"]["candidates"] > 1:
        files.append(f"results/{text}/candidates.png")
    return files


def previous_latents(wildcards):
    """With search.story, a search starts from the previous sentence's latents: a DAG edge."""
    index = int(wildcards.index)
    if config["search"]["story"] and index > 0:
        return f"results/{wildcards.text}/latents/{index - 1:04d}.npz"
    return []


def progress_outputs(patterns):
    return patterns if config["search"]["progress_video"] else []


def candidate_files(suffix):
    """The search job's files of every candidate of a sentence (wildcards text and index left open)."""
    return [f"results/{{text}}/candidates/{{index}}/{k}{suffix}" for k in range(config["search"]["candidates"])]


def gpus(section):
    """GPUs a job of `section` (search, film) asks for: none when it is set to run on the CPU."""
    return 0 if config[section]["device"] == "cpu" else 1


def all_outputs():
    outputs = []
    for text in config["texts"]:
        outputs += outputs_of(text)
        outputs.append(f"results/{text}/manifest.json")
    return outputs


def fetch_item(kind, name):
    """The model that rule fetch_generator or fetch_clip fetches into <weights.cache>/…/<name> (weights.smk)."""
    for item in WEIGHTS:
        if item.kind == kind and item.directory.rsplit("/", 1)[-1] == name:
            return item
    raise WorkflowError(f"no configured {kind} model is fetched into weights.cache under the name '{name}'")
