"""The config's schema (`config/config.schema.yaml`): the one source of every key's default. The typed
settings of each stage (`search.settings.SearchSettings`, `search.judge.JudgeSettings`,
`film.settings.FilmSettings`, …) take their defaults from here, and tests check the files that repeat
them for readers (config/config.yaml, config/README.md) against it."""
from __future__ import annotations

import functools
from pathlib import Path

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "config" / "config.schema.yaml"


@functools.lru_cache(maxsize=None)
def _schema(path: str) -> dict:
    import yaml

    return yaml.safe_load(Path(path).read_text())


def load_schema(path: str | Path = SCHEMA_PATH) -> dict:
    import copy

    return copy.deepcopy(_schema(str(path)))


def defaults(*section: str) -> dict:
    """The schema's default of every key of a config section: defaults('search'), defaults('film',
    'caption'); a key without a default is left out."""
    node = _schema(str(SCHEMA_PATH))
    for name in section:
        node = node["properties"][name]
    return {key: sub["default"] for key, sub in node["properties"].items() if "default" in sub}
