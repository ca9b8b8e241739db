"""Jobs without a process: an unknown kind, a missing log, a pid that is not there (started jobs: tests/integration)."""

import pytest

from musicgen.runs import jobs


def test_unknown_kind_and_missing_log(home):
    with pytest.raises(ValueError, match="unknown job kind 'bogus'"):
        jobs.start_job("bogus", [])
    assert jobs.log_path(999_999_999) is None
    assert jobs.log_tail(999_999_999) == ""
    assert not jobs.is_alive(None)
    assert not jobs.is_alive(999_999_999)
