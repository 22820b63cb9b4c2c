import re

import pytest
import yaml

from conftest import REPO
from machine_imagination.project import ConfigError, check_settings, load_config, load_schema, validate_config


def test_shipped_configs_are_valid():
    default = load_config(REPO / "config" / "config.yaml")
    offline = load_config(REPO / "config" / "offline.yaml")
    assert default["generator"]["model"].startswith("biggan-deep-")
    assert (default["clip"]["model"], default["clip"]["pretrained"]) == ("ViT-B-32", "openai")
    assert offline["texts"] == default["texts"]


def test_the_demo_config_is_valid_and_names_the_shapes_classes(monkeypatch):
    from machine_imagination.project import check_models

    monkeypatch.chdir(REPO)  # its paths are relative to the repository root, where Snakemake runs
    demo = load_config(REPO / "config" / "demo.yaml")
    check_settings(demo)
    check_models(demo)
    with pytest.raises(ConfigError, match="unknown class of this generator 'red hexagon'; did you mean: red"):
        check_settings({**demo, "search": {**demo["search"], "initial_class": "red hexagon"}})
    check_settings({**demo, "search": {**demo["search"], "initial_class": "green diamond"}})


def test_defaults_are_the_workshop_notebook_settings():
    config = validate_config({"texts": {"t": "t.txt"}})
    search = config["search"]
    assert (search["population"], search["sigma0"], search["crops"], search["iterations"]) == (50, 0.5, 64, 50)
    assert (search["crop_min"], search["crop_max"], search["covariance"], search["active"]) == (0.7, 0.98, "full", True)
    film = config["film"]
    assert (film["fps"], film["hold"], film["steps"]) == (30, 30, 90)
    assert config["generator"]["truncation"] == 1.0


def test_validation_does_not_modify_its_input():
    raw = {"texts": {"t": "t.txt"}}
    validate_config(raw)
    assert raw == {"texts": {"t": "t.txt"}}


def test_misspelled_key_is_named():
    with pytest.raises(ConfigError, match=r"unknown config key 'search.iteratons'"):
        validate_config({"texts": {"t": "t.txt"}, "search": {"iteratons": 5}})


def test_wrong_type_is_named():
    with pytest.raises(ConfigError, match=r"config key 'search.iterations': 'fifty' is not of type 'integer'"):
        validate_config({"texts": {"t": "t.txt"}, "search": {"iterations": "fifty"}})


def test_missing_texts_and_bad_text_name():
    with pytest.raises(ConfigError, match="missing the key 'texts'"):
        validate_config({})
    with pytest.raises(ConfigError, match="config key 'texts'"):
        validate_config({"texts": {"has space": "t.txt"}})


def test_crop_range_must_be_ordered():
    with pytest.raises(ConfigError, match="search.crop_min"):
        validate_config({"texts": {"t": "t.txt"}, "search": {"crop_min": 0.9, "crop_max": 0.8}})


def test_unknown_language_and_bad_template_are_named():
    config = validate_config({"texts": {"t": "t.txt"}, "text": {"language": "xx"}})
    with pytest.raises(ConfigError, match="text.language"):
        check_settings(config)
    config = validate_config({"texts": {"t": "t.txt"}, "text": {"template": "a painting"}})
    with pytest.raises(ValueError, match="text.template"):
        check_settings(config)


def _schema_keys(schema, prefix=""):
    for name, sub in schema.get("properties", {}).items():
        key = f"{prefix}{name}"
        yield key
        yield from _schema_keys(sub, key + ".")


def test_every_key_is_documented_in_config_readme():
    readme = (REPO / "config" / "README.md").read_text()
    documented = set(re.findall(r"^\|\s*`([a-z0-9_.]+)`", readme, flags=re.M))
    keys = set(_schema_keys(load_schema()))
    assert keys - documented == set(), "undocumented config keys"
    assert documented - keys == set(), "documented keys that do not exist"


def test_every_key_appears_in_the_default_config():
    default = yaml.safe_load((REPO / "config" / "config.yaml").read_text())

    def has(config, key):
        for part in key.split("."):
            if not isinstance(config, dict) or part not in config:
                return False
            config = config[part]
        return True

    keys = [k for k in _schema_keys(load_schema()) if not k.startswith("texts.")]
    assert [k for k in keys if not has(default, k)] == []


def _schema_defaults(schema, prefix=""):
    for name, sub in schema.get("properties", {}).items():
        if "default" in sub and "properties" not in sub:
            yield f"{prefix}{name}", sub["default"]
        yield from _schema_defaults(sub, f"{prefix}{name}.")


