"""The model of a daemon with a wrong peer secret (gungnir/verify/badsecret.py): its
refused authentications count as answers for the minority-side rule only while a link
exists, so it neither fences a healthy group nor spares a primary when truly cut off."""

from __future__ import annotations

import pytest

from gungnir.verify import badsecret


def test_a_bad_secret_daemon_decides_isolation_on_links_alone():
    res = badsecret.check("consistency", max_states=12_000)
    assert res.violation is None, res.violation and res.violation.timeline
    assert res.states >= 12_000 and res.depth >= 8  # every trace up to depth - 1


@pytest.mark.parametrize("answers", ["stale", "never"])
def test_the_check_catches_stale_and_ignored_refusals(answers):
    """``stale``: a refusal still counted after the link is gone (a cut-off daemon would
    spare its primary); ``never``: a refusal taken for a lost link (the issue's outage)."""
    res = badsecret.check("consistency", answers=answers, max_states=12_000)
    assert res.violation is not None
    assert any(badsecret.FLAG in line for line in res.violation.broken), res.violation.broken
