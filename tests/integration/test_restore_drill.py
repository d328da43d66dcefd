"""The short restore drill (``bench/restore_drill.py``) inside the test suite: the real system on PostgreSQL,
``attune backup`` mid-stream, every database dropped, ``attune restore``, and the counting harness finds every
completed session with exactly one invitation and every risk answer with exactly one alert, nothing lost,
nothing sent twice, and nothing the restore could not rebuild."""

from __future__ import annotations

import pytest

from bench import restore_drill
from tests.support import identity


@pytest.mark.kafka
@pytest.mark.postgres
@pytest.mark.timeout(1500)
def test_a_restore_mid_stream_loses_nothing_and_sends_nothing_twice(tmp_path):
    result = restore_drill.drill(restore_drill.SHORT, 20261202, tmp_path, idp=identity.provider(), progress=False)
    table = restore_drill.report(result, restore_drill.SHORT, 20261202)
    assert restore_drill.passed(result), table
    tally = result.tally
    assert tally.check("invitation per completed session").expected >= restore_drill.SHORT.flows, table
    assert tally.check("urgent alert per risk answer").expected > 0, table
    # the backup was taken mid-stream: each service had work after it that the restore rebuilt from the log
    for service in ("scheduling", "feedback", "notifications"):
        assert result.restored[service].get("restored", 0) > 0, table
    assert result.restored["offsets"], table
