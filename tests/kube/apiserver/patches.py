"""The three patch flavours the API server accepts.

Merge patch is RFC 7386; JSON patch is RFC 6902 (with ``test``); strategic merge is the
Kubernetes variant, implemented for what clients use in practice: maps merge, ``null`` deletes,
lists of objects that carry a ``name`` (containers, ports, env, conditions by ``type``) merge by
that key, ``$patch: delete`` removes a list element or map, other lists are replaced.
"""

from __future__ import annotations

import copy
from typing import Any


class PatchError(ValueError):
    """The patch does not apply (the API server answers 422 or 400)."""


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


_MERGE_KEYS = ("name", "type", "containerPort", "port", "ip", "mountPath")


def _merge_key(items: list[Any]) -> str | None:
    for key in _MERGE_KEYS:
        if items and all(isinstance(i, dict) and key in i for i in items):
            return key
    return None


def strategic_merge_patch(target: Any, patch: Any) -> Any:
    """Strategic merge patch for maps and keyed lists (see module docstring)."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if patch.get("$patch") == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if key.startswith("$"):
            continue
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict) and value.get("$patch") == "delete":
            result.pop(key, None)
        elif isinstance(value, list) and isinstance(result.get(key), list):
            result[key] = _merge_list(result[key], value)
        else:
            result[key] = strategic_merge_patch(result.get(key), value)
    return result


def _merge_list(current: list[Any], patch: list[Any]) -> list[Any]:
    mkey = _merge_key([i for i in patch if not (isinstance(i, dict) and "$patch" in i)] or patch)
    if mkey is None or not all(isinstance(i, dict) and mkey in i for i in current):
        return copy.deepcopy(patch)
    out = [copy.deepcopy(i) for i in current]
    for item in patch:
        idx = next((n for n, c in enumerate(out) if c.get(mkey) == item.get(mkey)), None)
        if item.get("$patch") == "delete":
            if idx is not None:
                out.pop(idx)
        elif idx is None:
            out.append(copy.deepcopy(item))
        else:
            out[idx] = strategic_merge_patch(out[idx], item)
    return out


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise PatchError(f"invalid JSON pointer {path!r}")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _walk(doc: Any, parts: list[str]) -> Any:
    cur = doc
    for p in parts:
        if isinstance(cur, dict):
            if p not in cur:
                raise PatchError(f"path segment {p!r} not found")
            cur = cur[p]
        elif isinstance(cur, list):
            try:
                cur = cur[int(p)]
            except (ValueError, IndexError):
                raise PatchError(f"bad list index {p!r}") from None
        else:
            raise PatchError(f"cannot descend into {type(cur).__name__}")
    return cur


def _add(doc: Any, parts: list[str], value: Any, replace: bool) -> Any:
    if not parts:
        return copy.deepcopy(value)
    parent = _walk(doc, parts[:-1])
    last = parts[-1]
    if isinstance(parent, dict):
        if replace and last not in parent:
            raise PatchError(f"replace of missing key {last!r}")
        parent[last] = copy.deepcopy(value)
    elif isinstance(parent, list):
        if last == "-":
            parent.append(copy.deepcopy(value))
        else:
            try:
                idx = int(last)
            except ValueError:
                raise PatchError(f"bad list index {last!r}") from None
            if replace:
                if not 0 <= idx < len(parent):
                    raise PatchError(f"index {idx} out of range")
                parent[idx] = copy.deepcopy(value)
            else:
                if not 0 <= idx <= len(parent):
                    raise PatchError(f"index {idx} out of range")
                parent.insert(idx, copy.deepcopy(value))
    else:
        raise PatchError("parent is not a container")
    return doc


def _remove(doc: Any, parts: list[str]) -> tuple[Any, Any]:
    if not parts:
        raise PatchError("cannot remove the whole document")
    parent = _walk(doc, parts[:-1])
    last = parts[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise PatchError(f"remove of missing key {last!r}")
        return doc, parent.pop(last)
    if isinstance(parent, list):
        try:
            return doc, parent.pop(int(last))
        except (ValueError, IndexError):
            raise PatchError(f"bad list index {last!r}") from None
    raise PatchError("parent is not a container")


def json_patch(target: Any, ops: Any) -> Any:
    """RFC 6902 JSON patch: add, remove, replace, move, copy, test."""
    if not isinstance(ops, list):
        raise PatchError("a JSON patch must be a list of operations")
    doc = copy.deepcopy(target)
    for op in ops:
        if not isinstance(op, dict) or "op" not in op or "path" not in op:
            raise PatchError(f"malformed operation {op!r}")
        kind, parts = op["op"], _pointer(op["path"])
        if kind == "add":
            doc = _add(doc, parts, op.get("value"), replace=False)
        elif kind == "replace":
            doc = _add(doc, parts, op.get("value"), replace=True)
        elif kind == "remove":
            doc, _ = _remove(doc, parts)
        elif kind == "move":
            doc, value = _remove(doc, _pointer(op["from"]))
            doc = _add(doc, parts, value, replace=False)
        elif kind == "copy":
            doc = _add(doc, parts, _walk(doc, _pointer(op["from"])), replace=False)
        elif kind == "test":
            if _walk(doc, parts) != op.get("value"):
                raise PatchError(f"test failed at {op['path']!r}")
        else:
            raise PatchError(f"unknown operation {kind!r}")
    return doc


def apply_patch(content_type: str, target: Any, patch: Any) -> Any:
    """Dispatch on the request's Content-Type, as the API server does."""
    ctype = content_type.split(";")[0].strip().lower()
    if ctype == "application/merge-patch+json":
        return merge_patch(target, patch)
    if ctype == "application/strategic-merge-patch+json":
        return strategic_merge_patch(target, patch)
    if ctype == "application/json-patch+json":
        return json_patch(target, patch)
    raise PatchError(f"unsupported patch content type {content_type!r}")
