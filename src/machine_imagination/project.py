"""A project: its config validated (JSON schema, defaults filled in) and checked, its texts' prompts,
and its models resolved, in one place (`resolve_project`), before any job starts. Errors name the key
or file at fault. Also what every output records of the config (`provenance`)."""
from __future__ import annotations

import copy
import math
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from .files import package_versions
from .inputs import control_character, one_line, shown
from .models import ModelError
from .models.classes import check_initial_class
from .models.clip import check_clip_spec
from .models.fetch import Fetch, Named, cache_root, cached_config, named_models, weights_plan
from .models.generator import check_generator_spec, generator_class_names
from .schema import SCHEMA_PATH, load_schema  # noqa: F401 (load_schema: the tests' and the CLI's)
from .text import Prompt, TextError, check_template, make_prompts

MIN_FRAME, MAX_FRAME = 64, 8192  # film.frame's sides, in pixels
# A config holds a few hundred values; one with more is a YAML alias bomb (a few lines that expand into
# millions of values), refused before anything walks it further.
MAX_CONFIG_VALUES = 100_000


class ConfigError(ValueError):
    """The config cannot be used; the message names the key and what to change."""


def _validator_with_defaults(schema):
    from jsonschema import Draft202012Validator, validators

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, sub in properties.items():
                if "default" in sub and name not in instance:
                    instance[name] = copy.deepcopy(sub["default"])
        yield from Draft202012Validator.VALIDATORS["properties"](validator, properties, instance, schema)

    cls = validators.extend(Draft202012Validator, {"properties": set_defaults})
    return cls(schema)


def _key(path) -> str:
    return ".".join(str(p) for p in path) or "(top level)"


def _describe(error) -> str:
    """One line per schema error, naming the key, showing the value on one short line, and saying what
    to write instead."""
    key = _key(error.absolute_path)
    if error.validator == "type" and isinstance(error.instance, str):
        hint = _number_hint(error.instance, error.validator_value)
        return f"config key '{key}': {shown(error.instance)} is not of type {_types(error.validator_value)}{hint}"
    if error.validator in ("maximum", "exclusiveMaximum", "minimum", "exclusiveMinimum"):
        reason = error.schema.get("why") if error.validator.endswith("aximum") else None
        return f"config key '{key}': {error.message}" + (f" ({reason})" if reason else "")
    if error.validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        extra = sorted(set(error.instance) - set(allowed))
        where = _key(error.absolute_path)
        keys = ", ".join(f"'{where + '.' if error.absolute_path else ''}{k}'" for k in extra)
        return f"unknown config key {keys}; allowed here: {', '.join(allowed)}"
    if error.validator == "required":
        return f"config is missing the key {error.message.split(' ')[0]} (at {_key(error.absolute_path)})"
    message, value = error.message, repr(error.instance)
    if message.startswith(value):  # jsonschema's messages start with the value, in full
        message = shown(error.instance) + message[len(value):]
    return f"config key '{key}': {one_line(message)}"


def _types(expected) -> str:
    return " or ".join(f"'{t}'" for t in ([expected] if isinstance(expected, str) else expected))


def _number_hint(value: str, expected) -> str:
    """Why a number came out as text: YAML 1.1 (PyYAML, Snakemake) reads 1e-4 without a dot as a string."""
    expected = [expected] if isinstance(expected, str) else expected
    if not {"number", "integer"} & set(expected):
        return ""
    try:
        number = float(value)
    except ValueError:
        return ""
    if "integer" in expected and number.is_integer() and "number" not in expected:
        return f" (YAML reads {value} as text: write {int(number)})"
    mantissa = re.fullmatch(r"([+-]?\d+)([eE][+-]?\d+)", value.strip())
    written = f"{mantissa[1]}.0{mantissa[2]}" if mantissa else repr(number)
    return f" (YAML reads {value} as text, not as a number: write {written}, with a dot)"


