"""Issue 6: `clock-agent doctor` — every check against the harness, each failure induced and the `fail` with its
hint it must produce, the all-green case with a running agent, and a time bound on every run (hanging endpoints
included).

The failure tests share one harness (module scope; faults and policy are reset after each test); the all-green
test has its own, because its running agent moves the instance to InService.
"""
import json
import os
import socket
import subprocess
import sys
import threading
import time

import pytest

from conftest import ROOT, agent_binary, app_archive, base_config, free_port, lifecycle_calls, wait_for

sys.path.insert(0, os.path.join(ROOT, "Tests", "harness"))
from clockharness import Harness  # noqa: E402

# Every doctor run must finish within this, hanging endpoints included (generous: CI machines are slow).
UPPER_BOUND = 15.0
CHECKS = ["config", "imds", "identity", "credentials", "clock", "s3", "cloudwatch", "autoscaling", "iam", "app",
          "logs", "systemd", "disk"]


def doctor_env(harness, extra=None):
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": "/nonexistent",
        "AWS_ENDPOINT_URL": harness.moto,
        "AWS_EC2_METADATA_SERVICE_ENDPOINT": harness.imds,
        "AWS_ENDPOINT_URL_CLOUDWATCH_LOGS": harness.sink,
    }
    env.update(extra or {})
    return env


def run_doctor(config_path, env, json_output=True):
    """Runs `clock-agent doctor`; returns (exit status, parsed JSON or text, seconds taken)."""
    args = [agent_binary(), "doctor", "--config", config_path] + (["--json"] if json_output else [])
    started = time.monotonic()
    proc = subprocess.run(args, env=env, capture_output=True, timeout=60, stdin=subprocess.DEVNULL)
    elapsed = time.monotonic() - started
    assert elapsed < UPPER_BOUND, f"doctor took {elapsed:.1f}s\n{proc.stdout.decode()}"
    out = proc.stdout.decode()
    assert proc.stderr == b"", proc.stderr.decode()
    if not json_output:
        return proc.returncode, out, elapsed
    report = json.loads(out)
    assert [c["name"] for c in report["checks"]] == CHECKS
    for check in report["checks"]:
        assert set(check) == {"name", "status", "detail", "hint"}
        assert check["status"] in ("ok", "warn", "fail", "skip")
        assert "\n" not in check["detail"] and "\n" not in check["hint"]
    counts = {s: sum(1 for c in report["checks"] if c["status"] == s) for s in ("ok", "warn", "fail", "skip")}
    assert report["summary"] == counts
    assert proc.returncode == (1 if counts["fail"] else 0)
    return proc.returncode, report, elapsed


def by_name(report):
    return {c["name"]: c for c in report["checks"]}


def write_config(workdir, harness, name="config.yaml", **overrides):
    config = base_config(workdir, harness, free_port(), **overrides)
    path = os.path.join(workdir, name)
    with open(path, "w") as f:
        json.dump(config, f)
    os.chmod(path, 0o640)
    return path


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    """One harness for the failure tests (no agent runs against it: the instance stays in Pending:Wait)."""
    workdir = str(tmp_path_factory.mktemp("doctor"))
    harness = Harness(os.path.join(workdir, "harness"), artifact=app_archive(os.path.join(workdir, "clock-app.tar.gz")),
                      artifact_key="clock-app.tar.gz", sink=True)
    harness.start()
    yield harness
    harness.stop()


@pytest.fixture
def harness(shared):
    yield shared
    shared.control("POST", "/imds/faults", {"clear": True})
    shared.control("POST", "/policy/restore", {})
    shared.control("POST", "/imds/credentials", {"expiration": None})


