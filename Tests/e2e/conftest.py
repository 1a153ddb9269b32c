"""Fixtures for clock-agent's end-to-end tests: the built binary run as a process against the test harness
(moto with IAM authorization on + IMDSv2 fake + strict CloudWatch sink), all on loopback."""
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import threading
import time

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "Tests", "harness"))
from clockharness import Harness  # noqa: E402

APPS = os.path.join(os.path.dirname(__file__), "apps")


def agent_binary():
    path = os.environ.get("CLOCK_AGENT_BIN") or os.path.join(ROOT, ".build", "debug", "clock-agent")
    if not os.path.exists(path):
        pytest.fail(f"clock-agent binary not found at {path}: build first (swift build) or set CLOCK_AGENT_BIN")
    return path


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout, interval=0.1, message="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}")


def make_archive(path, files, extra=None):
    """files: {name: text or bytes}; extra: callable(tarfile) to add hostile entries."""
    with tarfile.open(path, "w:gz") as tar:
        for name, content in files.items():
            data = content.encode() if isinstance(content, str) else content
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o755 if name.endswith((".py", ".sh")) else 0o644
            tar.addfile(info, io.BytesIO(data))
        if extra:
            extra(tar)
    return path


def app_archive(path, extra=None):
    with open(os.path.join(APPS, "stand_in_app.py")) as f:
        return make_archive(path, {"app.py": f.read(), "VERSION": "1\n"}, extra)


class NotifySocket:
    """An AF_UNIX datagram socket like systemd's NOTIFY_SOCKET; collects what the agent sends."""

    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.sock.settimeout(0.2)
        self.messages = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.is_set():
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            self.messages.append((time.monotonic(), data.decode("utf-8", "replace")))

    def texts(self):
        return [m for _, m in self.messages]

    def has(self, fragment):
        return any(fragment in m for m in self.texts())

    def close(self):
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


class Agent:
    """`clock-agent run` as a child process; stopped by its PID."""

    def __init__(self, workdir, harness, config, extra_env=None, use_sink=True, args=("run",)):
        self.workdir = workdir
        self.config_path = os.path.join(workdir, "config.yaml")
        with open(self.config_path, "w") as f:
            json.dump(config, f)  # JSON is YAML
        self.log_path = os.path.join(workdir, "agent.log")
        env = {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "HOME": workdir,
            "AWS_ENDPOINT_URL": harness.moto,
            "AWS_EC2_METADATA_SERVICE_ENDPOINT": harness.imds,
            "CLOCK_AGENT_LOG_LEVEL": "debug",
        }
        if use_sink and harness.info.get("sink"):
            env["AWS_ENDPOINT_URL_CLOUDWATCH_LOGS"] = harness.info["sink"]
        env.update(extra_env or {})
        self.env = env
        self.args = list(args)
        self.proc = None

    def start(self):
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([agent_binary(), *self.args, "--config", self.config_path], env=self.env,
                                     stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        return self

    def log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def wait_log(self, fragment, timeout=30):
        return wait_for(lambda: fragment in self.log(), timeout, message=f"agent log line {fragment!r}\n{self.log()[-3000:]}")

    def signal(self, signum):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signum)

    def wait(self, timeout=30):
        return self.proc.wait(timeout)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if getattr(self, "_log", None):
            self._log.close()


TEST_TIME_LIMIT = int(os.environ.get("CLOCK_E2E_TIME_LIMIT", "240"))


@pytest.fixture(autouse=True)
def time_limit():
    """Every test is bounded: SIGALRM fails it after TEST_TIME_LIMIT seconds (fixtures still clean up)."""

    def expired(signum, frame):
        raise TimeoutError(f"test exceeded {TEST_TIME_LIMIT}s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(TEST_TIME_LIMIT)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


@pytest.fixture
def workdir(tmp_path):
    return str(tmp_path)


@pytest.fixture
def start_harness(workdir):
    started = []

    def start(artifact=None, artifact_key="clock-app.tar.gz", sink=True):
        h = Harness(os.path.join(workdir, "harness"), artifact=artifact, artifact_key=artifact_key, sink=sink)
        h.start()
        started.append(h)
        return h

    yield start
    for h in started:
        h.stop()


@pytest.fixture
def agents():
    started = []

    def make(*args, **kwargs):
        agent = Agent(*args, **kwargs)
        started.append(agent)
        return agent

    yield make
    for agent in started:
        agent.stop()


def base_config(workdir, harness, port, **overrides):
    config = {
        "state_dir": os.path.join(workdir, "state"),
        "app": {
            "source": f"s3://{harness.info['bucket']}/{harness.info['artifact_key']}",
            "install_dir": os.path.join(workdir, "install"),
            # The system Python: readable by every user (the privilege-drop test runs the app as nobody).
            "command": ["/usr/bin/python3", "app.py"],
            "environment": {"PORT": str(port)},
            "stop_timeout": "5s",
            "health": {"url": f"http://127.0.0.1:{port}/healthz", "interval": "500ms", "timeout": "500ms",
                       "unhealthy_threshold": 3, "start_timeout": "20s"},
            "restart": {"initial_backoff": "100ms", "max_backoff": "2s", "crash_loop_restarts": 4,
                        "crash_loop_window": "1m"},
        },
        "logs": {"sources": [{"name": "app", "type": "app"}]},
        "lifecycle": {"launch_hook": harness.info["launch_hook"], "terminate_hook": harness.info["terminate_hook"],
                      "poll_interval": "1s"},
    }
    for key, value in overrides.items():
        section, _, name = key.partition("__")
        if name:
            config.setdefault(section, {})[name] = value
        else:
            config[section] = value
    return config


def lifecycle_calls(harness, action=None):
    calls = harness.control("GET", "/lifecycle/calls")["calls"]
    return [c for c in calls if action is None or c["action"] == action]
