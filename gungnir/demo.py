"""``gungnir demo``: the README's main command.

It starts a local Valkey group from the pinned binary, shows its topology and proves that
writes on the primary reach every replica, then stops every process it started.
"""

from __future__ import annotations

import sys
import time

from gungnir import resp
from gungnir.local import start_group, wait_until


def main(replicas: int = 2) -> int:
    print(f"gungnir demo: codec implementation = {resp.IMPLEMENTATION}")
    started = time.monotonic()
    with start_group(replicas=replicas) as group:
        print(f"group up in {time.monotonic() - started:.2f}s")
        for node in group.nodes:
            info = node.info()
            role = info.get("role", "?")
            extra = (
                f"{info.get('connected_slaves', '0')} replica(s)"
                if role == "master"
                else f"link {info.get('master_link_status', '?')}"
            )
            print(f"  {node.name:8} pid {node.pid:>7} 127.0.0.1:{node.port:<5} {role:6} {extra}")
        count = 100
        for i in range(count):
            group.primary.command("SET", f"demo:{i}", str(i))
        reply = group.primary.command("WAIT", str(len(group.replicas)), "2000")
        print(f"wrote {count} keys; WAIT acknowledged by {reply} replica(s)")
        for replica in group.replicas:
            wait_until(
                lambda r=replica: r.command("DBSIZE") == count,
                timeout=5.0,
                what=f"{replica.name} to hold {count} keys",
            )
        print(f"every replica holds all {count} keys")
    print("stopped every process")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
