"""The commands every RESP endpoint of ours answers: the handshake and pub/sub.

Kept apart from :mod:`gungnir.runtime.resp_server` so the server module holds only framing
and dispatch. Texts and shapes follow Valkey, because clients branch on them: redis-py sends
``HELLO 3`` (or ``AUTH``) then ``CLIENT SETINFO``, expects ``NOAUTH``/``WRONGPASS`` codes it
maps to exceptions, and reads subscription confirmations frame by frame.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gungnir import __version__
from gungnir.resp import Push, SimpleString
from gungnir.runtime.resp_server import OK, CommandError, Frames

if TYPE_CHECKING:
    from gungnir.runtime.resp_server import RespConnection, RespServer

__all__ = ["install"]

WRONGPASS = "WRONGPASS invalid username-password pair or user is disabled."
NOPASS = (
    "ERR AUTH <password> called without any password configured for the default user. "
    "Are you sure your configuration is correct?"
)
BAD_NAME = "ERR Client names cannot contain spaces, newlines or special characters."


def _text(arg: bytes) -> str:
    return arg.decode("utf-8", "replace")


def _valid_name(name: bytes) -> bool:
    """Valkey allows printable ASCII without spaces in client names."""
    return all(0x21 <= b <= 0x7E for b in name)


def _authenticate(conn: RespConnection, user: bytes, password: bytes) -> None:
    check = conn.server.auth
    name = _text(user)
    if check is None:
        ok = name == "default"
    else:
        ok = check(name, _text(password))
    if not ok:
        raise CommandError(WRONGPASS)
    conn.user = name
    conn.authenticated = True


def hello(conn: RespConnection, args: list[bytes]) -> Any:
    """HELLO [protover [AUTH user pass] [SETNAME name]]: pick RESP2/3 and introduce us."""
    version = conn.protocol
    if len(args) >= 2:
        try:
            version = int(args[1])
        except ValueError:
            raise CommandError("ERR Protocol version is not an integer or out of range") from None
        if version not in (2, 3):
            raise CommandError("NOPROTO unsupported protocol version")
    auth: tuple[bytes, bytes] | None = None
    name: bytes | None = None
    i = 2
    while i < len(args):
        option = args[i].lower()
        if option == b"auth" and i + 2 < len(args):
            auth = (args[i + 1], args[i + 2])
            i += 3
        elif option == b"setname" and i + 1 < len(args):
            name = args[i + 1]
            i += 2
        else:
            raise CommandError(f"ERR Syntax error in HELLO option '{_text(args[i])}'")
    if auth is not None:
        _authenticate(conn, *auth)
    if not conn.authenticated:
        raise CommandError(
            "NOAUTH HELLO must be called with the client already authenticated, otherwise the "
            "HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client "
            "and select the RESP protocol version at the same time"
        )
    if name is not None:
        if not _valid_name(name):
            raise CommandError(BAD_NAME)
        conn.name = name or None
    conn.protocol = version
    server = conn.server
    info: dict[str, Any] = {
        "server": server.server_name,
        "version": server.version,
        "proto": version,
        "id": conn.id,
        "mode": server.mode,
    }
    if server.role is not None:
        info["role"] = server.role
    info["modules"] = []
    # ``version`` is what clients gate features on (a Sentinel endpoint claims a Valkey
    # version); gungnir's own version gets a field of its own.
    info["gungnir_version"] = __version__
    return info


def auth(conn: RespConnection, args: list[bytes]) -> Any:
    """AUTH [user] password."""
    if len(args) > 3:
        raise CommandError("ERR syntax error")
    if len(args) == 2:
        if conn.server.auth is None:
            raise CommandError(NOPASS)
        _authenticate(conn, b"default", args[1])
    else:
        _authenticate(conn, args[1], args[2])
    return OK


def ping(conn: RespConnection, args: list[bytes]) -> Any:
    if len(args) > 2:
        raise CommandError("ERR wrong number of arguments for 'ping' command")
    if conn.in_resp2_pubsub:
        return [b"pong", args[1] if len(args) == 2 else b""]
    return args[1] if len(args) == 2 else SimpleString("PONG")


def echo(conn: RespConnection, args: list[bytes]) -> Any:
    return args[1]


def quit_(conn: RespConnection, args: list[bytes]) -> Any:
    conn.close_after_reply()
    return OK


def reset(conn: RespConnection, args: list[bytes]) -> Any:
    """RESET: back to a fresh connection (RESP2, no subscriptions, no name, logged out)."""
    server = conn.server
    for channel in list(conn.channels):
        server.unsubscribe(conn, channel)
    for pattern in list(conn.patterns):
        server.unsubscribe(conn, pattern, pattern=True)
    conn.protocol = 2
    conn.name = None
    conn.user = "default"
    conn.authenticated = server.auth is None
    return SimpleString("RESET")


def client_setname(conn: RespConnection, args: list[bytes]) -> Any:
    if not _valid_name(args[2]):
        raise CommandError(BAD_NAME)
    conn.name = args[2] or None
    return OK


def client_getname(conn: RespConnection, args: list[bytes]) -> Any:
    return conn.name


def client_id(conn: RespConnection, args: list[bytes]) -> Any:
    return conn.id


def client_setinfo(conn: RespConnection, args: list[bytes]) -> Any:
    option = args[2].lower()
    if option not in (b"lib-name", b"lib-ver"):
        raise CommandError(f"ERR Unrecognized option '{_text(args[2])}'")
    if not all(0x21 <= b <= 0x7E for b in args[3]):
        raise CommandError(
            f"ERR {_text(option)} cannot contain spaces, newlines or special characters."
        )
    if option == b"lib-name":
        conn.lib_name = args[3]
    else:
        conn.lib_ver = args[3]
    return OK


def client_help(conn: RespConnection, args: list[bytes]) -> Any:
    return [
        "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "GETNAME",
        "    Return the name of the current connection.",
        "ID",
        "    Return the ID of the current connection.",
        "SETINFO <option> <value>",
        "    Set client meta attr. Options are LIB-NAME and LIB-VER.",
        "SETNAME <name>",
        "    Assign the name <name> to the current connection.",
        "HELP",
        "    Print this help.",
    ]


def _frame(conn: RespConnection, items: list[Any]) -> Any:
    return Push(items) if conn.protocol == 3 else items


def _subscribe(conn: RespConnection, args: list[bytes], pattern: bool) -> Any:
    kind = b"psubscribe" if pattern else b"subscribe"
    frames = []
    for channel in args[1:]:
        conn.server.subscribe(conn, channel, pattern)
        frames.append(_frame(conn, [kind, channel, conn.subscriptions]))
    return Frames(tuple(frames))


def _unsubscribe(conn: RespConnection, args: list[bytes], pattern: bool) -> Any:
    kind = b"punsubscribe" if pattern else b"unsubscribe"
    mine = conn.patterns if pattern else conn.channels
    targets = args[1:] or sorted(mine)
    if not targets:
        return Frames((_frame(conn, [kind, None, conn.subscriptions]),))
    frames = []
    for channel in targets:
        conn.server.unsubscribe(conn, channel, pattern)
        frames.append(_frame(conn, [kind, channel, conn.subscriptions]))
    return Frames(tuple(frames))


def publish(conn: RespConnection, args: list[bytes]) -> Any:
    return conn.server.publish(args[1], args[2])


def install(server: RespServer) -> None:
    """Register the built-in commands on ``server``; later registrations may replace them."""
    server.register("hello", hello, arity=-1, noauth=True)
    server.register("auth", auth, arity=-2, noauth=True)
    server.register("ping", ping, arity=-1, pubsub=True)
    server.register("echo", echo, arity=2)
    server.register("quit", quit_, arity=-1, noauth=True, pubsub=True)
    server.register("reset", reset, arity=1, noauth=True, pubsub=True)
    server.register("client", None, arity=-2)
    server.register_subcommand("client", "setname", client_setname, arity=3)
    server.register_subcommand("client", "getname", client_getname, arity=2)
    server.register_subcommand("client", "id", client_id, arity=2)
    server.register_subcommand("client", "setinfo", client_setinfo, arity=4)
    server.register_subcommand("client", "help", client_help, arity=2)
    server.register("subscribe", lambda c, a: _subscribe(c, a, False), arity=-2, pubsub=True)
    server.register("psubscribe", lambda c, a: _subscribe(c, a, True), arity=-2, pubsub=True)
    server.register("unsubscribe", lambda c, a: _unsubscribe(c, a, False), arity=-1, pubsub=True)
    server.register("punsubscribe", lambda c, a: _unsubscribe(c, a, True), arity=-1, pubsub=True)
    server.register("publish", publish, arity=3)
