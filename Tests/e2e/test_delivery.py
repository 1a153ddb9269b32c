"""Delivery under refusals, seen from `clock-agent status`: the error a source's batches are stuck on is shown while
they retry (throttling, a denied permission) and is gone once a batch is accepted; the missing group and stream the
agent creates by itself are never shown as an error; nothing is lost on the way."""
import collections
import json
import os
import signal
import time

from conftest import app_archive, free_port, wait_for
from test_logs import logs_config, messages, stream_of
from test_status import run_status


def status(agent):
    """`clock-agent status --json`, or None before the agent's status socket is up."""
    result = run_status(agent.config_path, "--json")
    if result.returncode != 0 and "no clock-agent is running" in result.stderr and agent.proc.poll() is None:
        return None
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def source_status(agent, name):
    report = status(agent)
    if report is None:
        return {}
    return next(s for s in report["logs"] if s["name"] == name)


def status_text(agent):
    result = run_status(agent.config_path)
    assert result.returncode == 0, result.stderr
    return result.stdout


def source_section(text, name):
    """The lines of one source in the text form of `clock-agent status`: its `name -> stream` line and the indented
    lines under it."""
    section = []
    for line in text.splitlines():
        if line.startswith(f"  {name} -> "):
            section.append(line)
        elif section and line.startswith("    "):
            section.append(line)
        elif section:
            break
    assert section, f"no source {name} in:\n{text}"
    return section


def write(path, lines):
    with open(path, "a") as f:
        f.write("".join(line + "\n" for line in lines))


def start(workdir, start_harness, agents):
    os.makedirs(os.path.join(workdir, "logs"), exist_ok=True)
    harness = start_harness(app_archive(os.path.join(workdir, "clock-app.tar.gz")))
    path = os.path.join(workdir, "logs", "web.log")
    write(path, ["first line"])
    agent = agents(workdir, harness, logs_config(workdir, harness, free_port())).start()
    # From start to the first accepted line (the agent creates the group and the stream on the way), the status
    # never shows an error for the source.
    seen = []

    def first_line_shipped():
        seen.append(source_status(agent, "files").get("lastError"))
        return "first line" in messages(harness, stream_of(harness, "files"))

    wait_for(first_line_shipped, 40, interval=0.2, message="the first line in CloudWatch")
    assert len(seen) >= 3
    assert [e for e in seen if e] == [], f"errors shown while the agent created the group and stream: {set(seen)}"
    assert source_status(agent, "files").get("lastError") is None
    return harness, agent, path


def test_throttling_is_shown_while_batches_retry_and_cleared_after(workdir, start_harness, agents):
    harness, agent, path = start(workdir, start_harness, agents)
    harness.control("POST", "/sink/faults", {"throttle": 100000})
    during = [f"during-throttling-{n:03d}" for n in range(50)]
    write(path, during)
    shown = wait_for(lambda: (source_status(agent, "files").get("lastError") or "").find("ThrottlingException") >= 0
                     and source_status(agent, "files"), 30, interval=0.2,
                     message="the throttling in `clock-agent status` while the batch retries")
    assert "PutLogEvents" in shown["lastError"]
    assert shown["eventsShipped"] == 1, "nothing more was accepted while throttled"
    text = status_text(agent)
    assert any(line.strip().startswith("last error:") and "ThrottlingException" in line for line in text.splitlines()), text
    assert not any(m.startswith("during-throttling") for m in messages(harness, stream_of(harness, "files")))

    harness.control("POST", "/sink/faults", {"clear": True})
    wait_for(lambda: len(messages(harness, stream_of(harness, "files"))) >= 51, 60, interval=0.5,
             message="the lines written while throttled")
    wait_for(lambda: source_status(agent, "files").get("lastError") is None, 10, interval=0.2,
             message="the error cleared once a batch was accepted")
    assert "last error:" not in "".join(source_section(status_text(agent), "files"))
    # Each source keeps its own backoff: a source whose batch was refused late in the throttling may still be
    # waiting for its retry (up to 30 s), and shows the error until that retry is accepted.
    wait_for(lambda: all(s.get("lastError") is None for s in status(agent)["logs"]), 45, interval=0.5,
             message="every source's error cleared once its retry was accepted")
    assert "last error:" not in status_text(agent)
    agent.signal(signal.SIGTERM)
    assert agent.wait(60) == 0
    got = collections.Counter(messages(harness, stream_of(harness, "files")))
    assert sorted(got) == sorted(["first line"] + during)
    assert all(c == 1 for c in got.values()), "a line arrived twice"
    stats = harness.control("GET", "/sink/stats")
    assert stats["injected"].get("throttle", 0) >= 1
    assert stats["describe_log_streams_calls"] == 0


def test_a_denied_permission_is_shown_until_it_is_granted_again(workdir, start_harness, agents):
    harness, agent, path = start(workdir, start_harness, agents)
    harness.control("POST", "/policy/remove", {"sids": ["ShipLogs"]})
    try:
        write(path, ["while denied"])
        wait_for(lambda: "AccessDeniedException" in (source_status(agent, "files").get("lastError") or ""), 30,
                 interval=0.2, message="AccessDeniedException in `clock-agent status`")
    finally:
        harness.control("POST", "/policy/restore", {})
    # Permission errors are retried slowly (10-20 s): the line arrives after the next attempt, and the error goes.
    wait_for(lambda: "while denied" in messages(harness, stream_of(harness, "files")), 60, interval=0.5,
             message="the line written while denied")
    wait_for(lambda: source_status(agent, "files").get("lastError") is None, 10, interval=0.2,
             message="the error cleared")
    agent.signal(signal.SIGTERM)
    assert agent.wait(60) == 0
    assert collections.Counter(messages(harness, stream_of(harness, "files"))) == {"first line": 1, "while denied": 1}
