"""Lifecycle edge cases of the built binary against the harness: the launch verdict under races and restarts,
heartbeats, the drain bound, SIGTERM racing a termination, warm pools in both directions, the watchdog while no
app runs, and what polling instance metadata costs.

Each test checks what the Auto Scaling group (the harness's lifecycle recorder) and the operator (the agent's
log, the notify socket, `clock-agent status`) would see.
"""
import json
import os
import signal
import time

from conftest import NotifySocket, app_archive, base_config, free_port, lifecycle_calls, wait_for
from test_logs import Writer, logs_config, stream_of
from test_status import run_status


def calls(harness, action, hook=None):
    return [c for c in lifecycle_calls(harness, action) if hook is None or c["hook"] == hook]


def completed(harness, hook, result="CONTINUE"):
    return [c for c in calls(harness, "CompleteLifecycleAction", hook) if c["result"] == result and c["outcome"] == "OK"]


def status_json(agent):
    out = run_status(agent.config_path, "--json", env=agent.env)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def lines(path):
    return open(path).read().split() if os.path.exists(path) else []


def test_launch_action_not_visible_yet_is_retried_until_it_is(workdir, start_harness, agents):
    harness = start_harness(app_archive(os.path.join(workdir, "clock-app.tar.gz")))
    # The first two Completes fail with "No active Lifecycle Action found" while Describe still shows Pending:Wait.
    harness.control("POST", "/lifecycle/race", {"complete_failures": 2})
    agent = agents(workdir, harness, base_config(workdir, harness, free_port())).start()
    wait_for(lambda: completed(harness, "clock-launch"), 40, message="CONTINUE accepted after the race")
    attempts = calls(harness, "CompleteLifecycleAction", "clock-launch")
    assert [c["outcome"] for c in attempts] == ["ValidationError", "ValidationError", "OK"], attempts
    assert "lifecycle action not visible yet; retrying" in agent.log()
    assert status_json(agent)["lifecycle"]["launchResult"] == "CONTINUE"


def test_an_already_decided_launch_is_not_an_error_after_a_restart(workdir, start_harness, agents):
    harness = start_harness(app_archive(os.path.join(workdir, "clock-app.tar.gz")))
    config = base_config(workdir, harness, free_port())
    first = agents(workdir, harness, config).start()
    wait_for(lambda: completed(harness, "clock-launch"), 30, message="launch CONTINUE")
    first.signal(signal.SIGTERM)
    assert first.wait(30) == 0
    wait_for(lambda: harness.control("GET", "/lifecycle/state")["instances"][harness.instance_id]["state"] == "InService",
             10, message="InService")
    # The agent restarts on a serving instance: its CONTINUE finds no action and the group says InService.
    second = agents(workdir, harness, config).start()
    second.wait_log("lifecycle action was already decided", 40)
    assert status_json(second)["lifecycle"]["launchResult"] == "already decided (InService)"
    assert "completing the launch lifecycle action failed" not in second.log()


def test_the_launch_hook_is_heartbeated_while_preparing(workdir, start_harness, agents):
    harness = start_harness(app_archive(os.path.join(workdir, "clock-app.tar.gz")))
    config = base_config(workdir, harness, free_port())
    config["app"]["prepare"] = [["sleep", "23"]]
    agents(workdir, harness, config).start()
    wait_for(lambda: completed(harness, "clock-launch"), 90, message="launch CONTINUE after a slow prepare")
    beats = [c for c in calls(harness, "RecordLifecycleActionHeartbeat", "clock-launch") if c["outcome"] == "OK"]
    assert len(beats) >= 2, beats
    assert max(b["time"] for b in beats) < completed(harness, "clock-launch")[0]["time"]


