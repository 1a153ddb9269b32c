"""clock-agent test harness: moto (extended) + IMDSv2 fake + strict CloudWatch Logs sink + control API.

    from clockharness import Harness
    with Harness(workdir, artifact="app.tar.gz", sink=True) as h:
        h.instance_id, h.moto, h.imds, h.sink, h.control_url ...       # harness.json fields
        s3 = h.boto3_client("s3")                                       # admin credentials, endpoint = moto
        h.control("POST", "/imds/lifecycle-state", {"state": "Terminated"})

`Harness` starts `run.py up` as a child process, waits (bounded) for its READY line, reads
harness.json, and stops the child by its PID on exit.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

__all__ = ["Harness", "HarnessError", "ControlError", "RUN_PY"]

RUN_PY = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "run.py"))


class HarnessError(RuntimeError):
    """The harness process could not be started or answered unexpectedly."""


class ControlError(HarnessError):
    """A control API call returned a non-2xx status."""

    def __init__(self, method: str, path: str, status: int, body):
        super().__init__(f"control {method} {path} -> HTTP {status}: {body}")
        self.status = status
        self.body = body


class Harness:
    """Run one harness process for the duration of a `with` block (or start()/stop())."""

    def __init__(self, workdir: str, artifact: str | None = None, artifact_key: str | None = None,
                 sink: bool = False, auth: bool = True, instance_id: str | None = None,
                 ready_timeout: float = 20.0, extra_args: list[str] | None = None, instances: int = 1,
                 sink_quota: str | None = None):
        self.workdir = os.path.abspath(workdir)
        self.args = ["up", "--workdir", self.workdir]
        if artifact:
            self.args += ["--artifact", os.path.abspath(artifact)]
        if artifact_key:
            self.args += ["--artifact-key", artifact_key]
        if sink:
            self.args.append("--sink")
        if not auth:
            self.args.append("--no-auth")
        if instance_id:
            self.args += ["--instance-id", instance_id]
        if instances != 1:
            self.args += ["--instances", str(instances)]
        if sink_quota:
            self.args += ["--sink-quota", sink_quota]
        self.args += list(extra_args or [])
        self.ready_timeout = ready_timeout
        self.proc: subprocess.Popen | None = None
        self.info: dict = {}
        self.log_path = os.path.join(self.workdir, "harness.log")
        self._log = None
        self._clients: dict = {}

    # -- process -------------------------------------------------------------------------
    def start(self) -> "Harness":
        os.makedirs(self.workdir, exist_ok=True)
        self._log = open(self.log_path, "ab")
        env = dict(os.environ)
        env["PYTHONUNBUFFERED"] = "1"
        env["AWS_EC2_METADATA_DISABLED"] = "true"  # nothing in the harness may reach 169.254.169.254
        self.proc = subprocess.Popen([sys.executable, RUN_PY, *self.args], stdout=subprocess.PIPE,
                                     stderr=self._log, stdin=subprocess.DEVNULL, env=env, close_fds=True)
        line_box: list[bytes] = []

        def read_ready():
            for line in self.proc.stdout:
                if line.startswith(b"READY "):
                    line_box.append(line)
                    return

        reader = threading.Thread(target=read_ready, daemon=True)
        reader.start()
        deadline = time.monotonic() + self.ready_timeout
        while reader.is_alive() and time.monotonic() < deadline:
            reader.join(0.05)  # ends at READY, or at EOF when the child died early
        if not line_box:
            rc = self.proc.poll()
            self.stop()
            raise HarnessError(f"harness not READY within {self.ready_timeout} s (exit code {rc}); "
                               f"see {self.log_path}:\n{self._tail_log()}")
        path = line_box[0].decode().split(" ", 1)[1].strip()
        with open(path) as f:
            self.info = json.load(f)
        self.harness_json = path
        return self

    def _tail_log(self, n: int = 4000) -> str:
        try:
            with open(self.log_path, "rb") as f:
                f.seek(0, os.SEEK_END)
                f.seek(max(0, f.tell() - n))
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM the harness by PID, wait, SIGKILL if it does not exit; returns its exit code."""
        proc, self.proc = self.proc, None
        rc = None
        if proc is not None:
            if proc.poll() is None:
                try:
                    os.kill(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
                try:
                    rc = proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    os.kill(proc.pid, signal.SIGKILL)
                    rc = proc.wait(5)
            else:
                rc = proc.returncode
            if proc.stdout:
                proc.stdout.close()
        if self._log:
            self._log.close()
            self._log = None
        return rc

    def __enter__(self) -> "Harness":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    # -- harness.json fields -------------------------------------------------------------
    def __getattr__(self, name):
        info = self.__dict__.get("info") or {}
        if name in info:
            return info[name]
        raise AttributeError(name)

    @property
    def control_url(self) -> str:
        return self.info["control"]

    # -- helpers -------------------------------------------------------------------------
    def credentials(self, who: str = "admin") -> dict:
        """'admin', 'user', or 'role' (the instance-profile credentials the IMDS fake serves now)."""
        if who == "role":
            c = self.imds_credentials()
            return {"aws_access_key_id": c["AccessKeyId"], "aws_secret_access_key": c["SecretAccessKey"],
                    "aws_session_token": c["Token"]}
        keys = self.info[who]
        return {"aws_access_key_id": keys["access_key_id"], "aws_secret_access_key": keys["secret_access_key"]}

    def boto3_client(self, service: str, who: str = "admin", endpoint_url: str | None = None, **creds):
        """boto3 client against moto (or `endpoint_url`, e.g. h.sink) with admin/user/role credentials.

        No retries (tests see every error); clients are cached per service, endpoint and credentials.
        """
        import boto3
        from botocore.config import Config
        c = creds or self.credentials(who)
        endpoint = endpoint_url or self.info["moto"]
        key = (service, endpoint, tuple(sorted(c.items())))
        client = self._clients.get(key)
        if client is None:
            session = boto3.session.Session(region_name=self.info["region"], **c)
            client = session.client(service, endpoint_url=endpoint,
                                    config=Config(retries={"max_attempts": 1}, connect_timeout=5, read_timeout=15,
                                                  s3={"addressing_style": "path"}))
            self._clients[key] = client
        return client

    def control(self, method: str, path: str, body=None, timeout: float = 15.0):
        """Call the control API; returns the decoded JSON or raises ControlError."""
        data = None if body is None and method == "GET" else json.dumps(body).encode()
        req = urllib.request.Request(self.info["control"] + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return json.loads(r.read() or b"null")
        except urllib.error.HTTPError as e:
            raw = e.read()
            try:
                payload = json.loads(raw)
            except ValueError:
                payload = raw.decode("utf-8", "replace")
            raise ControlError(method, path, e.code, payload) from None

    def imds_token(self, ttl: int = 21600) -> str:
        req = urllib.request.Request(self.info["imds"] + "latest/api/token", method="PUT",
                                     headers={"X-aws-ec2-metadata-token-ttl-seconds": str(ttl)})
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.read().decode()

    def imds_get(self, path: str, token: str | None = None) -> str:
        token = token or self.imds_token()
        req = urllib.request.Request(self.info["imds"] + path.lstrip("/"),
                                     headers={"X-aws-ec2-metadata-token": token})
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.read().decode()

    def imds_credentials(self) -> dict:
        return json.loads(self.imds_get(f"latest/meta-data/iam/security-credentials/{self.info['role']}"))

    def agent_env(self, use_sink: bool = True, instance_id: str | None = None) -> dict:
        """Environment variables that point an AWS client (e.g. clock-agent) at this harness (and at the IMDS of
        one of its instances: `instance_id`, default the primary one)."""
        imds = self.info["imds"]
        if instance_id is not None:
            imds = next(i["imds"] for i in self.info["instances"] if i["instance_id"] == instance_id)
        env = {"AWS_REGION": self.info["region"], "AWS_DEFAULT_REGION": self.info["region"],
               "AWS_EC2_METADATA_SERVICE_ENDPOINT": imds,
               "AWS_ENDPOINT_URL": self.info["moto"], "AWS_ENDPOINT_URL_S3": self.info["moto"],
               "AWS_ENDPOINT_URL_AUTO_SCALING": self.info["moto"], "AWS_ENDPOINT_URL_STS": self.info["moto"],
               "AWS_ENDPOINT_URL_CLOUDWATCH_LOGS": (self.info["sink"] if use_sink and self.info.get("sink")
                                                    else self.info["moto"])}
        return env
