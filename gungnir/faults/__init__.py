"""Fault-injection harness: real processes in Linux network namespaces, real cuts.

The pieces, one module each:

- :mod:`~gungnir.faults.net` — a private switch, one namespace per test host, and the network
  faults (per-pair drops, link down, loss, delay) applied at that switch;
- :mod:`~gungnir.faults.nemesis` — faults as small ``start()``/``stop()`` objects;
- :mod:`~gungnir.faults.sut` — the "HA system under test" interface, implemented by
  :mod:`~gungnir.faults.sentinel` (Valkey's Sentinel, the baseline) and
  :mod:`~gungnir.faults.daemons` (Gungnir's ``gungnir run`` daemons, both policies);
- :mod:`~gungnir.faults.workload` and :mod:`~gungnir.faults.probe` — recorded client
  operations and role probes;
- :mod:`~gungnir.faults.checker` — pure analysis of a history: lost acknowledged writes,
  two-writer intervals, recovery and convergence;
- :mod:`~gungnir.faults.runner`, :mod:`~gungnir.faults.report` and
  :mod:`~gungnir.faults.campaign` — one scenario end to end, its files, and a campaign CLI.

Everything here needs root and ``ip``/``nft``; :func:`gungnir.faults.net.unavailable_reason`
says why a machine cannot run it.
"""
