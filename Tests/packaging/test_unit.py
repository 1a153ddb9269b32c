"""packaging/systemd/clock-agent.service: what systemd itself says about it, and the settings the agent relies on.

`systemd-analyze verify` exits 0 on unknown keys and bad values (it only warns), so any output at all fails here.
`systemd-analyze security --offline=true` must rate the unit at 2.5 or better; `--threshold` takes tenths (25).
That the unit really runs the agent under a real systemd (SIGSYS, READY=1, drain) is Tests/boot/'s job.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
UNIT = os.path.join(REPO, "packaging", "systemd", "clock-agent.service")
HOST_UNITS = "/usr/lib/systemd/system"
THRESHOLD = 2.5

pytestmark = pytest.mark.skipif(shutil.which("systemd-analyze") is None,
                                reason="systemd-analyze missing (apt-get install -y systemd)")


def unit_settings(text: str) -> dict[str, list[str]]:
    """`Section.Key` -> every value it is given, in order (systemd keys may repeat)."""
    settings: dict[str, list[str]] = {}
    section = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            continue
        key, _, value = line.partition("=")
        settings.setdefault(f"{section}.{key.strip()}", []).append(value.strip())
    return settings


def verify(tmp_path, unit_text: str) -> subprocess.CompletedProcess:
    """`systemd-analyze verify` of the unit installed into a tree with the host's units and an executable at
    ExecStart's path (so ExecStart and the dependencies resolve in the tree, not on this machine)."""
    tree = tmp_path / "root"
    shutil.copytree(HOST_UNITS, tree / HOST_UNITS.lstrip("/"), symlinks=True)
    binary = tree / "usr" / "bin" / "clock-agent"
    binary.parent.mkdir(parents=True, exist_ok=True)
    binary.write_text("#!/bin/sh\nexit 0\n")
    binary.chmod(0o755)
    (tree / HOST_UNITS.lstrip("/") / "clock-agent.service").write_text(unit_text)
    # --man=no: the Documentation= page is checked against the built package in test_packages.py.
    return subprocess.run(["systemd-analyze", "verify", f"--root={tree}", "--man=no",
                           f"{HOST_UNITS}/clock-agent.service"], capture_output=True, text=True, timeout=30)


def unit_text() -> str:
    with open(UNIT) as f:
        return f.read()


def test_verify_prints_nothing(tmp_path):
    proc = verify(tmp_path, unit_text())
    assert proc.returncode == 0 and not proc.stdout and not proc.stderr, \
        f"systemd-analyze verify exit {proc.returncode}\nstdout: {proc.stdout}\nstderr: {proc.stderr}"


@pytest.mark.parametrize("change", [("WatchdogSec=30s", "WatchdogSecs=30s"), ("Type=notify", "Type=notifyy")],
                         ids=["unknown-key", "bad-value"])
def test_verify_gate_catches_what_exit_code_hides(tmp_path, change):
    """The gate above is real: a misspelt key or value leaves rc 0 but prints a warning."""
    text = unit_text()
    assert change[0] in text
    proc = verify(tmp_path, text.replace(change[0], change[1], 1))
    assert proc.stdout or proc.stderr, "systemd-analyze verify said nothing about a broken unit"


def security(path: str, threshold: float) -> subprocess.CompletedProcess:
    return subprocess.run(["systemd-analyze", "security", "--offline=true", f"--threshold={round(threshold * 10)}",
                           "--no-pager", path], capture_output=True, text=True, timeout=30)


def test_security_exposure_at_most_threshold():
    proc = security(UNIT, THRESHOLD)
    m = re.search(r"Overall exposure level for clock-agent\.service: (\d+\.\d)", proc.stdout)
    assert m, f"no overall exposure in:\n{proc.stdout}\n{proc.stderr}"
    assert proc.returncode == 0 and float(m.group(1)) <= THRESHOLD, \
        f"exposure {m.group(1)} > {THRESHOLD} (exit {proc.returncode}):\n{proc.stdout}"


def test_security_threshold_fails_an_unhardened_unit(tmp_path):
    """The threshold is enforced: the same unit without its [Service] sandboxing fails it."""
    text = unit_text().split("# --- Sandboxing", 1)[0]
    path = tmp_path / "clock-agent.service"
    path.write_text(text)
    assert security(str(path), THRESHOLD).returncode != 0


def test_service_contract_settings():
    s = unit_settings(unit_text())
    one = lambda key: s[key][-1]  # noqa: E731 - the effective value of a single-valued key
    assert one("Service.Type") == "notify"
    assert one("Service.NotifyAccess") == "main"
    assert one("Service.ExecStart") == "/usr/bin/clock-agent run"
    assert one("Service.Restart") == "on-failure"
    assert one("Service.KillMode") == "mixed"
    assert one("Service.StateDirectory") == "clock-agent"
    assert one("Service.WatchdogSec")
    # The drain may take app.stop_timeout (10 s) + lifecycle.drain_timeout (10 min) by default: stop must wait longer.
    m = re.fullmatch(r"(\d+)min", one("Service.TimeoutStopSec"))
    assert m and int(m.group(1)) * 60 > 10 + 600
    # The agent installs releases under app.install_dir (default /opt/clock-app) inside ProtectSystem=strict.
    assert one("Service.ProtectSystem") == "strict"
    assert "/opt/clock-app" in " ".join(s["Service.ReadWritePaths"]).split()


def test_filtered_system_calls_fail_instead_of_killing():
    """libdispatch's worker threads call setpriority(2), which ~@resources denies: with the default action the agent
    is killed with SIGSYS (found by booting the unit; see the test environment reference, section 12)."""
    s = unit_settings(unit_text())
    assert "~@resources" in s["Service.SystemCallFilter"]
    assert s["Service.SystemCallErrorNumber"] == ["EPERM"]


def test_agent_may_give_releases_to_the_app_group():
    """ReleaseInstaller chgrps every release to app.user's group: root needs CAP_CHOWN for a group it is not in."""
    assert "CAP_CHOWN" in unit_settings(unit_text())["Service.CapabilityBoundingSet"][-1].split()


def test_journal_reader_can_read_the_boot_id():
    """sd_journal_open() reads /proc/sys/kernel/random/boot_id: ProcSubset=pid hides it and the agent's journal
    source fails to start (found by the real-boot test)."""
    assert unit_settings(unit_text()).get("Service.ProcSubset", ["all"])[-1] != "pid"


def test_unit_can_be_enabled():
    """cloud-init runs `systemctl enable --now clock-agent.service`: the unit needs an [Install] section."""
    assert unit_settings(unit_text())["Install.WantedBy"] == ["multi-user.target"]
