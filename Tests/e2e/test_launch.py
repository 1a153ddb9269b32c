"""Issue: the instance comes up — fetch, verify, install, supervise, launch verdict, systemd readiness.

Each test runs the built binary against the harness and checks what a user would see: the hook's recorded
result, the release directory, the app answering, the agent's log, the notify socket.
"""
import hashlib
import io
import os
import shutil
import signal
import stat
import tarfile
import tempfile
import time
import urllib.request

import pytest

from conftest import (NotifySocket, app_archive, base_config, free_port, lifecycle_calls, make_archive, wait_for)

def get(url, timeout=2):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read().decode()
    except Exception as error:  # noqa: BLE001 - any failure means "not serving"
        return None, str(error)


def completes(harness, result):
    return [c for c in lifecycle_calls(harness, "CompleteLifecycleAction") if c.get("result") == result]


def releases(workdir):
    path = os.path.join(workdir, "install", "releases")
    return sorted(os.listdir(path)) if os.path.isdir(path) else []


def test_happy_path_continue_serves_and_ready(workdir, start_harness, agents):
    artifact = app_archive(os.path.join(workdir, "clock-app.tar.gz"))
    harness = start_harness(artifact)
    port = free_port()
    notify = NotifySocket(os.path.join(workdir, "notify.sock"))
    try:
        agent = agents(workdir, harness, base_config(workdir, harness, port),
                       extra_env={"NOTIFY_SOCKET": notify.path}).start()
        wait_for(lambda: completes(harness, "CONTINUE"), 30, message="CONTINUE on the launch hook")
        status, body = get(f"http://127.0.0.1:{port}/")
        assert status == 200 and f"instance={harness.info['instance_id']}" in body
        wait_for(lambda: notify.has("READY=1"), 10, message="READY=1")
        ready_at = next(t for t, m in notify.messages if "READY=1" in m)
        statuses = [m for t, m in notify.messages if t <= ready_at]
        assert any("STATUS=fetching s3://" in m for m in statuses)
        assert any("STATUS=starting app" in m for m in statuses)
        # Every phase is announced (the notifier may coalesce quick STATUS= changes; the log keeps them all).
        log = agent.log()
        for phase in ("fetching", "verifying", "installing", "\"starting app\""):
            assert f"agent.phase={phase}" in log, phase
        # The release is the artifact's SHA-256 and current points at it.
        sha = hashlib.sha256(open(artifact, "rb").read()).hexdigest()
        assert releases(workdir) == [sha]
        assert os.readlink(os.path.join(workdir, "install", "current")) == f"releases/{sha}"
        # The app's stdout and stderr are on disk, with the agent's environment.
        output = open(os.path.join(workdir, "state", "app", "output.log")).read()
        assert f"instance={harness.info['instance_id']} az={harness.info['az']} region={harness.info['region']}" in output
        assert "test app stderr line" in output
        # The launch hook got exactly one CONTINUE and no ABANDON.
        assert len(completes(harness, "CONTINUE")) == 1 and not completes(harness, "ABANDON")
        agent.signal(signal.SIGTERM)
        assert agent.wait(30) == 0
        assert "test app got SIGTERM" in open(os.path.join(workdir, "state", "app", "output.log")).read()
        assert notify.has("STOPPING=1")
    finally:
        notify.close()


def test_checksum_mismatch_abandons_and_installs_nothing(workdir, start_harness, agents):
    harness = start_harness(app_archive(os.path.join(workdir, "clock-app.tar.gz")))
    config = base_config(workdir, harness, free_port())
    config["app"]["sha256"] = "0" * 64
    agent = agents(workdir, harness, config).start()
    wait_for(lambda: completes(harness, "ABANDON"), 30, message="ABANDON")
    log = agent.log()
    assert "checksum mismatch" in log and "0" * 64 in log
    assert releases(workdir) == []
    assert not os.path.exists(os.path.join(workdir, "install", "current"))
    assert agent.proc.poll() is None, "after ABANDON the agent keeps running so its logs ship"


