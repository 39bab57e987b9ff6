"""Type stub for the compiled RESP codec (same surface as the pure twin in _resp_py)."""

from collections.abc import Callable, Iterable, Sequence
from typing import Any, final

from gungnir._resp_types import Push
from gungnir._resp_types import Verbatim as Verbatim

@final
class Reader:
    """Incremental RESP2/RESP3 reader; see :class:`gungnir._resp_py.PyReader`."""

    attributes: dict[Any, Any] | None
    def __init__(
        self,
        *,
        encoding: str | None = None,
        errors: str = "strict",
        max_depth: int = 1024,
        max_bulk_len: int = 512 * 1024 * 1024,
        max_elements: int = 2**32,
        push_handler: Callable[[Push], object] | None = None,
    ) -> None: ...
    def feed(
        self, data: bytes | bytearray | memoryview, offset: int = 0, length: int = -1
    ) -> None: ...
    def gets(self) -> Any: ...
    def has_data(self) -> bool: ...
    def buffered(self) -> int: ...
    def reset(self) -> None: ...

def pack_command(*args: Any) -> bytes: ...
def pack_commands(commands: Iterable[Sequence[Any]]) -> bytes: ...