def test_all_green_with_a_running_agent(workdir, start_harness, agents):
    h = start_harness(app_archive(os.path.join(workdir, "clock-app.tar.gz")))
    config = base_config(workdir, h, free_port())
    config["app"]["sha256"] = h.info["artifact_sha256"]
    agent = agents(workdir, h, config).start()
    wait_for(lambda: any(c.get("result") == "CONTINUE" and c["outcome"] == "OK"
                         for c in lifecycle_calls(h, "CompleteLifecycleAction")), 30, message="CONTINUE")
    wait_for(lambda: h.control("GET", "/lifecycle/state")["instances"][h.instance_id]["state"] == "InService", 10,
             message="InService")
    wait_for(lambda: os.path.exists(os.path.join(workdir, "state", "status.sock")), 10, message="status socket")
    calls_before = lifecycle_calls(h)

    code, report, elapsed = run_doctor(agent.config_path, doctor_env(h))
    checks = by_name(report)
    assert code == 0, json.dumps(report, indent=1)
    assert not [c for c in report["checks"] if c["status"] == "fail"]
    for name in ["config", "imds", "identity", "credentials", "clock", "s3", "cloudwatch", "autoscaling", "iam",
                 "app", "logs"]:
        assert checks[name]["status"] == "ok", checks[name]
    assert checks["systemd"]["status"] in ("skip", "ok", "warn")  # skip unless the machine runs systemd
    assert checks["disk"]["status"] in ("ok", "warn")  # CI disks may be fuller than 90 %
    assert f"Auto Scaling group {h.info['asg']}" in checks["identity"]["detail"]
    assert "InService" in checks["autoscaling"]["detail"]
    assert "S3's SHA-256 matches app.sha256" in checks["s3"]["detail"]
    assert "app running, pid " in checks["app"]["detail"] and "0 restarts" in checks["app"]["detail"]
    assert "health URL answers (HTTP 200" in checks["app"]["detail"]
    assert "CompleteLifecycleAction (" not in checks["iam"]["detail"]  # exercised: nothing is pending

    # The doctor's calls decided nothing: no new successful Complete, and the instance is still InService.
    new_calls = lifecycle_calls(h)[len(calls_before):]
    completes = [c for c in new_calls if c["action"] == "CompleteLifecycleAction"]
    assert completes and all(c["outcome"] == "ValidationError" for c in completes), completes
    assert all(c["hook"] == h.info["launch_hook"] for c in completes)  # never the hook a scale-in could make pending
    heartbeats = [c for c in new_calls if c["action"] == "RecordLifecycleActionHeartbeat"]
    assert heartbeats and all(c["outcome"] == "ValidationError" for c in heartbeats)
    assert h.control("GET", "/lifecycle/state")["instances"][h.instance_id]["state"] == "InService"

    # One labelled event in the doctor's own stream; the agent's streams are untouched by it.
    events = h.control("GET", f"/sink/events?group=/clock/app&stream={h.instance_id}/doctor")["events"]
    assert len(events) == 1 and events[0]["message"].startswith("clock-agent doctor: write test")

    # The text form: one line per check, a summary, same exit status; no secret anywhere.
    code, text, _ = run_doctor(agent.config_path, doctor_env(h), json_output=False)
    lines = text.splitlines()
    assert code == 0
    assert lines[0].startswith("ok    config        ")
    assert lines[-1].startswith("summary: ") and lines[-1].endswith(" skip")
    secrets = h.imds_credentials()
    for secret in (secrets["SecretAccessKey"], secrets["Token"], h.info["user"]["secret_access_key"]):
        assert secret not in text and secret not in json.dumps(report)
    assert agent.proc.poll() is None  # the agent kept running


