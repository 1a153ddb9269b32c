"""Issue: the instance goes away cleanly — scale-in drain, spot interruption, warm pools, systemd stop."""
import collections
import datetime
import os
import signal
import time

from conftest import app_archive, base_config, free_port, lifecycle_calls, wait_for
from test_logs import Writer, logs_config, messages, stream_events, stream_of


def completes(harness, hook=None):
    calls = lifecycle_calls(harness, "CompleteLifecycleAction")
    return [c for c in calls if hook is None or c["hook"] == hook]


def test_scale_in_under_load_ships_everything_before_the_hook(workdir, start_harness, agents):
    os.makedirs(os.path.join(workdir, "logs"))
    harness = start_harness(app_archive(os.path.join(workdir, "clock-app.tar.gz")))
    config = logs_config(workdir, harness, free_port())
    config["app"]["environment"]["APP_CHATTER"] = "500"
    writer = Writer(os.path.join(workdir, "logs", "web.log"), rate=2000)
    agent = agents(workdir, harness, config).start()
    wait_for(lambda: completes(harness, "clock-launch"), 30, message="launch CONTINUE")
    writer.start()
    time.sleep(3)
    # The writer keeps appending across the transition: every line completed before the flip must arrive.
    written = [writer.line(n) for n in range(writer.count)]
    harness.control("POST", "/imds/lifecycle-state", {"state": "Terminated"})
    assert agent.wait(120) == 0, agent.log()[-2000:]
    writer.stop()

    terminate = completes(harness, "clock-terminate")
    assert len(terminate) == 1 and terminate[0]["result"] == "CONTINUE" and terminate[0]["outcome"] == "OK"
    hook_time = terminate[0]["time"]
    files = stream_events(harness, stream_of(harness, "files"))
    accepted = collections.Counter(e["message"] for e in files)
    assert all(accepted[line] >= 1 for line in written), "a line written before the transition is missing"
    assert all(n == 1 for n in accepted.values()), "a drain must not duplicate"
    assert len(accepted) >= len(written)
    app = stream_events(harness, stream_of(harness, "app"))
    app_messages = [e["message"] for e in app]
    assert "test app got SIGTERM" in app_messages, "the app was stopped first and its last words shipped"
    chatter = sorted(m for m in app_messages if m.startswith("chatter-"))
    assert chatter and chatter == [f"chatter-{n:08d}" for n in range(len(chatter))], "no gap in the app's output"
    # Everything was accepted before the hook was completed.
    # Every line written before the transition was accepted before the hook was completed (lines the writer added
    # afterwards may come later: they were not part of the drain).
    sink = harness.control("GET", f"/sink/events?group=/clock/app&stream={stream_of(harness, 'files')}")["events"]
    before = set(written)
    assert max(e["accepted_at"] for e in sink if e["message"] in before) <= hook_time
    sigterm = [e for e in harness.control("GET", f"/sink/events?group=/clock/app&stream={stream_of(harness, 'app')}")["events"]
               if e["message"] == "test app got SIGTERM"]
    assert sigterm[0]["accepted_at"] <= hook_time
    assert "every log line written before the drain was shipped" in agent.log()


def test_slow_cloudwatch_during_the_drain_is_heartbeated_and_nothing_is_lost(workdir, start_harness, agents):
    os.makedirs(os.path.join(workdir, "logs"))
    harness = start_harness(app_archive(os.path.join(workdir, "clock-app.tar.gz")))
    writer = Writer(os.path.join(workdir, "logs", "web.log"), rate=1000)
    agent = agents(workdir, harness, logs_config(workdir, harness, free_port())).start()
    wait_for(lambda: completes(harness, "clock-launch"), 30, message="launch CONTINUE")
    writer.start()
    time.sleep(2)
    writer.stop()
    # CloudWatch answers with throttling for 25 s: the drain waits, heartbeating the hook.
    harness.control("POST", "/sink/faults", {"throttle": 100000})
    harness.control("POST", "/imds/lifecycle-state", {"state": "Terminated"})
    time.sleep(25)
    harness.control("POST", "/sink/faults", {"clear": True})
    assert agent.wait(120) == 0
    heartbeats = [c for c in lifecycle_calls(harness, "RecordLifecycleActionHeartbeat") if c["hook"] == "clock-terminate"]
    assert len(heartbeats) >= 2, "the terminate hook was kept alive while the drain waited"
    terminate = completes(harness, "clock-terminate")
    assert len(terminate) == 1 and terminate[0]["time"] > heartbeats[-1]["time"]
    got = collections.Counter(messages(harness, stream_of(harness, "files")))
    assert all(got[line] >= 1 for line in writer.expected())
    assert harness.control("GET", "/sink/stats")["injected"].get("throttle", 0) > 0