def check_values(config: dict) -> None:
    """Every number in the config is finite (YAML's .inf and .nan pass the schema's bounds), every
    string is free of control characters, and the config is no YAML alias bomb (more than
    MAX_CONFIG_VALUES values, or nested deeper than any config): walked without recursion."""
    stack, seen = [((), config)], 0
    while stack:
        path, value = stack.pop()
        seen += 1
        if seen > MAX_CONFIG_VALUES or len(path) > 20:
            raise ConfigError(f"the config holds more than {MAX_CONFIG_VALUES} values or is nested deeper than 20 "
                              "levels (YAML aliases that expand into copies of copies?), at "
                              f"'{_key(path[:20])}': refused")
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"config key '{_key(path)}': {value} is not a finite number")
        if isinstance(value, str) and control_character(value):
            raise ConfigError(f"config key '{_key(path)}': control character {control_character(value)[1]} in "
                              f"{shown(value)}; a value may hold only printable characters, tabs and line breaks")
        if isinstance(value, dict):
            stack.extend(((*path, name), item) for name, item in value.items())
        elif isinstance(value, list):
            stack.extend(((*path, n), item) for n, item in enumerate(value))


def validate_config(config: dict, schema: dict | None = None) -> dict:
    """Return a validated copy of `config` with every default filled in; raise ConfigError otherwise."""
    check_values(dict(config))
    config = copy.deepcopy(dict(config))
    validator = _validator_with_defaults(schema or load_schema())
    errors = sorted(validator.iter_errors(config), key=lambda e: [str(p) for p in e.absolute_path])
    if errors:
        raise ConfigError("invalid config:\n  " + "\n  ".join(_describe(e) for e in errors))
    search = config["search"]
    if search["crop_min"] > search["crop_max"]:
        raise ConfigError(
            f"config key 'search.crop_min' ({search['crop_min']}) is larger than 'search.crop_max' "
            f"({search['crop_max']})"
        )
    return config


def load_config(path: str | Path) -> dict:
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as err:
        raise ConfigError(f"cannot read config file '{path}': {err}") from None
    return validate_config(raw)


def check_settings(config: dict) -> None:
    """Settings that only code can check (the schema cannot): language, template, class, judge."""
    from pysbd.languages import LANGUAGE_CODES

    if config["text"]["language"] not in LANGUAGE_CODES:
        raise ConfigError(
            f"config key 'text.language': '{config['text']['language']}' is not a language pysbd splits "
            f"(known: {', '.join(sorted(LANGUAGE_CODES))})"
        )
    check_template(config["text"]["template"])
    try:
        check_initial_class(str(config["search"]["initial_class"]), generator_class_names(config["generator"]["model"]))
    except ValueError as err:
        raise ConfigError(f"config key 'search.initial_class': {err}") from None
    film = config["film"]
    if film["hold_min"] > film["hold_max"]:
        raise ConfigError(f"config key 'film.hold_min' ({film['hold_min']}) is larger than 'film.hold_max' "
                          f"({film['hold_max']})")
    from PIL import ImageColor

    for key in ("color", "box_color", "outline_color"):
        try:
            ImageColor.getrgb(film["caption"][key])
        except ValueError:
            raise ConfigError(f"config key 'film.caption.{key}': {film['caption'][key]!r} is not a colour "
                              "(use a name such as 'white' or #rrggbb)") from None
    size = film["size"]
    if size is not None and size % 2:
        raise ConfigError(f"config key 'film.size': {size} is odd; H.264 in yuv420p needs an even size")
    check_frame(film)
    unknown = sorted(set(config["titles"]) - set(config["texts"]))
    if unknown:
        raise ConfigError(f"config key 'titles': {', '.join(unknown)} is not a text under 'texts'")
    judge = config["judge"]
    if (judge["model"] is None) != (judge["pretrained"] is None) and not (judge["model"] and "/" in judge["model"]):
        raise ConfigError("config keys 'judge.model' and 'judge.pretrained' go together (or judge.model is a directory)")
    check_race(config)


