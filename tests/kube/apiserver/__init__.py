"""A Kubernetes API server emulator for tests (see ``server.py`` for its scope)."""

from .faults import Fault, Request
from .server import ApiServer, status_body
from .store import ApiError, Kind, Store

__all__ = ["ApiError", "ApiServer", "Fault", "Kind", "Request", "Store", "status_body"]