def test_corrupt_download_is_refused(workdir, start_harness, agents):
    """S3 publishes a SHA-256 that doesn't match the bytes (as if the object were corrupted): refused."""
    harness = start_harness(app_archive(os.path.join(workdir, "clock-app.tar.gz")))
    s3 = harness.boto3_client("s3")
    body = b"not the archive S3 says it is"
    wrong = hashlib.sha256(b"something else").digest()
    import base64
    s3.put_object(Bucket=harness.info["bucket"], Key="corrupt.tar.gz", Body=body,
                  ChecksumSHA256=base64.b64encode(hashlib.sha256(body).digest()).decode())
    config = base_config(workdir, harness, free_port())
    config["app"]["source"] = f"s3://{harness.info['bucket']}/corrupt.tar.gz"
    config["app"]["sha256"] = wrong.hex()
    agent = agents(workdir, harness, config).start()
    wait_for(lambda: completes(harness, "ABANDON"), 30, message="ABANDON")
    assert "checksum mismatch" in agent.log()
    assert releases(workdir) == []


def test_missing_object_abandons_at_once(workdir, start_harness, agents):
    harness = start_harness(app_archive(os.path.join(workdir, "clock-app.tar.gz")))
    config = base_config(workdir, harness, free_port())
    config["app"]["source"] = f"s3://{harness.info['bucket']}/no/such/app.tar.gz"
    started = time.monotonic()
    agent = agents(workdir, harness, config).start()
    wait_for(lambda: completes(harness, "ABANDON"), 30, message="ABANDON")
    assert time.monotonic() - started < 20, "a permanent error must not be retried until the deadline"
    assert "no object s3://webclock-bucket/no/such/app.tar.gz" in agent.log()


def test_access_denied_abandons_and_names_the_permission(workdir, start_harness, agents):
    harness = start_harness(app_archive(os.path.join(workdir, "clock-app.tar.gz")))
    harness.control("POST", "/policy/remove", {"sids": ["FetchArtifact"]})
    agent = agents(workdir, harness, base_config(workdir, harness, free_port())).start()
    wait_for(lambda: completes(harness, "ABANDON"), 30, message="ABANDON")
    log = agent.log()
    assert "AccessDenied" in log or "access denied" in log
    assert "s3:GetObject" in log


def test_prepare_failure_names_the_step(workdir, start_harness, agents):
    harness = start_harness(app_archive(os.path.join(workdir, "clock-app.tar.gz")))
    config = base_config(workdir, harness, free_port())
    config["app"]["prepare"] = [["true"], ["sh", "-c", "echo preparing; exit 7"]]
    agent = agents(workdir, harness, config).start()
    wait_for(lambda: completes(harness, "ABANDON"), 30, message="ABANDON")
    log = agent.log()
    assert "prepare step 2/2 (sh -c echo preparing; exit 7) failed with exit status 7" in log
    output = open(os.path.join(workdir, "state", "app", "output.log")).read()
    assert "clock-agent: prepare step 2/2" in output and "preparing" in output


def test_app_never_healthy_abandons_after_start_timeout(workdir, start_harness, agents):
    harness = start_harness(app_archive(os.path.join(workdir, "clock-app.tar.gz")))
    port = free_port()
    config = base_config(workdir, harness, port)
    config["app"]["environment"]["APP_MODE"] = "never-healthy"
    config["app"]["health"]["start_timeout"] = "3s"
    started = time.monotonic()
    agent = agents(workdir, harness, config).start()
    wait_for(lambda: completes(harness, "ABANDON"), 30, message="ABANDON")
    assert time.monotonic() - started >= 3
    assert "not healthy within app.health.start_timeout (3s)" in agent.log()
    assert not completes(harness, "CONTINUE")


def test_killed_app_is_restarted(workdir, start_harness, agents):
    harness = start_harness(app_archive(os.path.join(workdir, "clock-app.tar.gz")))
    port = free_port()
    starts = os.path.join(workdir, "starts")
    config = base_config(workdir, harness, port)
    config["app"]["environment"]["APP_STARTS_FILE"] = starts
    agent = agents(workdir, harness, config).start()
    wait_for(lambda: completes(harness, "CONTINUE"), 30, message="CONTINUE")
    first = int(open(starts).read().split()[0])
    os.kill(first, signal.SIGKILL)
    wait_for(lambda: len(open(starts).read().split()) == 2, 10, message="a second start")
    wait_for(lambda: get(f"http://127.0.0.1:{port}/healthz")[0] == 200, 10, message="serving again")
    assert "killed by SIGKILL" in agent.log()
    assert len(completes(harness, "CONTINUE")) == 1, "the launch verdict is given once"