def test_spot_notice_drains_within_the_notice(workdir, start_harness, agents):
    os.makedirs(os.path.join(workdir, "logs"))
    harness = start_harness(app_archive(os.path.join(workdir, "clock-app.tar.gz")))
    harness.control("POST", "/imds/instance-life-cycle", {"value": "spot"})
    writer = Writer(os.path.join(workdir, "logs", "web.log"), rate=500)
    agent = agents(workdir, harness, logs_config(workdir, harness, free_port())).start()
    wait_for(lambda: completes(harness, "clock-launch"), 30, message="launch CONTINUE")
    writer.start()
    time.sleep(2)
    writer.stop()
    notice = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=30)
    harness.control("POST", "/imds/spot", {"action": "terminate", "time": notice.strftime("%Y-%m-%dT%H:%M:%SZ")})
    assert agent.wait(40) == 0
    assert datetime.datetime.now(datetime.timezone.utc) < notice, "drained inside the notice"
    got = collections.Counter(messages(harness, stream_of(harness, "files")))
    assert all(got[line] == 1 for line in writer.expected())
    assert not completes(harness, "clock-terminate"), "spot interruptions bypass lifecycle hooks"
    assert "spot interruption notice; draining before it" in agent.log()


def test_systemd_stop_drains_without_the_terminate_hook_and_stray_signals_do_not_stop_it(workdir, start_harness, agents):
    os.makedirs(os.path.join(workdir, "logs"))
    harness = start_harness(app_archive(os.path.join(workdir, "clock-app.tar.gz")))
    writer = Writer(os.path.join(workdir, "logs", "web.log"), rate=1000)
    agent = agents(workdir, harness, logs_config(workdir, harness, free_port())).start()
    wait_for(lambda: completes(harness, "clock-launch"), 30, message="launch CONTINUE")
    writer.start()
    # Signals nobody asked for (a stray SIGHUP or SIGUSR1, say from a log rotator's misconfigured postrotate) are
    # not a reason to stop without draining: they stay pending.
    for stray in (signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2, signal.SIGQUIT, signal.SIGALRM):
        agent.signal(stray)
    time.sleep(2)
    assert agent.proc.poll() is None, "a stray signal ended the agent: " + agent.log()[-1000:]
    writer.stop()
    agent.signal(signal.SIGTERM)
    assert agent.wait(60) == 0
    assert sorted(messages(harness, stream_of(harness, "files"))) == writer.expected()
    assert not completes(harness, "clock-terminate"), "no Terminated target state: the hook is left alone"


def test_warm_pool_prepares_without_starting_then_serves_without_downloading(workdir, start_harness, agents):
    harness = start_harness(app_archive(os.path.join(workdir, "clock-app.tar.gz")))
    harness.control("POST", "/imds/lifecycle-state", {"state": "Warmed:Stopped"})
    port = free_port()
    starts = os.path.join(workdir, "starts")
    config = base_config(workdir, harness, port)
    config["app"]["environment"]["APP_STARTS_FILE"] = starts
    config["app"]["prepare"] = [["sh", "-c", f"echo prepared >> {workdir}/prepared"]]
    agent = agents(workdir, harness, config).start()
    wait_for(lambda: completes(harness, "clock-launch"), 30, message="launch hook completed for the warm pool")
    time.sleep(2)
    assert not os.path.exists(starts), "the app must not start in a warm pool"
    assert open(os.path.join(workdir, "prepared")).read() == "prepared\n"
    # Out of the warm pool into service: the launch hook runs again.
    harness.control("POST", "/lifecycle/state", {"state": "Pending:Wait"})
    harness.control("POST", "/imds/lifecycle-state", {"state": "InService"})
    wait_for(lambda: os.path.exists(starts), 30, message="the app started")
    wait_for(lambda: len(completes(harness, "clock-launch")) == 2, 30, message="second launch CONTINUE")
    log = agent.log()
    assert log.count("artifact verified") == 1, "no second download"
    assert open(os.path.join(workdir, "prepared")).read() == "prepared\n", "prepare ran once"
    assert "the instance left the warm pool; starting the app" in log


def test_a_file_created_just_before_sigterm_is_shipped_whole(workdir, start_harness, agents):
    os.makedirs(os.path.join(workdir, "logs"))
    harness = start_harness(app_archive(os.path.join(workdir, "clock-app.tar.gz")))
    agent = agents(workdir, harness, logs_config(workdir, harness, free_port())).start()
    wait_for(lambda: completes(harness, "clock-launch"), 30, message="launch CONTINUE")
    # A new file (no change notification read for it yet) and, at once, the stop.
    lines = [f"late-{n:05d} written before the stop" for n in range(2000)]
    with open(os.path.join(workdir, "logs", "late.log"), "w") as f:
        f.write("\n".join(lines) + "\n")
    agent.signal(signal.SIGTERM)
    assert agent.wait(60) == 0
    got = collections.Counter(messages(harness, stream_of(harness, "files")))
    assert all(got[line] == 1 for line in lines), f"{sum(1 for line in lines if got[line] != 1)} lines missing or doubled"
