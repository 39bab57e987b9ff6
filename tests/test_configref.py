"""docs/configuration.md is generated from the schema; it fails here the day they differ."""

from __future__ import annotations

import dataclasses
import re

import pytest

from gungnir import configref, docfigures
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
        if f.name in core_settings.DERIVED_RULE:  # the rule that derives it from down_after
            assert f"derived: {core_settings.DERIVED_RULE[f.name]}" in rows[f.name]
        elif isinstance(f.default, int | float) and not isinstance(f.default, bool):
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


# -- lease figures in the other pages (gungnir.docfigures) ---------------------------------

#: A lease figure typed by hand: "lease of 4.6 s", "lease 3.6 s", "3.6 s write lease", or a
#: sum "= 3.0 s" in a sentence about the lease.  Figures computed from settings have one
#: decimal; measurements ("5.839 s", ranges such as "1.91-2.90 s") pass.
_TYPED = [
    re.compile(r"lease\b[^.|]{0,40}?(?<![\d.-])\d+\.\d s\b", re.I),
    re.compile(r"(?<![\d.-])\d+\.\d s (?:write )?lease", re.I),
]
_SUM = re.compile(r"= (?<![\d.-])\d+(?:\.\d)? s\b")


def typed_lease_figures(text: str) -> list[str]:
    """Sentences that quote a lease figure or formula outside a figure marker."""
    found = []
    for para in re.split(r"\n\s*\n", docfigures.MARK.sub("FIG", text)):
        for sentence in re.split(r"(?<=[.;])\s+", " ".join(para.split())):
            about = re.search(r"lease", sentence, re.I)
            if (
                "min_replicas_max_lag +" in sentence
                or any(p.search(sentence) for p in _TYPED)
                or (about and _SUM.search(sentence))
            ):
                found.append(sentence)
    return found


def test_lease_figures_in_the_pages_are_the_code_s():
    assert docfigures.stale_pages() == [], "run python -m gungnir.configref --write"
    for page in docfigures.PAGES:
        assert typed_lease_figures(page.read_text()) == [], (
            f"{page.name} quotes a lease figure by hand: use a <!--fig:...--> marker"
        )


def test_a_wrong_or_typed_figure_is_caught():
    # The concepts page before the figures were generated: 3.0 s and a 7.5 s failover.
    old = (
        "waits out its **write lease** `min_replicas_max_lag + lease_margin + max_clock_drift` "
        "(2.0 + 0.5 + 0.5 = 3.0 s) before the new primary accepts writes.\n\n"
        "* **Failover time** grows by the lease: about `promote_after + lease` = 4.5 + 3.0 = "
        "7.5 s with the defaults.\n\n| consistency, lease 3.6 s | 4.660 s |\n"
    )
    assert len(typed_lease_figures(old)) == 3
    assert typed_lease_figures("measured writes accepted 1.91-2.90 s after a lease cut.") == []
    marked = "<!--fig:lease-->3.0 s<!--/fig--> and <!--fig:failover-lease-->7.5 s<!--/fig-->"
    assert docfigures.fill(marked) == (
        "<!--fig:lease-->4.65 s<!--/fig--> and <!--fig:failover-lease-->7.65 s<!--/fig-->"
    )
    assert typed_lease_figures(marked) == []
    bench = "<!--fig:lease min_replicas_max_lag=1 max_clock_drift=0.1-->x<!--/fig-->"
    assert "-->3.6 s<!--" in docfigures.fill(bench)


@pytest.mark.parametrize(
    "changes",
    [{}, {"min_replicas_max_lag": 1.0, "max_clock_drift": 0.1}, {"lease_margin": 1.25}],
)
def test_the_formula_the_pages_quote_is_the_one_settings_computes(changes):
    s = docfigures.settings(**changes)
    assert sum(docfigures.lease_terms(s)) == pytest.approx(s.lease)
    formula = docfigures.FIGURES["lease-formula"](s).strip("`")
    value = eval(
        formula,
        {},
        {f: getattr(s, f) for f in ("min_replicas_max_lag", "lease_margin", "max_clock_drift")},
    )
    assert value == pytest.approx(s.lease)
