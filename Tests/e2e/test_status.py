"""`clock-agent status` against a running agent, and the Prometheus metrics on the status socket."""
import json
import os
import socket
import stat
import subprocess

from conftest import agent_binary, app_archive, base_config, free_port, wait_for
from test_logs import logs_config


def run_status(config_path, *args, env=None):
    return subprocess.run([agent_binary(), "status", "--config", config_path, *args], capture_output=True, text=True,
                          timeout=30, env=env)


def test_status_and_metrics_of_a_running_agent(workdir, start_harness, agents):
    os.makedirs(os.path.join(workdir, "logs"))
    harness = start_harness(app_archive(os.path.join(workdir, "clock-app.tar.gz")))
    with open(os.path.join(workdir, "logs", "web.log"), "w") as f:
        f.write("".join(f"line {n}\n" for n in range(25)))
    agent = agents(workdir, harness, logs_config(workdir, harness, free_port())).start()
    agent.wait_log("app is healthy")
    wait_for(lambda: json.loads(run_status(agent.config_path, "--json").stdout or "{}").get("logs", [{}])[1].get("eventsShipped") == 25,
             30, message="25 events shipped in the status report")

    result = run_status(agent.config_path, "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["agent"]["phase"] == "healthy"
    assert report["identity"]["instanceID"] == harness.info["instance_id"]
    assert report["identity"]["autoScalingGroup"] == harness.info["asg"]
    assert report["app"]["healthy"] is True and report["app"]["pid"] > 0 and report["app"]["restarts"] == 0
    assert report["lifecycle"]["launchResult"] == "CONTINUE"
    files = next(s for s in report["logs"] if s["name"] == "files")
    assert files["eventsShipped"] == 25 and files["backlogBytes"] == 0
    assert any(p.endswith("web.log@" + str(os.path.getsize(os.path.join(workdir, "logs", "web.log")))) for p in files["acknowledged"])
    credentials = report["credentials"]
    assert credentials["source"] == "instance-profile" and credentials["role"] == harness.info["role"]
    secrets = harness.imds_credentials()
    assert secrets["SecretAccessKey"] not in result.stdout and secrets["Token"] not in result.stdout
    assert secrets["AccessKeyId"] not in result.stdout, "only the masked key id"

    text = run_status(agent.config_path)
    assert text.returncode == 0
    lines = text.stdout.splitlines()
    assert lines[0].startswith("clock-agent ") and lines[0].endswith(": healthy")
    assert f"instance    {harness.info['instance_id']} in {harness.info['az']}" in text.stdout
    assert any(l.startswith("app         running, pid ") and ", healthy, 0 restarts" in l for l in lines)
    assert f"lifecycle   launch hook {harness.info['launch_hook']} (CONTINUE)" in text.stdout
    assert any(l.startswith(f"credentials instance-profile (role {harness.info['role']})") and " (in " in l
               for l in lines)
    assert f"  files -> {harness.info['instance_id']}/files: 25 events shipped, backlog 0 bytes" in text.stdout
    for secret in (secrets["SecretAccessKey"], secrets["Token"], secrets["AccessKeyId"]):
        assert secret not in text.stdout

    # The agent's own threads carry names for `top -H` and perf (libdispatch names the pool's).
    task = f"/proc/{agent.proc.pid}/task"
    names = set()
    for tid in os.listdir(task):
        with open(os.path.join(task, tid, "comm")) as f:
            names.add(f.read().strip())
    assert {"shipper", "curl", "checkpoints", "reaper", "status"} <= names, sorted(names)

    socket_path = os.path.join(workdir, "state", "status.sock")
    assert stat.S_IMODE(os.stat(socket_path).st_mode) == 0o600
    metrics = subprocess.run(["curl", "-sS", "--unix-socket", socket_path, "http://agent/metrics"], capture_output=True,
                             text=True, timeout=30)
    assert metrics.returncode == 0
    lines = metrics.stdout.splitlines()
    shipped = [l for l in lines if l.startswith('clock_logs_events_shipped_total{source="files"}')]
    assert shipped and float(shipped[0].split()[-1]) == 25
    assert any(l.startswith("clock_lifecycle_actions_completed_total") for l in lines)
    assert any(l.startswith("clock_app_healthy") and l.split()[-1] in ("1", "1.0") for l in lines)

    # Clients that hang up before the answer (an interrupted curl, a killed `status`) don't hurt the agent: outside
    # systemd nothing ignores SIGPIPE for it.
    for _ in range(20):
        with socket.socket(socket.AF_UNIX) as client:
            client.connect(socket_path)
            client.sendall(b"GET /status HTTP/1.1\r\nHost: agent\r\n\r\n")
    assert agent.proc.poll() is None, "the agent died when a status client hung up early"
    assert run_status(agent.config_path).returncode == 0

    agent.stop()
    gone = run_status(agent.config_path)
    assert gone.returncode == 1
    assert "no clock-agent is running" in gone.stderr
    assert not os.path.exists(socket_path)  # a clean stop removes the socket


def test_metrics_on_a_loopback_port(workdir, start_harness, agents):
    """`metrics.listen`: the same Prometheus text on a loopback TCP port for scrapers that can't read a unix socket;
    only /metrics (the status stays on the owner-only socket). A port already taken is logged and the agent still
    comes up, its metrics on the socket."""
    os.makedirs(os.path.join(workdir, "logs"))
    harness = start_harness(app_archive(os.path.join(workdir, "clock-app.tar.gz")))
    with open(os.path.join(workdir, "logs", "web.log"), "w") as f:
        f.write("".join(f"line {n}\n" for n in range(7)))
    port = free_port()
    config = logs_config(workdir, harness, free_port())
    config["metrics"] = {"listen": f"127.0.0.1:{port}"}
    agent = agents(workdir, harness, config).start()
    agent.wait_log("app is healthy")

    def scrape(path):
        request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()
        with socket.create_connection(("127.0.0.1", port), timeout=10) as client:
            client.sendall(request)
            answer = b""
            while chunk := client.recv(65536):
                answer += chunk
        head, _, body = answer.decode().partition("\r\n\r\n")
        return int(head.split()[1]), body

    def shipped():
        status, body = scrape("/metrics")
        assert status == 200
        values = [l.split()[-1] for l in body.splitlines() if l.startswith('clock_logs_events_shipped_total{source="files"}')]
        return values and float(values[0]) == 7

    wait_for(shipped, 30, message="7 events shipped in the metrics on the TCP port")
    status, body = scrape("/status")
    assert status == 404 and "serves /metrics only" in body

    # The port is taken by another process: the next agent still starts, says so, and keeps the socket's metrics.
    agent.stop()
    before = len(agent.log())  # both agents append to the same log file
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as squatter:
        # SO_REUSEADDR: the scrapes above left the port in TIME_WAIT; a listener still keeps the agent out of it.
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind(("127.0.0.1", port))
        squatter.listen(1)
        again = agents(workdir, harness, config).start()
        wait_for(lambda: "app is healthy" in again.log()[before:], 30, message="the second agent's app healthy")
        assert "cannot serve metrics on metrics.listen" in again.log()[before:]
        metrics = subprocess.run(["curl", "-sS", "--unix-socket", os.path.join(workdir, "state", "status.sock"),
                                  "http://agent/metrics"], capture_output=True, text=True, timeout=30)
        assert metrics.returncode == 0 and "clock_logs_events_shipped_total" in metrics.stdout
        again.stop()
