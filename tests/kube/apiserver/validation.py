"""Object validation: names, labels, annotations, and CRD schemas (422 Invalid)."""

from __future__ import annotations

import re
from typing import Any

import jsonschema

from .store import ApiError, Kind

_NAME = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_LABEL_VALUE = re.compile(r"([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?")


def validate(kind: Kind, obj: Any, namespace: str) -> dict[str, Any]:
    """Check and complete an object the way the API server does before storing it.

    Names must be RFC 1123 subdomains, label values valid, annotations strings, and custom
    resources must satisfy their CRD's OpenAPI schema; every failure is one ``cause`` of a
    422 Invalid, as the real server reports them.
    """
    if not isinstance(obj, dict):
        raise ApiError(400, "BadRequest", "the body must be a JSON object")
    if obj.get("kind") not in (None, kind.kind):
        raise ApiError(400, "BadRequest", f"kind {obj.get('kind')} does not match {kind.kind}")
    meta = obj.setdefault("metadata", {})
    if not isinstance(meta, dict):
        raise ApiError(400, "BadRequest", "metadata must be an object")
    obj["kind"], obj["apiVersion"] = kind.kind, kind.api_version
    if kind.namespaced:
        if meta.get("namespace") not in (None, "", namespace):
            raise ApiError(
                400,
                "BadRequest",
                "the namespace of the object does not match the namespace of the request",
            )
        meta["namespace"] = namespace
    causes = []
    name = meta.get("name", "")
    if not isinstance(name, str) or len(name) > 253 or not _NAME.fullmatch(name):
        causes.append(
            {
                "field": "metadata.name",
                "reason": "FieldValueInvalid",
                "message": f"Invalid value: {name!r}: a lowercase RFC 1123 "
                "subdomain must consist of lower case alphanumeric characters, "
                "'-' or '.'",
            }
        )
    for key, value in (meta.get("labels") or {}).items():
        if not isinstance(value, str) or len(value) > 63 or not _LABEL_VALUE.fullmatch(value):
            causes.append(
                {
                    "field": f"metadata.labels.{key}",
                    "reason": "FieldValueInvalid",
                    "message": f"Invalid value: {value!r}",
                }
            )
    for key, value in (meta.get("annotations") or {}).items():
        if not isinstance(value, str):
            causes.append(
                {
                    "field": f"metadata.annotations.{key}",
                    "reason": "FieldValueInvalid",
                    "message": "must be a string",
                }
            )
    if kind.schema is not None:
        body = {k: v for k, v in obj.items() if k not in ("metadata",)}
        schema = {k: v for k, v in kind.schema.items() if k != "properties"}
        schema["properties"] = {
            k: v for k, v in (kind.schema.get("properties") or {}).items() if k != "metadata"
        }
        for err in jsonschema.Draft7Validator(schema).iter_errors(body):
            field = ".".join(str(p) for p in err.absolute_path) or "<root>"
            causes.append({"field": field, "reason": "FieldValueInvalid", "message": err.message})
    if causes:
        raise ApiError(
            422,
            "Invalid",
            f'{kind.kind} "{name}" is invalid: '
            + ", ".join(f"{c['field']}: {c['message']}" for c in causes),
            {"name": name, "group": kind.group, "kind": kind.plural, "causes": causes},
        )
    return obj
