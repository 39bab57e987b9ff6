"""Render ``docs/configuration.md`` from the configuration schema, so the reference cannot lie.

Why generated: a hand-written reference drifts the day someone adds a setting or changes a
default, and an operator at 3 a.m. trusts the page, not the code.  The sources are the ones the
daemon itself obeys: the core's :class:`~gungnir.core.settings.Settings` (fields, defaults,
``describe_settings()`` help, derived properties), the daemon configuration loader
(``gungnir.runtime.config``: its keys, environment variables and dataclass defaults), the
ValkeyGroup spec mapping (``gungnir.kube.spec``) and the CRD's own descriptions.  A test
(``tests/test_configref.py``) fails when the committed page differs from :func:`render`.

The runtime loader has no help texts of its own yet; :data:`RUNTIME_HELP` holds them here,
keyed by the loader's keys, and the test fails when a loader key has no text or a text names
a key the loader no longer has.  If ``gungnir.runtime.config`` grows a ``HELP`` mapping, its
texts win.

    python -m gungnir.configref            # print the page
    python -m gungnir.configref --write    # rewrite docs/configuration.md
    python -m gungnir.configref --check    # exit 1 if the page is stale
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gungnir.core import settings as core_settings
from gungnir.runtime import config as runtime_config

__all__ = ["RUNTIME_HELP", "daemon_keys", "group_runtime_keys", "main", "render"]

DOC = Path(__file__).resolve().parent.parent / "docs" / "configuration.md"
CRD = Path(__file__).resolve().parent.parent / "k8s" / "base" / "crd-valkeygroup.yaml"

#: Help for the loader's keys (``daemon.*`` and the per-group runtime keys), with the default
#: in words where the loader computes it.  ``(default, help)``.
RUNTIME_HELP: dict[str, tuple[str, str]] = {
    "id": ("required", "This daemon's name; must be one of `peers`."),
    "bind": (
        "this daemon's `peers` entry",
        "host:port of the RESP endpoint: Sentinel commands, operator commands, peer protocol.",
    ),
    "state_dir": (
        "required",
        "Directory of the durable epoch and vote, one file per group; fsynced before any "
        "message that depends on it leaves the daemon.",
    ),
    "secret": (
        "none",
        "Shared secret of the peers (at least 8 characters). Required when there are peers. "
        "Prefer `secret_file`.",
    ),
    "secret_file": ("none", "File holding the shared secret; wins over `secret`."),
    "tls": (
        "none",
        "`{cert, key, ca, server_name}`: TLS on the whole endpoint; peers verify each "
        "other's certificate against `ca`.",
    ),
    "decision_log": (
        "none",
        "JSON-lines file of the core's decisions, replayable by `python -m gungnir.verify.trace`.",
    ),
    "log_format": ("`text`", "`text` or `json` (one object per line, with group and epoch)."),
    "log_level": ("`INFO`", "`DEBUG`, `INFO`, `WARNING` or `ERROR`."),
    "metrics_bind": ("none", "host:port for `/metrics`, `/healthz` and `/readyz`."),
    "sentinel_password": (
        "none",
        "Password Sentinel clients and the CLI must AUTH with (Sentinel's `requirepass`).",
    ),
    "password": ("none", "AUTH password for the group's Valkey nodes."),
    "username": ("none", "AUTH user name (ACL) for the group's Valkey nodes."),
    "probe_timeout": (
        "max(0.2, min(1.0, down_after / 2))",
        "Seconds a probe may take before the node counts as not answering; must be < `down_after`.",
    ),
    "action_timeout": ("3.0", "Seconds a node action (fence, promote, repoint) may take."),
}


def daemon_keys() -> list[str]:
    """Keys of the ``daemon`` section, as the loader accepts them."""
    return sorted(runtime_config._DAEMON_KEYS)


def group_runtime_keys() -> list[str]:
    """Per-group keys the loader takes besides the core's Settings fields."""
    return sorted(runtime_config._GROUP_RUNTIME_KEYS - {"nodes"})


def _help(key: str) -> tuple[str, str]:
    owner: Mapping[str, Any] = getattr(runtime_config, "HELP", {})
    default, text = RUNTIME_HELP.get(key, ("", ""))
    if key in owner:
        text = str(owner[key])
    return default, text


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _default(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, tuple):
        return "none" if not value else ", ".join(value)
    if isinstance(value, str):
        return f"`{value}`"
    return repr(value)


