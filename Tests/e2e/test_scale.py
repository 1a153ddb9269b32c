"""Issue: scale — many files on one instance, many instances in one account; cost that stays flat as the work grows.

Small, fast versions of bench/many_files and bench/fleet: each asserts that no line is lost or duplicated, that
descriptors and request rates stay bounded, and finishes within about a minute.
"""
import collections
import json
import os
import resource
import signal
import subprocess
import threading
import time

import pytest

from conftest import agent_binary, app_archive, base_config, free_port, wait_for

MANY = 120  # files; with a soft RLIMIT_NOFILE of 256, tailing them and their rotated copies needs the raise
SOFT_LIMIT = 256
FLEET = 20  # agents, one per instance of the ASG
QUOTA = 10.0  # sink requests/s over all operations for the whole fleet (0.5 per agent)


def all_events(harness, group="/clock/app"):
    """Every event of the group, per stream, straight from the strict sink."""
    out = collections.defaultdict(list)
    for e in harness.control("GET", f"/sink/events?group={group}", timeout=60)["events"]:
        out[e["stream"]].append(e["message"])
    return out


def fds_under(pid, directory):
    prefix = os.path.realpath(directory) + "/"
    count = 0
    for name in os.listdir(f"/proc/{pid}/fd"):
        try:
            count += os.readlink(f"/proc/{pid}/fd/{name}").startswith(prefix)
        except OSError:
            pass
    return count


def test_many_rotating_files_lose_nothing_and_leak_no_descriptor(workdir, start_harness, agents):
    logs = os.path.join(workdir, "logs")
    os.makedirs(logs)
    harness = start_harness(app_archive(os.path.join(workdir, "clock-app.tar.gz")))
    config = base_config(workdir, harness, free_port())
    config["logs"] = {"flush_interval": "300ms",
                      "sources": [{"name": "files", "type": "file", "path": os.path.join(logs, "*.log")}]}
    paths = [os.path.join(logs, f"f{i:03d}.log") for i in range(MANY)]
    written = collections.defaultdict(list)

    def write(i, tag):
        line = f"{tag} file={i:03d} n={len(written[i]):04d}"
        with open(paths[i], "a") as f:
            f.write(line + "\n")
        written[i].append(line)

    for i in range(MANY):
        write(i, "before-start")
    # A service's soft descriptor limit (systemd: 1024; smaller here so that the test stays small).
    saved = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (SOFT_LIMIT, saved[1]))
    try:
        agent = agents(workdir, harness, config).start()
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, saved)
    agent.wait_log("app is healthy")
    stream = f"{harness.info['instance_id']}/files"

    def arrived():
        return sum(len(v) for v in all_events(harness).values())

    wait_for(lambda: arrived() >= MANY, 30, message="the first line of every file")
    # Every file: lines, a rotation by rename (the rotated copy keeps its descriptor until it was shipped), more
    # lines to the new file, a second rotation that unlinks the first copy, more lines.
    for rnd in range(2):
        for n in range(3):
            for i in range(MANY):
                write(i, f"round{rnd}")
        for i in range(MANY):
            os.replace(paths[i], paths[i] + ".1")
            write(i, f"after-rotation{rnd}")
        time.sleep(0.5)
    total = sum(len(v) for v in written.values())
    wait_for(lambda: arrived() >= total, 30, message=f"{total} lines at the sink")
    peak = fds_under(agent.proc.pid, logs)
    # Rotated copies are released once read to their end, accepted and quiet for 5 s.
    wait_for(lambda: fds_under(agent.proc.pid, logs) == MANY, 20,
             message=f"only the {MANY} current files open (peak {peak})")
    agent.signal(signal.SIGTERM)
    assert agent.wait(30) == 0
    got = collections.Counter(all_events(harness)[stream])
    expected = [line for i in range(MANY) for line in written[i]]
    missing = [line for line in expected if got[line] == 0]
    assert not missing, f"{len(missing)} of {len(expected)} lines lost, e.g. {missing[:3]}"
    assert all(c == 1 for c in got.values()), "a line arrived twice"
    assert len(got) == len(expected)
    log = agent.log()
    assert "raised the open-file limit" in log
    assert "Too many open files" not in log
    assert harness.control("GET", "/sink/stats")["describe_log_streams_calls"] == 0


APP_SH = '#!/bin/sh\necho "clock app on $1 starting"\nexec sleep 100000\n'


