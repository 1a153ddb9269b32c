"""Fixtures of the packaging tests (python3 -m pytest -q Tests/packaging).

Everything stays on this machine: systemd-analyze, dpkg-deb, rpm and readelf are local programs, and the package
install test runs in a throw-away systemd-nspawn container with a private network. Every test is bounded by an alarm.
"""

from __future__ import annotations

import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from time_limit_plugin import pytest_configure, time_limit  # noqa: E402,F401 - the per-test time limit