def test_crash_loop_marks_the_instance_unhealthy(workdir, start_harness, agents):
    harness = start_harness(app_archive(os.path.join(workdir, "clock-app.tar.gz")))
    config = base_config(workdir, harness, free_port())
    config["app"]["environment"]["APP_MODE"] = "crash"
    agent = agents(workdir, harness, config).start()
    calls = wait_for(lambda: lifecycle_calls(harness, "SetInstanceHealth"), 30, message="SetInstanceHealth")
    assert calls[0]["health_status"] == "Unhealthy"
    assert calls[0]["should_respect_grace_period"] is False
    assert calls[0]["outcome"] == "OK"
    log = agent.log()
    assert "app is in a crash loop" in log and "exit status 3" in log


def hostile_symlink(tar):
    link = tarfile.TarInfo("escape")
    link.type = tarfile.SYMTYPE
    link.linkname = "/etc"
    tar.addfile(link)
    data = b"owned"
    evil = tarfile.TarInfo("escape/clock-agent-was-here")
    evil.size = len(data)
    tar.addfile(evil, io.BytesIO(data))


def hostile_dotdot(tar):
    data = b"owned"
    evil = tarfile.TarInfo("../../outside")
    evil.size = len(data)
    tar.addfile(evil, io.BytesIO(data))


@pytest.mark.parametrize("hostile,fragment", [(hostile_symlink, "escape"), (hostile_dotdot, "../../outside")])
def test_hostile_archive_is_refused(workdir, start_harness, agents, hostile, fragment):
    artifact = app_archive(os.path.join(workdir, "clock-app.tar.gz"), extra=hostile)
    harness = start_harness(artifact)
    agent = agents(workdir, harness, base_config(workdir, harness, free_port())).start()
    wait_for(lambda: completes(harness, "ABANDON"), 30, message="ABANDON")
    log = agent.log()
    assert "not a safe archive" in log and fragment in log
    assert releases(workdir) == []
    assert not os.path.exists("/etc/clock-agent-was-here")
    assert not os.path.exists(os.path.join(workdir, "outside"))


def test_reboot_reuses_the_release_without_download_or_prepare(workdir, start_harness, agents):
    harness = start_harness(app_archive(os.path.join(workdir, "clock-app.tar.gz")))
    port = free_port()
    prepared = os.path.join(workdir, "prepared-count")
    config = base_config(workdir, harness, port)
    config["app"]["prepare"] = [["sh", "-c", f"echo x >> {prepared}"]]
    first = agents(workdir, harness, config).start()
    wait_for(lambda: completes(harness, "CONTINUE"), 30, message="first CONTINUE")
    first.stop()
    assert first.proc.returncode == 0
    first_log_length = len(first.log())
    # "Reboot": a new launch action, a new agent on the same disk.
    harness.control("POST", "/lifecycle/state", {"state": "Pending:Wait"})
    second = agents(workdir, harness, config).start()
    wait_for(lambda: len(completes(harness, "CONTINUE")) == 2, 30, message="second CONTINUE")
    assert open(prepared).read().count("x") == 1, "prepare ran again for the same release"
    log = second.log()[first_log_length:]
    assert "this artifact is already installed; no download" in log
    assert "artifact verified" not in log


def test_privilege_drop(workdir, start_harness, agents):
    if os.getuid() != 0:
        pytest.skip("needs root to drop privileges")
    import pwd
    nobody = pwd.getpwnam("nobody")
    harness = start_harness(app_archive(os.path.join(workdir, "clock-app.tar.gz")))
    # pytest's temporary directories are owner-only; the app user must be able to reach its release and the
    # file it writes, as on an instance (/opt/clock-app).
    public = tempfile.mkdtemp(prefix="clock-e2e-")
    try:
        os.chmod(public, 0o777)
        ids = os.path.join(public, "ids")
        config = base_config(workdir, harness, free_port())
        config["app"]["install_dir"] = os.path.join(public, "install")
        config["app"]["user"] = "nobody"
        config["app"]["environment"]["APP_IDS_FILE"] = ids
        agent = agents(workdir, harness, config).start()
        wait_for(lambda: completes(harness, "CONTINUE"), 30, message="CONTINUE")
        uid, gid, *groups = open(ids).read().split()
        agent.stop()
    finally:
        shutil.rmtree(public, ignore_errors=True)
    assert int(uid) == nobody.pw_uid and int(gid) == nobody.pw_gid
    assert all(int(g) == nobody.pw_gid for g in groups), f"supplementary groups leaked: {groups}"


def test_without_launch_hook_a_failed_launch_exits_non_zero(workdir, start_harness, agents):
    harness = start_harness(app_archive(os.path.join(workdir, "clock-app.tar.gz")))
    config = base_config(workdir, harness, free_port())
    config["lifecycle"] = {"poll_interval": "1s"}
    config["app"]["source"] = f"s3://{harness.info['bucket']}/missing.tar.gz"
    agent = agents(workdir, harness, config).start()
    assert agent.wait(30) == 2
    assert "launch failed" in agent.log()
    assert not lifecycle_calls(harness, "CompleteLifecycleAction")


