"""The agent's own logs under systemd: native journald entries with structured fields, read back with journalctl
from a real (standalone) journald."""
import json
import os
import shutil
import subprocess

import pytest

from conftest import app_archive, base_config, free_port, agent_binary

HERE = os.path.dirname(__file__)


@pytest.mark.skipif(os.getuid() != 0 or not os.path.exists("/lib/systemd/systemd-journald"),
                    reason="needs root and systemd-journald")
def test_agent_logs_natively_to_journald(workdir, start_harness):
    harness = start_harness(app_archive(os.path.join(workdir, "clock-app.tar.gz")))
    config = base_config(workdir, harness, free_port())
    config["lifecycle"] = {"poll_interval": "1s"}  # no launch hook: a failed launch exits (code 2)
    config["app"]["source"] = f"s3://{harness.info['bucket']}/no-such-object.tar.gz"
    config_path = os.path.join(workdir, "config.yaml")
    with open(config_path, "w") as f:
        json.dump(config, f)
    scratch = os.path.join(workdir, "journal")
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", "HOME": workdir,
           "AWS_ENDPOINT_URL": harness.moto, "AWS_EC2_METADATA_SERVICE_ENDPOINT": harness.imds}
    result = subprocess.run(
        ["unshare", "-m", "--propagation", "private", os.path.join(HERE, "journald_run.sh"), scratch,
         agent_binary(), "run", "--config", config_path],
        env=env, capture_output=True, timeout=120)
    assert result.returncode == 2, result.stderr.decode()
    assert result.stdout == b"" and result.stderr == b"", "everything went to the journal"
    read = subprocess.run(["journalctl", "-D", os.path.join(scratch, "run", "log", "journal"), "-o", "json",
                           "SYSLOG_IDENTIFIER=clock-agent"], capture_output=True, timeout=30, check=True)
    entries = [json.loads(line) for line in read.stdout.decode().splitlines() if line.strip()]
    messages = [e["MESSAGE"] for e in entries]
    assert any(m.startswith("clock-agent starting") for m in messages)
    failed = [e for e in entries if e["MESSAGE"].startswith("launch failed")]
    assert failed, messages
    entry = failed[0]
    assert entry["_TRANSPORT"] == "journal", "native entries, not the stdout stream"
    assert entry["PRIORITY"] == "2"
    assert "no-such-object.tar.gz" in entry["AGENT_REASON"]
    assert entry["CLOCK_LOGGER"] == "clock-agent"
    assert entry["CODE_FILE"].endswith(".swift") and int(entry["CODE_LINE"]) > 0
    identity = [e for e in entries if e["MESSAGE"].startswith("instance identity")][0]
    assert identity["EC2_INSTANCE_ID"] == harness.info["instance_id"]
    assert identity["PRIORITY"] == "6"
    shutil.rmtree(scratch, ignore_errors=True)
