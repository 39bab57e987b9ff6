"""docs/configuration.md is generated from the schema; it fails here the day they differ."""

from __future__ import annotations

import dataclasses

import pytest

from gungnir import configref
from gungnir.core import settings as core_settings
from gungnir.runtime import config as runtime_config


def test_committed_reference_matches_the_schema():
    assert configref.DOC.read_text() == configref.render(), (
        "docs/configuration.md is stale: run python -m gungnir.configref --write"
    )
    assert configref.main(["--check"]) == 0


def _rows(text: str) -> dict[str, str]:
    rows = {}
    for line in text.splitlines():
        if line.startswith("| `"):
            key = line.split("`")[1]
            rows.setdefault(key, line)
    return rows


def test_every_setting_and_loader_key_has_a_row_with_its_default():
    rows = _rows(configref.render())
    for f in dataclasses.fields(core_settings.Settings):
        if not f.repr or f.name == "group":
            continue
        assert f.name in rows, f"Settings.{f.name} is missing from the reference"
        if isinstance(f.default, int | float) and not isinstance(f.default, bool):
            assert f"| {f.default!r} |" in rows[f.name], rows[f.name]
    for key in [*configref.daemon_keys(), *configref.group_runtime_keys()]:
        assert key in rows, f"loader key {key} is missing from the reference"


def test_runtime_help_covers_exactly_the_loader_keys():
    keys = set(configref.daemon_keys()) | set(configref.group_runtime_keys())
    assert set(runtime_config.HELP) == keys == set(runtime_config.DEFAULTS), (
        "loader keys and help texts differ: add or remove the text in "
        "gungnir/runtime/config.py (_DOCS), then run python -m gungnir.configref --write"
    )
    assert all(runtime_config.HELP.values()) and all(runtime_config.DEFAULTS.values())
    assert all(item["help"] for item in core_settings.describe_settings())


def test_environment_column_names_variables_the_loader_honours():
    rows = _rows(configref.render())
    for env, key in runtime_config.ENV.items():
        assert f"`{env}`" in rows[key]


def test_a_new_setting_makes_the_committed_page_stale(monkeypatch):
    real = core_settings.describe_settings

    def more():
        return [
            *real(),
            {
                "name": "new_knob",
                "type": "float",
                "default": 1.0,
                "required": False,
                "help": "A knob.",
            },
        ]

    monkeypatch.setattr(core_settings, "describe_settings", more)
    assert "`new_knob`" in configref.render()
    assert configref.main(["--check"]) == 1


@pytest.mark.parametrize("key", ["down_after", "quorum"])
def test_defaults_in_the_page_are_the_ones_the_loader_applies(key):
    doc = {
        "daemon": {"id": "d1", "state_dir": "/nonexistent"},
        "peers": {"d1": "127.0.0.1:1", "d2": "127.0.0.1:2", "d3": "127.0.0.1:3"},
        "groups": {"g": {"nodes": {"n": "127.0.0.1:6379"}}},
    }
    doc["daemon"]["secret"] = "s" * 16
    loaded = getattr(runtime_config.load(doc=doc, env={}).groups["g"].settings, key)
    assert f"| {loaded!r} |" in _rows(configref.render())[key]