def check_race(config: dict, iterations: int | None = None, where: str = "") -> None:
    """A race schedule (search.race) the candidates can follow over `iterations` (the config's, or a
    sentence's override, named by `where`)."""
    from .search.race import RaceSchedule

    try:
        schedule = RaceSchedule.from_config(config)
        if schedule is None:
            return
        search = config["search"]
        schedule.check(search["candidates"], iterations or search["iterations"], search["init_samples"],
                       search["init_top"])
    except ValueError as err:
        key, _, why = str(err).partition(": ")
        raise ConfigError(f"{where}config key '{key}': {why}") from None


def check_frame(film: dict) -> None:
    frame = film["frame"]
    if frame is None:
        return
    if film["size"] is not None:
        raise ConfigError("config keys 'film.size' and 'film.frame' do not go together: with film.frame the image "
                          "takes the frame's height; remove film.size")
    width, height = frame
    if width % 2 or height % 2:
        raise ConfigError(f"config key 'film.frame': {width}x{height} has an odd side; H.264 in yuv420p needs "
                          "even sides (e.g. [1920, 1080])")
    if min(width, height) < MIN_FRAME or max(width, height) > MAX_FRAME:
        raise ConfigError(f"config key 'film.frame': {width}x{height} is out of range; each side must be "
                          f"between {MIN_FRAME} and {MAX_FRAME} pixels")


def check_sound(config: dict, prompts: dict, files: bool = True) -> None:
    """The `audio` map and the film's pacing agree, and (with `files`) every audio file reads and every
    timing file has one cue per sentence, in order, within its recording."""
    from .audio import AudioError, check_cues, espeak_exe, probe_seconds, read_timing

    film, sounds = config["film"], config["audio"]
    unknown = sorted(set(sounds) - set(config["texts"]))
    if unknown:
        raise ConfigError(f"config key 'audio': {', '.join(unknown)} is not a text under 'texts'")
    for name in config["texts"]:
        sound = sounds.get(name, {})
        if ("reading" in sound) != ("timing" in sound):
            given, missing = ("reading", "timing") if "reading" in sound else ("timing", "reading")
            raise ConfigError(f"config key 'audio.{name}.{given}' needs 'audio.{name}.{missing}' (a recording "
                              "and its timing file go together)")
        if "reading" in sound and film["pacing"] != "audio":
            raise ConfigError(f"config key 'audio.{name}.reading': a recorded reading paces the film only with "
                              "film.pacing: audio")
        if film["pacing"] == "audio" and "reading" not in sound and film["narration"] == "none":
            raise ConfigError(f"config key 'film.pacing': 'audio' follows a reading, but text '{name}' has none: "
                              f"give audio.{name}.reading and audio.{name}.timing, or set film.narration: espeak")
    if film["narration"] != "none" and film["pacing"] != "audio":
        raise ConfigError("config key 'film.narration': a narration paces the film only with film.pacing: audio")
    if not files:
        return
    if film["pacing"] == "audio" and any("reading" not in sounds.get(n, {}) for n in config["texts"]):
        try:
            espeak_exe()
        except AudioError as err:
            raise ConfigError(f"config key 'film.narration': {err}") from None
    for name, sound in sounds.items():
        try:
            if "music" in sound:
                probe_seconds(sound["music"])
            if "reading" in sound:
                seconds = probe_seconds(sound["reading"])
                check_cues(sound["timing"], read_timing(sound["timing"]), [p.sentence for p in prompts[name]],
                           film["fps"], seconds)
        except AudioError as err:
            raise ConfigError(f"config key 'audio.{name}': {err}") from None


