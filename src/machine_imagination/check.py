"""`machine-imagination check`: every check the workflow makes before any job, and the slower ones,
on a login node in seconds, so that an artist learns of a bad input before the controller job waits
in the queue. It calls what the workflow calls (workflow/rules/common.smk), so it stops with the
workflow's own message:

1. the config files, layered as Snakemake layers them (its own loader and `update_config`: a later
   file's keys override an earlier one's); with none, config/config.yaml, as the Snakefile reads it;
2. `project.resolve_project`, as the main process runs it: the schema, the settings, every text and
   overrides table, the sound (every audio file decoded in full), the model files;
3. `film.captions.caption_warnings`: characters the caption font cannot draw, captions cut to fit;
4. what earlier jobs made: every file a receipt lists there at its size (`receipts.start_check`, as the
   workflow checks it), and every latents file one that a generator of this config can render
   (`latents.damaged_latents`, slower: a note names each, for `machine-imagination repair`; none is moved);
5. and slower than the workflow's look at them: every model file on this machine loaded on the CPU.

A problem raises the error the workflow would stop with; warnings and notes are returned.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .film.captions import caption_warnings
from .inputs import file_problem
from .latents import damaged_latents
from .models import ModelError
from .models.clip import clip_files, load_clip
from .models.generator import generator_files, latent_shape, load_generator
from .project import Project, resolve_project
from .receipts import start_check
from .worlds.tiny import TINY_CLIP, TINY_GENERATOR

DEFAULT_CONFIG = "config/config.yaml"  # what the Snakefile reads without --configfile
BUILDABLE = (TINY_GENERATOR, TINY_CLIP)  # models a rule of the workflow makes (as common.smk passes them)


class ConfigFileError(ValueError):
    """A config file cannot be read as Snakemake reads it."""


@dataclass
class Report:
    project: Project
    warnings: list = field(default_factory=list)  # what the workflow warns of too
    notes: list = field(default_factory=list)  # what the run will do about something found (not a problem)


def layered_config(paths: list[str]) -> dict:
    """The config of `--configfile` files as Snakemake builds it: each loaded by Snakemake's loader
    (JSON or YAML) and merged over the ones before it, key by key."""
    from snakemake.common.configfile import load_configfile
    from snakemake.utils import update_config
    from snakemake_interface_common.exceptions import WorkflowError

    config: dict = {}
    for path in paths:
        problem = file_problem(path)
        if problem:
            raise ConfigFileError(f"config file '{path}' {problem}")
        try:
            update_config(config, load_configfile(path))
        except WorkflowError as err:
            raise ConfigFileError(f"config file '{path}': {err}") from None
    return config


def check_project(config_files: list[str] | None = None) -> Report:
    """Every check a run makes before any job, and the slower ones (see the module's text)."""
    # 1-2. the config, as Snakemake reads it, resolved as the workflow's main process resolves it
    project = resolve_project(layered_config(config_files or [DEFAULT_CONFIG]), buildable=BUILDABLE, models=True)
    config = project.config
    # 3. the captions
    report = Report(project, warnings=caption_warnings(config, project.prompts))
    # 4. what earlier jobs made, as the workflow checks it; and every latents file loaded
    shape = latent_shape(config["generator"]["model"])
    for text in config["texts"]:
        results = Path("results", text)
        start_check(results)
        paths = sorted(results.glob("latents/*.npz")) + sorted(results.glob("candidates/*/*.npz"))
        report.notes += [f"{problem}; `machine-imagination repair {results}` sets it aside to be made again"
                         for _, problem in damaged_latents(paths, shape)]
    # 5. every model file on this machine, loaded
    report.notes += load_models(config)
    return report


def load_models(config: dict) -> list[str]:
    """Load every configured model whose files are on this machine (on the CPU: a damaged tensor is
    found, which the workflow's quick look at the files cannot see); a note for each that is not."""
    models = [("generator.model", config["generator"]["model"], None, generator_files(config["generator"]["model"]))]
    for key in ("clip", "judge"):
        if config[key]["model"]:
            models.append((f"{key}.model", config[key]["model"], config[key]["pretrained"],
                           clip_files(config[key]["model"], config[key]["pretrained"])))
    notes = []
    for key, model, pretrained, files in models:
        if not files:
            notes.append(f"{key} '{model}': a named model, not loaded here (it comes from weights.cache or "
                         "downloads on first use)")
        elif not all(Path(f).is_file() for f in files):
            notes.append(f"{key} '{model}': not on this machine yet; a rule of the workflow makes or fetches it")
        elif key == "generator.model":
            load_generator(model)
        else:
            try:
                load_clip(model, pretrained)
            except ModelError as err:  # load_clip names clip's keys; the judge's are judge.*
                raise type(err)(str(err).replace("clip.", "judge.") if key == "judge.model" else str(err)) from None
    return notes
