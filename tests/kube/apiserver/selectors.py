"""Label and field selectors, parsed the way the API server parses them.

Why a real parser: the backend relies on ``in``/``notin``/``!key`` selectors for role and group
queries, and the selector-transition semantics of watches (objects entering and leaving the
selection) are only meaningful if matching is exactly the API server's.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

Matcher = Callable[[Mapping[str, Any]], bool]

_KEY = r"[A-Za-z0-9]([-A-Za-z0-9_./]*[A-Za-z0-9])?"
_VALUE = r"([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?"


class SelectorError(ValueError):
    """A selector the API server would reject with 400 BadRequest."""


def _split_top(text: str) -> list[str]:
    """Split on commas that are not inside a ``(...)`` value set."""
    parts: list[str] = []
    depth = 0
    cur = ""
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth < 0:
                raise SelectorError(f"unbalanced ')' in {text!r}")
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    if depth:
        raise SelectorError(f"unbalanced '(' in {text!r}")
    parts.append(cur)
    return [p.strip() for p in parts if p.strip()]


def _check_key(key: str) -> str:
    if not re.fullmatch(_KEY, key):
        raise SelectorError(f"invalid label key {key!r}")
    return key


def _check_value(value: str) -> str:
    if len(value) > 63 or not re.fullmatch(_VALUE, value):
        raise SelectorError(f"invalid label value {value!r}")
    return value


def _requirement(req: str) -> Callable[[Mapping[str, str]], bool]:
    m = re.fullmatch(r"(\S+)\s+(in|notin)\s*\((.*)\)", req)
    if m:
        key = _check_key(m.group(1))
        values = {_check_value(v.strip()) for v in m.group(3).split(",") if v.strip()}
        if not values:
            raise SelectorError(f"empty value set in {req!r}")
        if m.group(2) == "in":
            return lambda labels: labels.get(key) in values
        return lambda labels: labels.get(key) not in values
    m = re.fullmatch(r"(\S+?)\s*(==|!=|=)\s*(\S*)", req)
    if m:
        key = _check_key(m.group(1))
        value = _check_value(m.group(3))
        if m.group(2) == "!=":
            return lambda labels: labels.get(key) != value
        return lambda labels: key in labels and labels[key] == value
    if req.startswith("!"):
        key = _check_key(req[1:].strip())
        return lambda labels: key not in labels
    key = _check_key(req)
    return lambda labels: key in labels


def parse_label_selector(text: str | None) -> Matcher:
    """Return a predicate over an object for a ``labelSelector`` query string."""
    if not text:
        return lambda obj: True
    reqs = [_requirement(r) for r in _split_top(text)]

    def match(obj: Mapping[str, Any]) -> bool:
        labels = (obj.get("metadata") or {}).get("labels") or {}
        return all(r(labels) for r in reqs)

    return match


def _field(obj: Mapping[str, Any], path: str) -> str:
    cur: Any = obj
    for part in path.split("."):
        if not isinstance(cur, Mapping):
            return ""
        cur = cur.get(part)
    if cur is None:
        return ""
    if isinstance(cur, bool):
        return "true" if cur else "false"
    return str(cur)


def parse_field_selector(text: str | None) -> Matcher:
    """Return a predicate for a ``fieldSelector`` (``=``, ``==``, ``!=`` on dotted paths)."""
    if not text:
        return lambda obj: True
    reqs: list[tuple[str, bool, str]] = []
    for part in _split_top(text):
        m = re.fullmatch(r"([A-Za-z0-9_.]+)\s*(==|!=|=)\s*(.*)", part)
        if not m:
            raise SelectorError(f"invalid field selector {part!r}")
        reqs.append((m.group(1), m.group(2) == "!=", m.group(3).strip()))

    def match(obj: Mapping[str, Any]) -> bool:
        for path, negate, value in reqs:
            if (_field(obj, path) == value) == negate:
                return False
        return True

    return match