@pytest.mark.parametrize("fault,detail,hint", [
    ({"down": "refuse"}, "cannot reach the instance metadata service", "AWS_EC2_METADATA_DISABLED=true"),
    ({"down": "hang"}, "timed out after 1 s and", "HttpPutResponseHopLimit"),
    ({"token_403": True}, "refused with HTTP 403: the metadata service is disabled", "--http-endpoint enabled"),
    ({"token_delay_ms": 3000}, "timed out after 1 s, while a GET without a token was answered",
     "the instance metadata hop limit is too low for this network path (HttpPutResponseHopLimit"),
])
def test_metadata_faults(workdir, harness, fault, detail, hint):
    config = write_config(workdir, harness)
    harness.control("POST", "/imds/faults", fault)
    code, report, _ = run_doctor(config, doctor_env(harness))
    checks = by_name(report)
    assert code == 1
    assert checks["imds"]["status"] == "fail"
    assert detail in checks["imds"]["detail"], checks["imds"]
    assert hint in checks["imds"]["hint"], checks["imds"]
    # One root cause, one failure: what needs metadata is skipped.
    for name in ["identity", "credentials", "s3", "cloudwatch", "autoscaling", "iam"]:
        assert checks[name]["status"] == "skip", checks[name]
    assert checks["config"]["status"] == "ok"


def test_credentials_close_to_expiry_warn(workdir, harness):
    config = write_config(workdir, harness)
    harness.control("POST", "/imds/credentials", {"expires_in": 600})
    code, report, _ = run_doctor(config, doctor_env(harness))
    credentials = by_name(report)["credentials"]
    assert credentials["status"] == "warn", credentials
    assert f"instance-profile credentials of role {harness.info['role']}" in credentials["detail"]
    assert " expire in " in credentials["detail"] and " min " in credentials["detail"]
    assert "rotates instance-profile credentials" in credentials["hint"]
    assert f"assumed-role/{harness.info['role']}/" in credentials["detail"]  # STS still accepts them


def test_missing_object_and_missing_hook(workdir, harness):
    config = write_config(workdir, harness)
    with open(config) as f:
        data = json.load(f)
    data["app"]["source"] = f"s3://{harness.info['bucket']}/releases/missing.tar.gz"
    data["lifecycle"]["terminate_hook"] = "no-such-hook"
    with open(config, "w") as f:
        json.dump(data, f)
    code, report, _ = run_doctor(config, doctor_env(harness))
    checks = by_name(report)
    assert code == 1
    assert checks["s3"]["status"] == "fail"
    assert checks["s3"]["detail"] == f"no object s3://{harness.info['bucket']}/releases/missing.tar.gz (HeadObject: HTTP 404)"
    assert "upload the artifact" in checks["s3"]["hint"]
    assert checks["autoscaling"]["status"] == "fail"
    assert "lifecycle.terminate_hook no-such-hook does not exist in group clock-asg" in checks["autoscaling"]["detail"]
    assert checks["autoscaling"]["hint"].startswith("set lifecycle.terminate_hook: clock-terminate")


def test_removed_permission_names_the_action(workdir, harness):
    config = write_config(workdir, harness)
    harness.control("POST", "/policy/remove", {"sids": ["ReportLifecycle"]})
    code, report, _ = run_doctor(config, doctor_env(harness))
    iam = by_name(report)["iam"]
    assert code == 1
    assert iam["status"] == "fail"
    assert "autoscaling:RecordLifecycleActionHeartbeat" in iam["detail"]
    group_arn = (f"arn:aws:autoscaling:{harness.info['region']}:{harness.info['account']}:autoScalingGroup:*:"
                 f"autoScalingGroupName/{harness.info['asg']}")
    assert iam["hint"].startswith(f"add autoscaling:RecordLifecycleActionHeartbeat and autoscaling:SetInstanceHealth "
                                  f"on {group_arn} to the instance role {harness.info['role']} "
                                  f"(packaging/iam/clock-agent-policy.json)"), iam
    # Pending:Wait: Complete is never called, denied or not.
    assert "autoscaling:CompleteLifecycleAction (the instance is Pending:Wait" in iam["detail"]
    assert not [c for c in lifecycle_calls(harness, "CompleteLifecycleAction")]


def test_app_down_and_agent_not_running(workdir, harness):
    config = write_config(workdir, harness)
    code, report, _ = run_doctor(config, doctor_env(harness))
    app = by_name(report)["app"]
    assert code == 1
    assert app["status"] == "fail"
    assert app["detail"].startswith("health URL fails: http://127.0.0.1:")
    assert "agent not running" in app["detail"]
    assert "systemctl start clock-agent" in app["hint"]


