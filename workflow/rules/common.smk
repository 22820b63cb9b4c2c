# Config validation and the project's sentences, at parse time: bad input stops the run here, before
# any job starts, with a message that names the key, file or sentence at fault. Then each text's jobs
# (machine_imagination.pipeline.TextJobs: its blocks, each stage job's receipt, params and identity)
# and the input functions the rules share. Parsing writes nothing: the same code runs for a dry run,
# --lint, --report and inside every cluster job.
import math
import re
import sys
from dataclasses import replace

from snakemake.exceptions import WorkflowError

from machine_imagination.film.captions import caption_warnings
from machine_imagination.models import ModelError
from machine_imagination.models.clip import clip_files
from machine_imagination.models.generator import generator_files
from machine_imagination.pipeline import BLOCK_PATTERN, DIGEST_PATTERN, Block, TextJobs
from machine_imagination.project import ConfigError, resolve_project
from machine_imagination.search.race import search_work
from machine_imagination.receipts import ReceiptError, start_check
from machine_imagination.report.manifest import rerun_warning
from machine_imagination.text import TextError
from machine_imagination.video import FilmError
from machine_imagination.worlds.tiny import TINY_CLIP, TINY_GENERATOR

def sentence_caches(config):
    """Each text's split sentences, as its text job (rule split_text) kept them."""
    texts = config.get("texts")
    return {name: f"results/{name}/receipts/sentences.json" for name in texts} if isinstance(texts, dict) else {}


# The whole project is resolved here, once: validated with its defaults, its texts split into prompts,
# its models checked (by the main process only: jobs re-parse the workflow) and, with weights.cache,
# the config rewritten to load the named models from there (weights.smk fetches them).
try:
    PROJECT = resolve_project(
        config,
        buildable=(TINY_GENERATOR, TINY_CLIP),
        models=workflow.is_main_process,
        sentence_caches=sentence_caches(config),
    )
except (ConfigError, TextError, ModelError) as err:
    raise WorkflowError(str(err)) from None
config.update(PROJECT.config)
PROMPTS = PROJECT.prompts
JOBS = {text: TextJobs(text, config, prompts) for text, prompts in PROMPTS.items()}
RACING = config["search"]["race"] is not None  # search.race: the search job loads the judge (it decides)
WEIGHTS, WEIGHTS_CACHE = PROJECT.weights, PROJECT.weights_cache
# A rerun on other package versions, or another kind of machine, than a text's results says so once.
if workflow.is_main_process and (warning := rerun_warning(config)):
    print(warning, file=sys.stderr)
# Checks whose cost grows with the text, once, in the main process: captions in characters the font
# cannot draw, or too long for the frame, are warned of (machine-imagination check says the same).
if workflow.is_main_process:
    try:
        for message in caption_warnings(config, PROMPTS):
            print(f"warning: {message}", file=sys.stderr)
    except FilmError as err:
        raise WorkflowError(str(err)) from None
DOWNLOADS = PROJECT.downloads  # named models without weights.cache: rule download_models (weights.smk)
DOWNLOADED = "resources/named-models.json"
# What earlier runs made must still be there: a file that a job's receipt lists and that is gone or cut
# short (a full disk, an interrupted copy) stops the run before any job, naming it (the main process
# only; reading file sizes, nothing is changed).
if workflow.is_main_process:
    for text in config["texts"]:
        try:
            start_check(f"results/{text}")
        except ReceiptError as err:
            raise WorkflowError(str(err)) from None


wildcard_constraints:
    text="|".join(map(re.escape, config["texts"])),
    block=BLOCK_PATTERN,
    digest=DIGEST_PATTERN,
    index=r"\d{4}",


def block_of(wildcards):
    return Block.parse(wildcards.block)


def receipt(stage):
    """The receipt path pattern of a stage rule's jobs (render's carries its identity's digest)."""
    digest = ".{digest}" if stage == "render" else ""
    return f"results/{{text}}/receipts/{stage}/{{block}}{digest}.json"


