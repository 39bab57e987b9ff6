"""Verification of the failover core.

- :mod:`.world`, :mod:`.explore`, :mod:`.invariants`: the exhaustive model checker driving
  the real :func:`gungnir.core.step` (``gungnir verify``, :mod:`.cli`).
- :mod:`.mutants`: broken cores the checker must catch.
- :mod:`.abstract`, :mod:`.proofs`: the abstract election model and its Z3 proofs.
- :mod:`.trace`, :mod:`.traces`: decision-log replay and emission.
"""