def test_the_default_config_and_the_readme_repeat_the_schemas_defaults():
    """The schema is the one source of every default; the files that repeat them for readers agree."""
    default = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    readme = (REPO / "config" / "README.md").read_text()
    cells = dict(re.findall(r"^\|\s*`([a-z0-9_.]+)`\s*\|\s*`([^`]*)`\s*\|", readme, flags=re.M))
    wrong = []
    for key, value in _schema_defaults(load_schema()):
        found = default
        for part in key.split("."):
            found = found[part]
        if found != value:
            wrong.append(f"config/config.yaml {key}: {found!r}, the schema's default is {value!r}")
        if key in cells:
            text = cells[key]
            written = text if isinstance(value, str) else yaml.safe_load(text)
            if text == '""':
                written = ""
            if written != value:
                wrong.append(f"config/README.md {key}: {text}, the schema's default is {value!r}")
    assert not wrong, "\n".join(wrong)
    assert len(cells) > 60  # the tables were read


def test_the_typed_settings_take_their_defaults_from_the_schema():
    from dataclasses import fields

    from machine_imagination.film.captions import CaptionStyle
    from machine_imagination.film.settings import FilmSettings
    from machine_imagination.schema import defaults
    from machine_imagination.search.judge import JudgeSettings
    from machine_imagination.search.settings import ENGINE_EXTRA, SPEED_ONLY, SearchSettings

    for typed, section in ((SearchSettings, ("search",)), (JudgeSettings, ("judge",)), (FilmSettings, ("film",)),
                           (CaptionStyle, ("film", "caption"))):
        schema = defaults(*section)
        own = {f.name: f.default for f in fields(typed) if f.name in schema and f.name != "caption"}
        assert own == {k: schema[k] for k in own}, typed
    # every search key is either a setting of the engine, or said to change no result, or the job's
    assert set(defaults("search")) == {f.name for f in fields(SearchSettings)} - {"truncation"} | set(
        SPEED_ONLY) | set(ENGINE_EXTRA)


@pytest.mark.parametrize("change, message", [
    ({"search": {"class_entropy": "1e-4"}}, r"'search.class_entropy': '1e-4' is not of type 'number' \(YAML reads 1e-4 "
                                            r"as text, not as a number: write 1.0e-4, with a dot\)"),
    ({"search": {"iterations": "1e3"}}, r"'search.iterations': '1e3' is not of type 'integer' \(YAML reads 1e3 as "
                                        r"text: write 1000\)"),
    ({"film": {"card_seconds": float("inf")}}, "config key 'film.card_seconds': inf is not a finite number"),
    ({"film": {"hold_max": float("nan")}}, "config key 'film.hold_max': nan is not a finite number"),
    ({"film": {"credits": "The\x00End"}}, r"config key 'film.credits': control character U\+0000 \(NUL\)"),
    ({"search": {"population": 10**9}}, r"'search.population': 1000000000 is greater than the maximum of 10000 "
                                        r"\(every generation renders and scores each candidate"),
    ({"film": {"size": 100000}}, r"'film.size': 100000 is greater than the maximum of 8192 \(8192 pixels"),
    ({"search": {"optimizer": "x" * 10**6}}, r"'search.optimizer': 'x{80}…' \(1000000 characters\) is not one of"),
])
def test_values_that_cannot_work_are_named_on_one_line(change, message):
    with pytest.raises(ConfigError, match=message) as caught:
        validate_config({"texts": {"t": "t.txt"}, **change})
    assert all(len(line) < 500 for line in str(caught.value).splitlines())


def test_a_yaml_alias_bomb_is_refused_without_expanding_it():
    levels = ["a: &a [x, x, x, x, x, x, x, x, x, x]"] + [
        f"{b}: &{b} [{', '.join(['*' + a] * 10)}]" for a, b in zip("abcdefgh", "bcdefghi")]
    bomb = yaml.safe_load("\n".join(levels))  # 10**9 strings, were it expanded
    with pytest.raises(ConfigError, match="holds more than 100000 values"):
        validate_config({"texts": {"t": "t.txt"}, "text": bomb["i"]})
    small = yaml.safe_load("\n".join(levels[:4]))  # 10**4: within the budget; the message shows a line of it
    with pytest.raises(ConfigError, match=r"config key 'text': \[\[\[\['x', .*… is not of type 'object'$") as caught:
        validate_config({"texts": {"t": "t.txt"}, "text": small["d"]})
    assert len(str(caught.value)) < 300


def test_the_schema_bounds_are_the_codes():
    from machine_imagination.text import MAX_ITERATIONS, MAX_SENTENCE_CHARS, SEED_MAX

    schema = load_schema()
    assert schema["properties"]["seed"]["maximum"] == SEED_MAX
    assert schema["properties"]["search"]["properties"]["iterations"]["maximum"] == MAX_ITERATIONS
    readme = (REPO / "config" / "README.md").read_text()
    assert re.search(rf"at most {MAX_SENTENCE_CHARS}\s+characters", readme) and "2⁶³ − 1" in readme