def _crd_spec() -> dict[str, Any]:
    import yaml

    doc = yaml.safe_load(CRD.read_text())
    schema = doc["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    spec: dict[str, Any] = schema["properties"]["spec"]["properties"]
    return spec


def render() -> str:
    """The whole reference page, as Markdown."""
    from gungnir.kube.spec import CORE_FIELDS, KUBE_FIELDS

    spec_name = {core: camel for camel, (core, _) in CORE_FIELDS.items()}
    env_of = {key: env for env, key in runtime_config.ENV.items()}
    out = [
        "# Configuration reference",
        "",
        "<!-- GENERATED by `python -m gungnir.configref --write` from the configuration schema",
        "     (gungnir.core.settings, gungnir.runtime.config, gungnir.kube.spec, the CRD). "
        "Do not edit;",
        "     tests/test_configref.py fails when this page and the schema differ. -->",
        "",
        "A daemon reads one YAML or TOML file (`gungnir run --config FILE`) with three "
        "sections: `daemon` (this daemon), `peers` (the fixed daemon set, name -> host:port) "
        "and `groups` (name -> group settings). Environment variables override the file and "
        "flags (`--state-dir`, the key with dashes) override both. Everything is validated at "
        "start-up; an invalid file stops the daemon with exit status 2 and a message naming "
        "the key. In Kubernetes the group settings come from a ValkeyGroup resource instead, "
        "with the camelCase names below and durations as strings (`500ms`, `5s`, `1m30s`).",
        "",
        "Times are seconds. Worked examples: `docs/daemon.md`; how to choose the timings: "
        "`docs/tuning.md`.",
        "",
        "## `daemon`",
        "",
        "| key | environment | default | meaning |",
        "|---|---|---|---|",
    ]
    for key in daemon_keys():
        default, text = _help(key)
        env = f"`{env_of[key]}`" if key in env_of else ""
        out.append(f"| `{key}` | {env} | {_cell(default)} | {_cell(text)} |")
    out += [
        "",
        "## `peers`",
        "",
        "A map of daemon name to `host:port` (`[v6]:port` for IPv6): the whole daemon set, "
        "this daemon included. It is fixed; daemons are never learned from gossip. Every "
        "group's `voters` must be peers.",
        "",
        "## `groups.<name>`",
        "",
        "| key | ValkeyGroup spec | default | meaning |",
        "|---|---|---|---|",
        "| `nodes` | (pods by `selector`) | required | The group's Valkey nodes: stable "
        "name -> host:port. |",
    ]
    for item in core_settings.describe_settings():
        name = item["name"]
        if name in ("group", "nodes"):
            continue
        if name == "voters":
            default = "all `peers`"
        elif item["required"]:
            default = "required"
        else:
            default = _default(item["default"])
        camel = f"`{spec_name[name]}`" if name in spec_name else ""
        out.append(f"| `{name}` | {camel} | {_cell(default)} | {_cell(item['help'])} |")
    for key in group_runtime_keys():
        default, text = _help(key)
        out.append(f"| `{key}` | | {_cell(default)} | {_cell(text)} |")

    crd = _crd_spec()
    out += [
        "",
        "## ValkeyGroup only",
        "",
        "| spec field | meaning |",
        "|---|---|",
    ]
    for camel in KUBE_FIELDS:
        text = str(crd.get(camel, {}).get("description", "")).strip()
        text = text.replace("<", "&lt;") or "_(no description in the CRD schema)_"
        out.append(f"| `{camel}` | {_cell(text)} |")

    out += [
        "",
        "## Derived values",
        "",
        "Computed from the settings, never set directly:",
        "",
    ]
    for name, member in vars(core_settings.Settings).items():
        if isinstance(member, property) and member.__doc__:
            doc = " ".join(member.__doc__.split())
            out.append(f"- `{name}`: {doc}")
    out += [
        "",
        "## Rules checked at start-up",
        "",
        "- `voters` (and `next_voters`, when set) name 3 or 5 daemons, all of them `peers`.",
        "- `1 <= quorum <= len(voters)`.",
        "- `report_ttl >= down_after`; `probe_timeout < down_after`.",
        "- The fencing timing rule: `fence_after + probe_interval + max_clock_drift < "
        "promote_after`, so an isolated primary is fenced by its own side before the majority "
        "side may promote without having fenced it.",
        "- A shared secret of at least 8 characters whenever there are peers.",
        "",
    ]
    return "\n".join(out)


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        current = DOC.read_text() if DOC.exists() else ""
        if current != text:
            print(f"{DOC.name} is stale: run python -m gungnir.configref --write", file=sys.stderr)
            return 1
        return 0
    if "--write" in argv:
        DOC.write_text(text)
        return 0
    sys.stdout.write(text)
    return 0


#: Settings fields every reference must list (exported for the test).
SETTINGS_FIELDS = [f.name for f in dataclasses.fields(core_settings.Settings) if f.repr]

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main(sys.argv[1:]))