def test_sigterm_during_prepare_stops_it_without_abandoning(workdir, start_harness, agents):
    harness = start_harness(app_archive(os.path.join(workdir, "clock-app.tar.gz")))
    config = base_config(workdir, harness, free_port())
    marker = os.path.join(workdir, "prepare-ran-to-the-end")
    config["app"]["prepare"] = [["sh", "-c", f"echo preparing; sleep 60; touch {marker}"]]
    agent = agents(workdir, harness, config).start()
    agent.wait_log("preparing release", 30)
    time.sleep(1)
    agent.signal(signal.SIGTERM)
    assert agent.wait(40) == 0, agent.log()[-3000:]
    log = agent.log()
    assert "launch failed" not in log
    assert "bootstrap stopped: the agent is shutting down" in log
    assert not calls(harness, "CompleteLifecycleAction"), "a stopped bootstrap is not a launch verdict"
    time.sleep(1)
    assert not os.path.exists(marker), "the prepare step was stopped, not waited for"


def test_an_abandoned_launch_stops_the_app_and_still_drains_at_termination(workdir, start_harness, agents):
    harness = start_harness(app_archive(os.path.join(workdir, "clock-app.tar.gz")))
    config = base_config(workdir, harness, free_port())
    starts = os.path.join(workdir, "starts")
    config["app"]["environment"].update({"APP_MODE": "never-healthy", "APP_STARTS_FILE": starts})
    config["app"]["health"]["start_timeout"] = "3s"
    agent = agents(workdir, harness, config).start()
    wait_for(lambda: completed(harness, "clock-launch", "ABANDON"), 30, message="ABANDON")
    wait_for(lambda: status_json(agent)["app"].get("pid") is None, 20, message="the app stopped after ABANDON")
    settled = len(lines(starts))
    time.sleep(3)
    assert len(lines(starts)) == settled, "an abandoned app is not restarted"
    assert status_json(agent)["agent"]["phase"] == "launch failed"
    assert agent.proc.poll() is None, "the agent keeps running (and shipping) until the instance is terminated"
    # After ABANDON the group terminates the instance: Terminating:Wait on the terminate hook.
    harness.control("POST", "/lifecycle/state", {"state": "Terminating:Wait"})
    harness.control("POST", "/imds/lifecycle-state", {"state": "Terminated"})
    assert agent.wait(60) == 0
    assert completed(harness, "clock-terminate"), "the drain still completes the terminate hook"
    assert not completed(harness, "clock-launch", "CONTINUE")


def test_the_drain_bound_completes_the_hook_and_says_what_was_left(workdir, start_harness, agents):
    os.makedirs(os.path.join(workdir, "logs"))
    harness = start_harness(app_archive(os.path.join(workdir, "clock-app.tar.gz")))
    config = logs_config(workdir, harness, free_port())
    config["lifecycle"]["drain_timeout"] = "4s"
    writer = Writer(os.path.join(workdir, "logs", "web.log"), rate=200)
    agent = agents(workdir, harness, config).start()
    wait_for(lambda: completed(harness, "clock-launch"), 30, message="launch CONTINUE")
    # CloudWatch throttles everything from now on: nothing more can be shipped.
    harness.control("POST", "/sink/faults", {"throttle": 10_000_000})
    writer.start()
    time.sleep(1)
    writer.stop()
    started = time.monotonic()
    harness.control("POST", "/imds/lifecycle-state", {"state": "Terminated"})
    assert agent.wait(90) == 0
    assert time.monotonic() - started < 60, "the drain bound ended the drain"
    assert completed(harness, "clock-terminate"), "the hook is completed with what could be shipped"
    log = agent.log()
    assert "drain deadline reached; some log lines were not shipped" in log
    assert "drain.left" in log and stream_of(harness, "files").split("/")[-1] in log or "files" in log


