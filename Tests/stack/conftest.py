"""Fixtures of the service-stack tests (python3 -m pytest -q Tests/stack).

Everything here stays on this machine: cfn-lint and `cloud-init schema` are local programs, the
CloudFormation deployment runs in moto's in-process mock (no sockets), and the IAM test talks to
the project harness on 127.0.0.1.  Every test is bounded by an alarm.
"""

from __future__ import annotations

import os
import sys

import pytest

from stacktools import load_template

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from time_limit_plugin import pytest_configure, time_limit  # noqa: E402,F401 - the per-test time limit


@pytest.fixture(scope="session")
def template() -> dict:
    return load_template()