def project_prompts(config: dict, caches: dict | None = None) -> dict[str, list[Prompt]]:
    """name -> the prompts of every text of the project (raises TextError naming the file); `caches`:
    name -> the file its text job wrote its sentences to (text.text_sentences)."""
    check_settings(config)
    unknown = sorted(set(config["overrides"]) - set(config["texts"]))
    if unknown:
        raise ConfigError(f"config key 'overrides': {', '.join(unknown)} is not a text under 'texts'")
    prompts = {}
    for name in config["texts"]:
        try:
            prompts[name] = text_prompts(config, name, cache=(caches or {}).get(name))
        except TextError as err:
            raise TextError(f"texts.{name}: {err}") from None
        for prompt in prompts[name]:  # a sentence's own iterations (overrides) must hold the race's rounds too
            iterations = dict(prompt.search).get("iterations")
            if iterations is not None:
                check_race(config, iterations, f"overrides.{name}: sentence {prompt.index} runs {iterations} "
                                               "iterations: ")
    return prompts


def text_prompts(config: dict, name: str, overrides: dict | None = None, cache=None) -> list[Prompt]:
    """The prompts of one text of a validated config, with its overrides table (`overrides:`), or with
    `overrides` ({index: {column: value}}, as `text.parse_overrides` reads a table not yet written);
    `cache`: the text's split sentences as its text job kept them (`text.text_sentences`)."""
    t = config["text"]
    return make_prompts(config["texts"][name], split=t["split"], language=t["language"], template=t["template"],
                        style=t["style"], seed=config["seed"], overrides=overrides,
                        overrides_table=config["overrides"].get(name) if overrides is None else None,
                        class_names=generator_class_names(config["generator"]["model"]),
                        candidates=config["search"]["candidates"], cache=cache)


def check_models(config: dict, buildable: tuple[str, ...] = ()) -> None:
    """Check that the configured models can be resolved; local paths in `buildable` are made by a rule."""
    if config["generator"]["model"] not in buildable:
        check_generator_spec(config["generator"]["model"])
    if config["clip"]["model"] not in buildable:
        check_clip_spec(config["clip"]["model"], config["clip"]["pretrained"])
    if config["judge"]["model"] and config["judge"]["model"] not in buildable:
        try:
            check_clip_spec(config["judge"]["model"], config["judge"]["pretrained"])
        except ModelError as err:
            raise type(err)(str(err).replace("clip.", "judge.")) from None


@dataclass(frozen=True)
class Project:
    config: dict  # validated, defaults filled in; models read from weights.cache when it is set
    prompts: dict  # text name -> [Prompt, …]
    weights: list  # [models.fetch.Fetch, …]: the named models to fetch into weights.cache
    weights_cache: str | None  # weights.cache, with ~ and $VARIABLES expanded
    downloads: list  # [models.fetch.Named, …]: without weights.cache, the named models to download once


def resolve_project(raw: dict, *, buildable: tuple[str, ...] = (), models: bool = True,
                    sentence_caches: dict | None = None) -> Project:
    """The project a config describes, checked in full before any job starts: 1. the schema (defaults
    filled in), 2. the settings only code can check, 3. every text's prompts, 4. its sound (the audio
    files read in full, and the models checked, only with `models=True`: a job re-reading the config need
    not), 5. the weights cache: the named models to fetch there, and the config rewritten to read them
    from it; without it, the named models that download on first use."""
    config = validate_config(raw)
    prompts = project_prompts(config, sentence_caches)
    check_sound(config, prompts, files=models)
    if models:
        check_models(config, buildable)
    try:
        cache = cache_root(config)
        weights: list[Fetch] = weights_plan(config)
    except ValueError as err:
        raise ConfigError(str(err)) from None
    resolved = {**config, **cached_config(config, weights)}
    downloads: list[Named] = named_models(resolved)
    return Project(resolved, prompts, weights, cache, downloads)


def provenance(config: dict) -> dict:
    """What an output records of the config: the sections that determine a search's result, and the
    versions of the packages that made it. (Not search.candidates: a candidate's result is the same
    however many there are; kept latents record the candidates themselves. Not search.sentences_per_job:
    how sentences are shared out among jobs changes no result.)"""
    settings = {key: config[key] for key in ("seed", "text", "generator", "clip", "search")}
    settings["search"] = {key: value for key, value in settings["search"].items()
                          if key not in ("candidates", "sentences_per_job")}
    return {"settings": settings, "packages": package_versions()}
