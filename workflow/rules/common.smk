# Config validation and the project's sentences, at parse time: bad input stops the run here, before
# any job starts, with a message that names the key, file or sentence at fault. Then the input
# functions the rules share.
import re
import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError

from machine_imagination.film.plan import card_frames, frame_plan
from machine_imagination.latents import set_aside_damaged
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
# A latents file that cannot be read (truncated, garbled) is set aside here, so that its job runs again
# and nothing renders it (the main process only; jobs parse the workflow again).
if workflow.is_main_process:
    for text in config["texts"]:
        for message in set_aside_damaged(sorted(Path("results", text).glob("latents/*.npz"))
                                         + sorted(Path("results", text).glob("candidates/*/*.npz"))):
            print(message, file=sys.stderr)
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


def next_latents(text, index):
    """The latents segment `index` walks to: the next sentence's, the first's when the film loops."""
    following = index + 1
    if following < len(PROMPTS[text]):
        return f"results/{text}/latents/{following:04d}.npz"
    if config["film"]["loop"] and following > 1:
        return f"results/{text}/latents/0000.npz"
    return None


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
    files += [f"results/{text}/review.html", f"results/{text}/review"]  # the review page and its thumbnails
    return files


def progress_outputs(patterns):
    return patterns if config["search"]["progress_video"] else []


def candidate_files(suffix, block=None):
    """The files of every candidate of every sentence in a search job's block, sentence by sentence, or
    (without a block) of sentence {index}; the wildcard text is left open."""
    count, names = config["search"]["candidates"], ["{index}"] if block is None else [f"{i:04d}" for i in block]
    return [f"results/{{text}}/candidates/{name}/{k}{suffix}" for name in names for k in range(count)]


# Jobs of many sentences (search.sentences_per_job, film.segments_per_job): a text's sentences in blocks of
# consecutive indices, 0-24, 25-49, ... (the last one shorter), one generated rule per block. Every block
# rule writes the same per-sentence files a one-sentence job would, so nothing downstream depends on the
# block size, and the block of sentence i stays the same when sentences are added after it.
def blocks(size):
    """Every block of `size` consecutive sentence indices that some text has, with the texts that have it."""
    found = {}
    for text, prompts in PROMPTS.items():
        for first in range(0, len(prompts), size):
            found.setdefault(range(first, min(first + size, len(prompts))), []).append(text)
    return found


def block_name(block):
    """'0007' for a block of one sentence, '0000-0024' for a longer one: its jobs' rule, log and benchmark."""
    return f"{block[0]:04d}" if len(block) == 1 else f"{block[0]:04d}-{block[-1]:04d}"


def texts_pattern(texts):
    return "|".join(map(re.escape, texts))


def block_searches(block):
    """The search job's params: each sentence of the block (its prompt's parts, seed, overrides and, in
    story mode, the artist's pick that the next sentence starts from; a pick elsewhere reaches only the
    keep job, so that it searches nothing again)."""
    story = config["search"]["story"]

    def searches(wildcards):
        prompts = [PROMPTS[wildcards.text][index] for index in block]
        return [{"index": p.index, "sentence": p.sentence, "parts": [list(part) for part in p.parts], "seed": p.seed,
                 "overrides": dict(p.search), "pick": p.candidate if story else None} for p in prompts]

    return searches


def previous_latents(block):
    """With search.story, a block starts from the kept latents of the sentence before it: a DAG edge."""

    def previous(wildcards):
        if config["search"]["story"] and block[0] > 0:
            return f"results/{wildcards.text}/latents/{block[0] - 1:04d}.npz"
        return []

    return previous


def block_segments(block):
    """The render job's params: each segment of the block (its caption and, without a reading, its hold)."""

    def segments(wildcards):
        holds = None if audio_paced() else plan_of(wildcards.text).holds
        return [{"index": index, "caption": PROMPTS[wildcards.text][index].sentence,
                 "hold": None if holds is None else holds[index],
                 "latents": f"results/{wildcards.text}/latents/{index:04d}.npz",
                 "next_latents": next_latents(wildcards.text, index)} for index in block]

    return segments


def segment_latents(block):
    """A render job's latents: its sentences' and the one after its last (its last segment walks there)."""

    def latents(wildcards):
        files = [f"results/{wildcards.text}/latents/{index:04d}.npz" for index in block]
        following = next_latents(wildcards.text, block[-1])
        return files + ([following] if following and following not in files else [])

    return latents


def block_runtime(minutes, block):
    """A block job's time limit (sbatch -t): `minutes` per sentence, and more for each retry (a job that
    timed out resumes its searches from their checkpoints)."""
    return lambda wildcards, attempt: minutes * len(block) * attempt


def stage_resources(stage, **resources):
    """A block rule's resources: its own, then those a profile sets (set-resources) for the stage's name
    (search_prompt, render_segment), which every block rule of the stage shares."""
    given = workflow.resource_settings.overwrite_resources.get(stage, {})
    return {**resources, **{name: profile_value(resource) for name, resource in given.items()}}


def profile_value(resource):
    """A set-resources value as a rule's resource: Snakemake parses each as an expression, evaluated per job."""
    if not resource.is_evaluable():
        return resource.value
    return lambda wildcards, input, attempt, threads, rulename, async_run: resource.evaluate(
        wildcards, input=input, attempt=attempt, threads=threads, rulename=rulename, async_run=async_run
    ).value


def gpus(section):
    """GPUs a job of `section` (search, film) asks for: none when it is set to run on the CPU."""
    return 0 if config[section]["device"] == "cpu" else 1


def all_outputs():
    outputs = []
    for text in config["texts"]:
        outputs += outputs_of(text)
        outputs.append(f"results/{text}/manifest.json")
        outputs.append(f"results/{text}/timings/timings.tsv")
    return outputs


def fetch_item(kind, name):
    """The model that rule fetch_generator or fetch_clip fetches into <weights.cache>/…/<name> (weights.smk)."""
    for item in WEIGHTS:
        if item.kind == kind and item.directory.rsplit("/", 1)[-1] == name:
            return item
    raise WorkflowError(f"no configured {kind} model is fetched into weights.cache under the name '{name}'")
