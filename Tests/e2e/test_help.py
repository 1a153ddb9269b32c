"""`clock-agent --help` and every subcommand's help, compared with golden files in golden/help/ (the help is the
operator's first documentation, and the man page and shell completions are generated from it).

After an intended change, rewrite the golden files and review the diff:
    CLOCK_AGENT_UPDATE_GOLDEN=1 python3 -m pytest -q Tests/e2e/test_help.py
"""
import os
import subprocess

import pytest

from conftest import agent_binary

GOLDEN = os.path.join(os.path.dirname(__file__), "golden", "help")
COMMANDS = [[], ["run"], ["doctor"], ["status"], ["config"], ["config", "check"], ["version"]]


def golden_path(command):
    return os.path.join(GOLDEN, "-".join(["clock-agent"] + command) + ".txt")


def help_text(args):
    # A pipe and COLUMNS=80: the help is wrapped the same way everywhere.
    env = {"PATH": "/usr/bin:/bin", "COLUMNS": "80", "HOME": "/nonexistent"}
    proc = subprocess.run([agent_binary()] + args, env=env, capture_output=True, text=True, timeout=30,
                          stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    return proc.stdout


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "clock-agent")
def test_help_matches_golden(command):
    text = help_text(command + ["--help"])
    path = golden_path(command)
    if os.environ.get("CLOCK_AGENT_UPDATE_GOLDEN"):
        with open(path, "w") as f:
            f.write(text)
    with open(path) as f:
        assert text == f.read(), f"help of `clock-agent {' '.join(command)}` changed; see the module docstring"
    assert all(len(line) <= 80 for line in text.splitlines())


def test_help_subcommand_is_the_same_as_the_flag():
    assert help_text(["help", "doctor"]) == help_text(["doctor", "--help"])


def test_every_command_is_documented_and_listed():
    top = help_text(["--help"])
    for name in ["run", "doctor", "status", "config", "version"]:
        assert f"\n  {name} " in top
    # Where to start at 3 a.m., and the check names exactly as doctor prints them.
    assert "Start with `clock-agent doctor`" in top
    doctor = help_text(["doctor", "--help"])
    for check in ["config", "imds", "identity", "credentials", "clock", "s3", "cloudwatch", "autoscaling", "iam",
                  "app", "logs", "systemd", "disk"]:
        assert f"\n  {check} " in doctor, check
    for command in COMMANDS:
        text = help_text(command + ["--help"])
        assert text.startswith("OVERVIEW: ") and "\nUSAGE: clock-agent" in text
        if command and command != ["config"]:
            assert "Exit status" in text or command == ["version"], command