def test_sigterm_racing_a_termination_still_completes_the_terminate_hook(workdir, start_harness, agents):
    harness = start_harness(app_archive(os.path.join(workdir, "clock-app.tar.gz")))
    config = base_config(workdir, harness, free_port())
    config["lifecycle"]["poll_interval"] = "1h"  # the watcher will not see the transition: only SIGTERM does
    agent = agents(workdir, harness, config).start()
    wait_for(lambda: completed(harness, "clock-launch"), 30, message="launch CONTINUE")
    harness.control("POST", "/imds/lifecycle-state", {"state": "Terminated"})
    agent.signal(signal.SIGTERM)
    assert agent.wait(60) == 0
    assert len(completed(harness, "clock-terminate")) == 1


def test_polling_instance_metadata_is_one_request_per_interval_with_the_token_reused(workdir, start_harness, agents):
    harness = start_harness(app_archive(os.path.join(workdir, "clock-app.tar.gz")))
    agents(workdir, harness, base_config(workdir, harness, free_port())).start()  # poll_interval 1s
    wait_for(lambda: completed(harness, "clock-launch"), 30, message="launch CONTINUE")
    time.sleep(2)
    since = harness.control("GET", "/imds/requests")["last_seq"]
    time.sleep(10)
    requests = harness.control("GET", f"/imds/requests?since={since}")["requests"]
    paths = [r["path"] for r in requests]
    polls = [p for p in paths if p.endswith("autoscaling/target-lifecycle-state")]
    assert 8 <= len(polls) <= 12, paths
    assert len(paths) == len(polls), f"an on-demand instance polls nothing else: {sorted(set(paths))}"
    assert all(r["token"] == "valid" for r in requests)
    assert not [r for r in requests if r["method"] == "PUT"], "the IMDSv2 token is reused"


def test_returning_to_the_warm_pool_ships_and_completes_the_terminate_hook_then_serves_again(
        workdir, start_harness, agents):
    harness = start_harness(app_archive(os.path.join(workdir, "clock-app.tar.gz")))
    config = base_config(workdir, harness, free_port())
    starts = os.path.join(workdir, "starts")
    config["app"]["environment"]["APP_STARTS_FILE"] = starts
    agent = agents(workdir, harness, config).start()
    wait_for(lambda: completed(harness, "clock-launch"), 30, message="launch CONTINUE")
    # Scale-in with instance reuse: the terminate hook holds the instance while it goes back into the pool.
    harness.control("POST", "/lifecycle/state", {"state": "Terminating:Wait"})
    harness.control("POST", "/imds/lifecycle-state", {"state": "Warmed:Running"})
    wait_for(lambda: completed(harness, "clock-terminate"), 30, message="terminate hook CONTINUE")
    app = [e["message"] for e in harness.control(
        "GET", f"/sink/events?group=/clock/app&stream={stream_of(harness, 'app')}")["events"]]
    assert "test app got SIGTERM" in app, "the app was stopped and its last words shipped before the hook"
    assert agent.proc.poll() is None, "the agent stays up in the warm pool"
    assert status_json(agent)["app"].get("pid") is None
    # Back into service: the app starts again and the launch hook is completed again.
    harness.control("POST", "/lifecycle/state", {"state": "Pending:Wait"})
    harness.control("POST", "/imds/lifecycle-state", {"state": "InService"})
    wait_for(lambda: len(completed(harness, "clock-launch")) == 2, 30, message="second launch CONTINUE")
    assert len(lines(starts)) == 2
    assert agent.log().count("artifact verified") == 1, "no second download"