def block_params(method):
    """A block rule's params, {name: function of the wildcards}, from TextJobs.<method>(block): one per
    setting and one per sentence of a block, the same names for every block (those of a block of the
    first sentence), each job's computed once."""
    computed = {}

    def params_of(wildcards):
        key = (wildcards.text, wildcards.block)
        if key not in computed:
            computed[key] = getattr(JOBS[wildcards.text], method)(Block.parse(wildcards.block))
        return computed[key]

    first = getattr(next(iter(JOBS.values())), method)(Block(0, 0))
    # a setting is the same for every job (a plain value: Snakemake need not call a function per job)
    return {name: value if name.startswith("x_") else (lambda wildcards, name=name: params_of(wildcards)[name])
            for name, value in first.items()}


def previous_block_kept(wildcards):
    """With search.story, a block starts from the kept latents of the sentence before it: a DAG edge to
    the keep job of the block before."""
    block = Block.parse(wildcards.block)
    if config["search"]["story"] and block.first > 0:
        return JOBS[wildcards.text].keep_receipts([block.first - 1])
    return []


def downloaded(kind=None):
    """The record of rule download_models, when a model (of `kind`) downloads on first use."""
    return [DOWNLOADED] if any(kind in (None, item.kind) for item in DOWNLOADS) else []


def generator_inputs(wildcards=None):
    return generator_files(config["generator"]["model"]) + downloaded("generator")


def model_inputs(judge):
    """The model files a search-stage job loads: the generator and the guiding CLIP, and the judge's CLIP
    when it judges (a search judges only in story mode, to choose where the next sentence starts)."""

    def inputs(wildcards=None):
        files = generator_files(config["generator"]["model"])
        files += clip_files(config["clip"]["model"], config["clip"]["pretrained"])
        if judge and config["judge"]["model"]:
            files += clip_files(config["judge"]["model"], config["judge"]["pretrained"])
        return files + downloaded()

    return inputs


def tokenizer_inputs(wildcards=None):
    # A local CLIP directory's config says which tokenizer to use; named models need no file.
    return [f for f in clip_files(config["clip"]["model"], None) if f.endswith(".json")]


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


def film_segments(wildcards):
    """The render receipts in film order (they name the segments), and the cards."""
    text = wildcards.text
    cards = {card: [f"results/{text}/segments/{card}.mp4"] if config["film"][f"{card}_card"] else []
             for card in ("title", "end")}
    return {"title": cards["title"], "renders": JOBS[text].all_receipts("render"), "end": cards["end"]}


def sheets(text):
    """The contact sheet's pages, and the candidates sheet's with several candidates per sentence."""
    pages = JOBS[text].sheet_pages()
    files = [f"results/{text}/contact_sheet{page}.png" for page in pages]
    if config["search"]["candidates"] > 1:
        files += [f"results/{text}/candidates{page}.png" for page in pages]
    return files


def page_kept(wildcards):
    """The keep receipts of a sheet page's sentences (they list their images and latents)."""
    jobs = JOBS[wildcards.text]
    return jobs.keep_receipts(jobs.page_indices(wildcards.page))


def outputs_of(text):
    """Everything made for a text before its manifest: every stage job's receipt (which lists its
    per-sentence files), the film, its subtitles and record, the report's sheets and table, the review
    page."""
    jobs = JOBS[text]
    files = [f"results/{text}/{name}" for name in ("prompts.tsv", "film.mp4", "film.srt", "film.json", "summary.tsv")]
    if audio_paced():
        files += [f"results/{text}/audio/reading.wav", f"results/{text}/audio/timing.json"]
    stages = ["search", "judge", "keep", "render"] + (["progress"] if config["search"]["progress_video"] else [])
    review = [f"results/{text}/review.html", f"results/{text}/review"]  # the review page and its thumbnails
    return files + [path for stage in stages for path in jobs.all_receipts(stage)] + sheets(text) + review


def gpus(section):
    """GPUs a job of `section` (search, film) asks for: none when it is set to run on the CPU."""
    return 0 if config[section]["device"] == "cpu" else 1


def block_runtime(minutes):
    """A block job's time limit (sbatch -t): `minutes` per sentence of its block, and more for each retry
    (a job that timed out resumes its searches from their checkpoints)."""
    return lambda wildcards, attempt: math.ceil(minutes * len(Block.parse(wildcards.block).indices) * attempt)


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