def test_invalid_config_names_the_key_and_skips_what_needs_it(workdir, harness):
    path = os.path.join(workdir, "bad.yaml")
    with open(path, "w") as f:
        f.write("app: {source: 's3://webclock-bucket/k.tar.gz', command: [x], health: {intervl: 5s}}\n")
    code, report, _ = run_doctor(path, doctor_env(harness))
    checks = by_name(report)
    assert code == 1
    assert checks["config"]["status"] == "fail" and "app.health.intervl" in checks["config"]["detail"]
    assert "fix app.health.intervl" in checks["config"]["hint"]
    for name in ["s3", "cloudwatch", "autoscaling", "iam", "app", "logs", "disk"]:
        assert checks[name]["status"] == "skip", checks[name]
    for name in ["imds", "identity", "credentials", "clock"]:
        assert checks[name]["status"] == "ok", checks[name]


def test_config_permissions_and_missing_user(workdir, harness):
    config = write_config(workdir, harness)
    with open(config) as f:
        data = json.load(f)
    data["app"]["user"] = "clock-doctor-no-such-user"
    with open(config, "w") as f:
        json.dump(data, f)
    os.chmod(config, 0o666)
    code, report, _ = run_doctor(config, doctor_env(harness))
    check = by_name(report)["config"]
    assert check["status"] == "fail"
    assert "app.user clock-doctor-no-such-user does not exist" in check["detail"]
    assert "world-writable (mode 0666)" in check["detail"]
    assert "useradd --system" in check["hint"] and f"chmod 640 {config}" in check["hint"]


def test_hanging_aws_endpoints_stay_bounded(workdir, harness):
    """Every AWS endpoint accepts connections and never answers: doctor still ends within the bound."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    accepted = []
    stop = threading.Event()

    def accept():
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except (socket.timeout, OSError):
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        config = write_config(workdir, harness)
        code, report, elapsed = run_doctor(config, doctor_env(harness, {
            "AWS_ENDPOINT_URL": url, "AWS_ENDPOINT_URL_CLOUDWATCH_LOGS": url}))
        checks = by_name(report)
        assert code == 1
        for name in ["s3", "cloudwatch", "autoscaling"]:
            assert checks[name]["status"] == "fail", checks[name]
            assert "timed out" in checks[name]["detail"], checks[name]
        assert checks["credentials"]["status"] == "warn"  # credentials found, STS silent
        assert checks["iam"]["status"] == "warn" and "not proven" in checks["iam"]["detail"]
        assert elapsed < 10, elapsed
    finally:
        stop.set()
        thread.join(2)
        for conn in accepted:
            conn.close()
        listener.close()


def _mount_tmpfs(path, size):
    os.makedirs(path, exist_ok=True)
    if os.geteuid() != 0:
        return False
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", path],
                            capture_output=True, timeout=10)
    return result.returncode == 0


def test_disk_full_on_a_tiny_tmpfs(workdir, harness):
    small = os.path.join(workdir, "small")
    if not _mount_tmpfs(small, "1m"):
        pytest.skip("cannot mount a tmpfs here (needs root); the Swift tests cover this with a simulated statvfs")
    try:
        config = write_config(workdir, harness, state_dir=os.path.join(small, "state"))
        with open(config) as f:
            data = json.load(f)
        data["app"]["install_dir"] = os.path.join(small, "install")
        with open(config, "w") as f:
            json.dump(data, f)
        code, report, _ = run_doctor(config, doctor_env(harness))
        disk = by_name(report)["disk"]
        assert code == 1
        assert disk["status"] == "fail", disk
        assert f"state_dir {small}/state: " in disk["detail"] and "free" in disk["detail"]
        assert "grow the volume" in disk["hint"]
    finally:
        subprocess.run(["umount", small], capture_output=True, timeout=10)