def test_a_stopped_warm_instance_exits_cleanly_and_serves_after_its_next_boot(workdir, start_harness, agents):
    harness = start_harness(app_archive(os.path.join(workdir, "clock-app.tar.gz")))
    harness.control("POST", "/imds/lifecycle-state", {"state": "Warmed:Stopped"})
    config = base_config(workdir, harness, free_port())
    starts = os.path.join(workdir, "starts")
    config["app"]["environment"]["APP_STARTS_FILE"] = starts
    notify = NotifySocket(os.path.join(workdir, "notify.sock"))
    try:
        warm = agents(workdir, harness, config, extra_env={"NOTIFY_SOCKET": notify.path}).start()
        wait_for(lambda: completed(harness, "clock-launch"), 30, message="launch CONTINUE into the warm pool")
        wait_for(lambda: notify.has("READY=1"), 10, message="READY=1 in the warm pool (systemd's start completes)")
        assert not os.path.exists(starts)
        # The instance is stopped: systemd stops the agent.
        warm.signal(signal.SIGTERM)
        assert warm.wait(30) == 0
        assert not calls(harness, "CompleteLifecycleAction", "clock-terminate")
    finally:
        notify.close()
    # Next boot, out of the pool and into service.
    harness.control("POST", "/lifecycle/state", {"state": "Pending:Wait"})
    harness.control("POST", "/imds/lifecycle-state", {"state": "InService"})
    earlier = len(warm.log())
    booted = agents(workdir, harness, config).start()
    wait_for(lambda: len(completed(harness, "clock-launch")) == 2, 30, message="launch CONTINUE after the boot")
    assert len(lines(starts)) == 1
    log = booted.log()[earlier:]
    assert "this artifact is already installed; no download" in log and "artifact verified" not in log


def test_the_watchdog_is_fed_while_no_app_runs(workdir, start_harness, agents):
    harness = start_harness(app_archive(os.path.join(workdir, "clock-app.tar.gz")))
    config = base_config(workdir, harness, free_port())
    config["app"]["environment"]["APP_MODE"] = "never-healthy"
    config["app"]["health"]["start_timeout"] = "2s"
    notify = NotifySocket(os.path.join(workdir, "notify.sock"))
    try:
        agents(workdir, harness, config, extra_env={"NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "2000000"}).start()
        wait_for(lambda: completed(harness, "clock-launch", "ABANDON"), 30, message="ABANDON")
        time.sleep(1)
        after = time.monotonic()
        time.sleep(5)
        pings = [t for t, m in notify.messages if "WATCHDOG=1" in m and t >= after]
        assert len(pings) >= 3, f"{len(pings)} watchdog pings in 5 s with WatchdogSec=2s"
    finally:
        notify.close()


def test_a_hung_prepare_step_abandons_at_the_launch_deadline(workdir, start_harness, agents):
    harness = start_harness(app_archive(os.path.join(workdir, "clock-app.tar.gz")))
    config = base_config(workdir, harness, free_port())
    config["app"]["prepare"] = [["sleep", "3600"]]
    config["app"]["launch_timeout"] = "4s"
    agent = agents(workdir, harness, config).start()
    wait_for(lambda: completed(harness, "clock-launch", "ABANDON"), 40, message="ABANDON at the launch deadline")
    log = agent.log()
    assert "launch failed" in log and "app.launch_timeout" in log, log[-3000:]
    assert not children(agent.proc.pid), "the prepare step was stopped"


def children(pid):
    """Processes whose parent is `pid` (whichever thread started them)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = open(f"/proc/{entry}/stat").read()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry))
    return found


def test_sigterm_during_start_up_ends_it_cleanly(workdir, start_harness, agents):
    """A stop request while the agent still waits for instance metadata (here: a metadata service that accepts
    connections and never answers) ends the start-up with exit 0, not with the signal's default action."""
    import socket
    harness = start_harness(app_archive(os.path.join(workdir, "clock-app.tar.gz")))
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(64)
    try:
        agent = agents(workdir, harness, base_config(workdir, harness, free_port()),
                       extra_env={"AWS_EC2_METADATA_SERVICE_ENDPOINT": f"http://127.0.0.1:{silent.getsockname()[1]}/"})
        agent.start()
        agent.wait_log("clock-agent starting", 20)
        time.sleep(2)
        agent.signal(signal.SIGTERM)
        assert agent.wait(20) == 0
        assert "stopped during start-up" in agent.log()
    finally:
        silent.close()
