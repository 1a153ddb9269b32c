"""A per-test time limit for the pytest suites outside Tests/e2e (stack, packaging, boot): every test fails with
TimeoutError after `@pytest.mark.time_limit(seconds)` (default 60 s), by SIGALRM, and its fixtures still clean up.

Each suite's conftest.py imports `time_limit` and `pytest_configure` from here.
"""

from __future__ import annotations

import signal

import pytest

DEFAULT_TIME_LIMIT = 60


@pytest.fixture(autouse=True)
def time_limit(request):
    """Fail any test that runs longer than its limit (`@pytest.mark.time_limit(s)`, default 60 s)."""
    marker = request.node.get_closest_marker("time_limit")
    seconds = marker.args[0] if marker else DEFAULT_TIME_LIMIT

    def on_alarm(signum, frame):
        raise TimeoutError(f"test exceeded {seconds} s")

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    yield
    signal.setitimer(signal.ITIMER_REAL, 0)
    signal.signal(signal.SIGALRM, old)


def pytest_configure(config):
    config.addinivalue_line("markers", "time_limit(seconds): per-test time limit (SIGALRM)")
