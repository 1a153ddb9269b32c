"""Fixtures of the real-boot test (Tests/boot/run).

Tests/boot/run runs pytest in a network namespace of its own with only `lo`; the container joins it. Every test
is bounded by an alarm.
"""

from __future__ import annotations

import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from time_limit_plugin import pytest_configure, time_limit  # noqa: E402,F401 - the per-test time limit
