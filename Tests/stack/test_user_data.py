"""The stack's user data: valid cloud-config, a config the agent accepts, and in step with
packaging/cloud-init/user-data.yaml (the file the boot test runs) for the parts that matter.

The launch template's user data is an Fn::Sub text; the tests fill its variables with sample values
(both branches of the optional SHA-256 pin) the way CloudFormation would.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest
import yaml

from stacktools import REPO, USER_DATA_PATH, user_data_sub

SAMPLE = {
    "AWS::Region": "eu-west-1",
    "AWS::AccountId": "123456789012",
    "AWS::StackName": "clock",
    "AWS::Partition": "aws",
    "ArtifactBucket": "clock-artifactbucket-1a2b3c4d5e6f",
    "AgentPackageKey": "packages/clock-agent.x86_64.rpm",
    "AppArtifactKey": "clock-app.tar.gz",
    "AppSha256": "0123456789abcdef" * 4,
    "AppPort": "8080",
    "AppLogGroup": "/clock/app",
    "LogRetentionDays": "30",
}
CONFIG_PATH = "/etc/clock-agent/config.yaml"


def _resolve(value, pinned: bool):
    """Fn::If on HasAppSha256 and a nested Fn::Sub, as CloudFormation resolves them for the sample values."""
    if isinstance(value, str):
        return value
    if "Fn::If" in value:
        cond, yes, no = value["Fn::If"]
        assert cond == "HasAppSha256", cond
        return _resolve(yes if pinned else no, pinned)
    if "Fn::Sub" in value:
        return _substitute(value["Fn::Sub"], {})
    raise AssertionError(f"unexpected intrinsic in the user data variables: {value}")


def _substitute(text: str, variables: dict) -> str:
    def one(m: re.Match) -> str:
        name = m.group(1)
        if name in variables:
            return variables[name]
        assert name in SAMPLE, f"user data uses ${{{name}}}: add a sample value"
        return SAMPLE[name]
    text = re.sub(r"\$\{(?!!)([^}]+)\}", one, text)
    return text.replace("${!", "${")


def rendered_user_data(template: dict, pinned: bool) -> str:
    text, variables = user_data_sub(template)
    return _substitute(text, {k: _resolve(v, pinned) for k, v in variables.items()})


def agent_config(doc: dict) -> tuple[dict, dict]:
    (entry,) = [f for f in doc.get("write_files", []) if f["path"] == CONFIG_PATH]
    return entry, yaml.safe_load(entry["content"])


@pytest.fixture(params=[False, True], ids=["unpinned", "sha256-pinned"])
def rendered(request, template) -> str:
    return rendered_user_data(template, request.param)


def test_rendered_user_data_is_cloud_config_with_the_samples(rendered):
    assert rendered.startswith("#cloud-config\n")
    doc = yaml.safe_load(rendered)
    _, config = agent_config(doc)
    assert config["app"]["source"] == f"s3://{SAMPLE['ArtifactBucket']}/{SAMPLE['AppArtifactKey']}"
    assert config["logs"]["group"] == SAMPLE["AppLogGroup"]
    assert config["logs"]["retention_days"] == int(SAMPLE["LogRetentionDays"])
    assert config["lifecycle"]["auto_scaling_group"] == "auto"


@pytest.mark.time_limit(60)
def test_cloud_init_schema_accepts_the_user_data(rendered, tmp_path):
    exe = shutil.which("cloud-init")
    if not exe:
        pytest.skip("cloud-init is not installed (apt-get install -y cloud-init): `cloud-init schema` not run")
    path = tmp_path / "user-data.yaml"
    path.write_text(rendered)
    proc = subprocess.run([exe, "schema", "--config-file", str(path)], capture_output=True, text=True, timeout=50)
    assert proc.returncode == 0 and "Valid cloud-config" in proc.stdout, \
        f"cloud-init schema exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}\n--- user data ---\n{rendered}"


@pytest.mark.time_limit(30)
def test_clock_agent_accepts_the_config_the_stack_writes(rendered, tmp_path):
    binary = os.environ.get("CLOCK_AGENT_BIN") or os.path.join(REPO, ".build", "debug", "clock-agent")
    if not os.access(binary, os.X_OK):
        pytest.skip(f"no clock-agent binary at {binary} (swift build, or set CLOCK_AGENT_BIN)")
    _, config = agent_config(yaml.safe_load(rendered))
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    proc = subprocess.run([binary, "config", "check", "--config", str(path)], capture_output=True, text=True,
                          timeout=20, env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path)})
    assert proc.returncode == 0, f"clock-agent config check exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"


# -- drift check against packaging/cloud-init/user-data.yaml ----------------------------------------------
def _commands(doc: dict, key: str) -> list[str]:
    return [" ".join(str(a) for a in c) if isinstance(c, list) else str(c) for c in doc.get(key, []) or []]


def test_stack_user_data_matches_packaging_cloud_init(template):
    if not os.path.exists(USER_DATA_PATH):
        pytest.skip(f"{os.path.relpath(USER_DATA_PATH, REPO)} does not exist yet: nothing to compare the stack's "
                    "user data with")
    with open(USER_DATA_PATH) as f:
        packaged_text = f.read()
    packaged = yaml.safe_load(packaged_text)
    stack = yaml.safe_load(rendered_user_data(template, pinned=False))
    assert packaged_text.startswith("#cloud-config")

    # Package install: download the RPM from the artifact bucket with the AWS CLI, then dnf install it.
    for name, doc in (("stack", stack), ("packaging", packaged)):
        cmds = _commands(doc, "runcmd")
        assert any(re.search(r"\baws s3 cp\b.*s3://\S+\.rpm", c) for c in cmds), f"{name}: no aws s3 cp of the rpm"
        assert any(re.search(r"\bdnf\b.*\binstall\b.*\.rpm", c) for c in cmds), f"{name}: no dnf install of the rpm"
        assert any(re.search(r"\bsystemctl\b.*\benable\b.*clock-agent", c) for c in cmds), \
            f"{name}: clock-agent.service not enabled"
    # Service: the same systemctl steps.
    systemctl = lambda doc: [c for c in _commands(doc, "runcmd") if c.startswith("systemctl")]  # noqa: E731
    assert systemctl(stack) == systemctl(packaged)

    # Config written: same file, mode and owner; same keys; same values except the stack-specific ones.
    s_entry, s_config = agent_config(stack)
    p_entry, p_config = agent_config(packaged)
    for k in ("permissions", "owner"):
        assert s_entry.get(k) == p_entry.get(k), k
    stack_specific = {("app", "source"), ("app", "sha256"), ("logs", "group"), ("logs", "retention_days"),
                      ("app", "environment", "PORT"), ("app", "health", "url")}

    def flatten(d, prefix=()):
        for k, v in d.items():
            if isinstance(v, dict):
                yield from flatten(v, prefix + (k,))
            else:
                yield prefix + (k,), v

    s_flat, p_flat = dict(flatten(s_config)), dict(flatten(p_config))
    assert set(s_flat) - {("app", "sha256")} == set(p_flat) - {("app", "sha256")}
    differing = {k for k in s_flat if k not in stack_specific and s_flat[k] != p_flat.get(k)}
    assert not differing, {k: (s_flat[k], p_flat.get(k)) for k in differing}

    # Everything else cloud-init does (users, packages, bootcmd, ...): the same modules.
    assert set(stack) == set(packaged)


@pytest.mark.time_limit(60)
def test_cloud_init_schema_accepts_packaging_cloud_init(tmp_path):
    exe = shutil.which("cloud-init")
    if not exe:
        pytest.skip("cloud-init is not installed (apt-get install -y cloud-init): `cloud-init schema` not run")
    proc = subprocess.run([exe, "schema", "--config-file", USER_DATA_PATH], capture_output=True, text=True, timeout=50)
    assert proc.returncode == 0 and "Valid cloud-config" in proc.stdout, \
        f"cloud-init schema exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