def start_fleet(workdir, harness, count):
    binary = agent_binary()
    procs = {}
    files = {}
    for n, inst in enumerate(harness.info["instances"][:count]):
        iid = inst["instance_id"]
        d = os.path.join(workdir, f"a{n:02d}")
        os.makedirs(os.path.join(d, "logs"))
        files[iid] = os.path.join(d, "logs", "app.log")
        with open(files[iid], "w") as f:
            f.write(f"boot line of {iid}\n")
        config = {
            "state_dir": os.path.join(d, "state"),
            "app": {"source": f"s3://{harness.info['bucket']}/{harness.info['artifact_key']}",
                    "install_dir": os.path.join(d, "install"), "command": ["/bin/sh", "app.sh", iid],
                    "stop_timeout": "2s"},
            "logs": {"sources": [{"name": "app", "type": "app"},
                                 {"name": "files", "type": "file", "path": os.path.join(d, "logs", "*.log")}]},
            "lifecycle": {"launch_hook": harness.info["launch_hook"], "terminate_hook": harness.info["terminate_hook"],
                          "poll_interval": "1s"},
        }
        with open(os.path.join(d, "config.yaml"), "w") as f:
            json.dump(config, f)
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": d}
        env.update(harness.agent_env(instance_id=iid))  # instance-profile credentials from its own IMDS
        log = open(os.path.join(d, "agent.log"), "ab")
        procs[iid] = subprocess.Popen([binary, "run", "--config", os.path.join(d, "config.yaml")], env=env,
                                      stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        log.close()
    return procs, files


@pytest.fixture
def fleet_harness(workdir):
    import sys
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "harness"))
    from clockharness import Harness
    artifact = os.path.join(workdir, "app.sh")
    with open(artifact, "w") as f:
        f.write(APP_SH)
    h = Harness(os.path.join(workdir, "harness"), artifact=artifact, artifact_key="app.sh", sink=True,
                instances=FLEET, sink_quota=f"rate={QUOTA:g},burst={QUOTA:g}", ready_timeout=60)
    h.start()
    yield h
    h.stop()


def test_fleet_boots_under_a_request_quota_and_loses_nothing(workdir, fleet_harness):
    h = fleet_harness
    procs, files = start_fleet(workdir, h, FLEET)
    t0 = time.time()
    stop = threading.Event()
    written = {iid: [f"boot line of {iid}"] for iid in files}

    def trickle():
        k = 0
        while not stop.wait(0.2):  # a line for one agent every 0.2 s: 0.25 lines/s per agent
            iid = list(files)[k % FLEET]
            line = f"trickle {iid} n={k:05d}"
            with open(files[iid], "a") as f:
                f.write(line + "\n")
            written[iid].append(line)
            k += 1

    writer = threading.Thread(target=trickle, daemon=True)
    writer.start()
    try:
        def launched():
            fl = h.control("GET", "/fleet", timeout=30)["instances"]
            return all(v["launch_completed_at"] for v in fl.values())
        wait_for(launched, 40, interval=0.5, message="every launch hook completed")
        launch_seconds = time.time() - t0
        time.sleep(8)
        stop.set()
        writer.join(5)
        # Scale-in of the whole fleet at once: each agent drains, completes its terminate hook and exits 0.
        for iid in files:
            h.control("POST", "/imds/lifecycle-state", {"state": "Terminated", "instance_id": iid})
        deadline = time.monotonic() + 45
        while time.monotonic() < deadline and any(p.poll() is None for p in procs.values()):
            time.sleep(0.5)
        codes = {iid: p.poll() for iid, p in procs.items()}
        assert all(c == 0 for c in codes.values()), codes
    finally:
        stop.set()
        for p in procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGKILL)
                p.wait(10)
    events = all_events(h)
    for iid in files:
        got = collections.Counter(events[f"{iid}/files"])
        assert sorted(got) == sorted(written[iid]), f"{iid}: lines lost or extra"
        assert all(c == 1 for c in got.values()), f"{iid}: a line arrived twice"
        assert events[f"{iid}/app"].count(f"clock app on {iid} starting") == 1
    stats = h.control("GET", "/sink/stats")
    assert stats["describe_log_streams_calls"] == 0
    assert stats["throttled_total"] > 0, "the boot herd should have met the quota"
    # The sink never let more through than the quota; what the herd offered stays within a bound: from 10 s after
    # the first rejection on, the mean offered rate is at most a few times the quota.
    timeline = {t["second"]: t for t in stats["timeline"]}
    first = min(s for s, t in timeline.items() if t.get("throttled"))
    accepted = [t["requests"] - t.get("throttled", 0) for t in timeline.values()]
    assert max(accepted) <= 2 * QUOTA + 1
    later = [timeline.get(s, {}).get("requests", 0) for s in range(first + 10, max(timeline) + 1)]
    if later:
        assert sum(later) / len(later) <= 4 * QUOTA, later
    # Per instance: one S3 fetch (HEAD + GET at most), exactly one launch CONTINUE and one terminate CONTINUE.
    fleet = h.control("GET", "/fleet")["instances"]
    for iid, v in fleet.items():
        s3 = sum(n for k, n in v["moto_requests"].items() if k.startswith("s3:"))
        assert 1 <= s3 <= 2, (iid, v["moto_requests"])
        assert v["moto_requests"].get("autoscaling:CompleteLifecycleAction") == 2, (iid, v["moto_requests"])
        assert v["launch_result"] == "CONTINUE"
    assert launch_seconds < 40