def test_secrets_never_appear_in_the_agent_output(workdir, start_harness, agents):
    harness = start_harness(app_archive(os.path.join(workdir, "clock-app.tar.gz")))
    config = base_config(workdir, harness, free_port())
    config["app"]["environment"]["APP_MODE"] = "crash"  # exercise the error paths too
    agent = agents(workdir, harness, config).start()
    wait_for(lambda: lifecycle_calls(harness, "SetInstanceHealth"), 30, message="crash loop")
    credentials = harness.control("GET", "/imds/credentials")
    secrets = harness.imds_credentials()
    agent.stop()
    log = agent.log()
    assert "instance-profile credentials refreshed" in log
    for secret in (secrets["SecretAccessKey"], secrets["Token"]):
        assert secret not in log
    assert credentials["AccessKeyId"] not in log, "only the masked key id may appear"


def test_release_is_not_world_readable(workdir, start_harness, agents):
    """DESIGN.md: files the agent creates are not world-readable — the release included (0750/0640, root's group
    without app.user)."""
    artifact = app_archive(os.path.join(workdir, "clock-app.tar.gz"))
    harness = start_harness(artifact)
    agent = agents(workdir, harness, base_config(workdir, harness, free_port())).start()
    wait_for(lambda: completes(harness, "CONTINUE"), 30, message="CONTINUE")
    release = os.path.join(workdir, "install", "releases", hashlib.sha256(open(artifact, "rb").read()).hexdigest())
    modes = {}
    for directory, names, files in os.walk(release):
        for name in [""] + names + files:
            path = os.path.join(directory, name)
            info = os.lstat(path)
            modes[os.path.relpath(path, release)] = (stat.S_IMODE(info.st_mode), info.st_gid)
    agent.stop()
    assert modes["."][0] == 0o750
    assert modes["app.py"][0] == 0o750, "executable in the archive: 0750"
    assert modes["VERSION"][0] == 0o640
    assert all(mode & 0o007 == 0 for mode, _ in modes.values()), modes
    if os.getuid() == 0:
        assert all(gid == 0 for _, gid in modes.values()), "without app.user the release belongs to root's group"


def test_multipart_artifact_with_a_composite_checksum_installs(workdir, start_harness, agents):
    """A multipart upload's x-amz-checksum-sha256 is a checksum of part checksums ("...-N"), not of the object: it
    must not be compared with the download's SHA-256."""
    extra = os.urandom(6 << 20)  # incompressible: the archive needs two 5 MiB parts

    def big(tar):
        info = tarfile.TarInfo("data.bin")
        info.size = len(extra)
        tar.addfile(info, io.BytesIO(extra))

    artifact = app_archive(os.path.join(workdir, "clock-app.tar.gz"), extra=big)
    data = open(artifact, "rb").read()
    harness = start_harness(artifact)
    s3 = harness.boto3_client("s3")
    bucket, key = harness.info["bucket"], "multipart/clock-app.tar.gz"
    upload = s3.create_multipart_upload(Bucket=bucket, Key=key, ChecksumAlgorithm="SHA256")
    parts = []
    for number, start in enumerate(range(0, len(data), 5 << 20), start=1):
        answer = s3.upload_part(Bucket=bucket, Key=key, UploadId=upload["UploadId"], PartNumber=number,
                                Body=data[start:start + (5 << 20)], ChecksumAlgorithm="SHA256")
        parts.append({"PartNumber": number, "ETag": answer["ETag"], "ChecksumSHA256": answer.get("ChecksumSHA256")})
    assert len(parts) == 2
    s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=upload["UploadId"],
                                 MultipartUpload={"Parts": [{k: v for k, v in p.items() if v} for p in parts]})
    config = base_config(workdir, harness, free_port())
    config["app"]["source"] = f"s3://{bucket}/{key}"
    config["app"]["sha256"] = hashlib.sha256(data).hexdigest()
    agent = agents(workdir, harness, config).start()
    wait_for(lambda: completes(harness, "CONTINUE") or completes(harness, "ABANDON"), 60, message="a launch verdict")
    assert completes(harness, "CONTINUE"), agent.log()[-3000:]
    assert releases(workdir) == [hashlib.sha256(data).hexdigest()]
    assert "checksum mismatch" not in agent.log()
