"""The real-boot test: clock-agent as an instance of the web clock service runs it, under a real systemd.

A Debian 12 root (Tests/boot/build-rootfs) boots in systemd-nspawn on a throw-away overlay. It joins this test's
network namespace (Tests/boot/run makes one with only `lo`), where the test harness runs: moto with IAM checks, the
IMDSv2 fake and the strict CloudWatch Logs sink, all on 127.0.0.1. Nothing else is reachable, from here or from the
container. cloud-init reads a NoCloud seed whose user data is packaging/cloud-init/user-data.yaml with the package
lines switched from dnf/.rpm to apt-get/.deb (the file targets Amazon Linux); with the instance-profile
credentials from the IMDS fake it downloads the .deb from the artifact bucket, installs it, writes the
configuration and enables the agent. The endpoints reach the AWS CLI and the agent through systemd drop-ins, as
an operator would override them.

The tests below run in order on the same boot and assert what an operator would see.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import sys
import tarfile
import time
import urllib.request

import pytest
import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(REPO, "Tests", "harness"))
from clockharness import Harness  # noqa: E402
from nspawn import Container, rootfs_path  # noqa: E402

USER_DATA = os.path.join(REPO, "packaging", "cloud-init", "user-data.yaml")
APP_DIR = os.path.join(REPO, "packaging", "app")
RPM_URL = "s3://webclock-bucket/packages/clock-agent.x86_64.rpm"
DEB_KEY = "packages/clock-agent_amd64.deb"
INSTANCE_ID = "i-0b007b007b007b007"
APP_PORT = 8080
BOOT_TIMEOUT = 180

# The NoCloud datasource only, no network configuration, and the two settings a minbase root needs: no locale
# generation (update-locale is missing) and no SSH host keys (no ssh installed).
CLOUD_CFG = """#cloud-config
datasource_list: [NoCloud, None]
network: {config: disabled}
locale: false
ssh_deletekeys: false
ssh_genkeytypes: []
"""


def debian_user_data() -> str:
    """packaging/cloud-init/user-data.yaml with its two package lines for Debian; everything else as it is."""
    with open(USER_DATA) as f:
        text = f.read()
    assert text.startswith("#cloud-config\n")
    doc = yaml.safe_load(text)
    changed = 0
    runcmd = []
    for argv in doc["runcmd"]:
        if argv[:2] == ["aws", "s3"] and RPM_URL in argv:
            argv = [f"s3://webclock-bucket/{DEB_KEY}" if a == RPM_URL else
                    "/var/tmp/clock-agent.deb" if a == "/var/tmp/clock-agent.rpm" else a for a in argv]
            changed += 1
        elif argv == ["dnf", "install", "-y", "/var/tmp/clock-agent.rpm"]:
            argv = ["apt-get", "install", "-y", "/var/tmp/clock-agent.deb"]
            changed += 1
        runcmd.append(argv)
    assert changed == 2, f"the package lines of {USER_DATA} changed: update this test's substitution\n{doc['runcmd']}"
    doc["runcmd"] = runcmd
    return "#cloud-config\n" + yaml.safe_dump(doc, sort_keys=False, width=1000)


def app_archive(path: str) -> str:
    with tarfile.open(path, "w:gz") as tar:
        for name in ("app.py", "requirements.txt"):
            with open(os.path.join(APP_DIR, name), "rb") as f:
                data = f.read()
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
    return path


def wait_for(predicate, timeout: float, what: str, interval: float = 0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


class Boot:
    """Everything one boot needs, and what the tests read from it."""

    def __init__(self, harness: Harness, container: Container, workdir: str, env: dict[str, str], user_data: str):
        self.h = harness
        self.c = container
        self.workdir = workdir
        self.env = env
        self.user_data = user_data

    def journal(self, unit: str = "clock-agent.service", lines: int = 80) -> str:
        return self.c.exec(["journalctl", "--no-pager", "-u", unit, "-n", str(lines)], timeout=30).stdout

    def show(self, *props: str) -> dict[str, str]:
        out = self.c.exec(["systemctl", "show", "clock-agent.service", "-p", ",".join(props)], timeout=15).stdout
        return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)

    def app_pid(self) -> int:
        return int(self.c.exec(["cat", "/var/lib/clock-agent/app/app.pid"], check=True).stdout.split()[0])  # "pid starttime"

    def lifecycle_calls(self, action: str) -> list[dict]:
        return self.h.control("GET", f"/lifecycle/calls?action={action}")["calls"]

    def events(self, stream: str) -> list[str]:
        logs = self.h.boto3_client("logs", endpoint_url=self.h.sink)
        try:
            out = logs.get_log_events(logGroupName="/clock/app", logStreamName=f"{INSTANCE_ID}/{stream}",
                                      startFromHead=True, limit=10000)
        except logs.exceptions.ResourceNotFoundException:
            return []
        return [e["message"] for e in out["events"]]

    def diagnostics(self) -> str:
        return (f"--- journal (clock-agent) ---\n{self.journal()}\n--- journal (cloud-final) ---\n"
                f"{self.journal('cloud-final.service', 40)}\n--- console ---\n{self.c.console(3000)}")


@pytest.fixture(scope="module")
def boot():
    rootfs = rootfs_path()
    deb = os.environ.get("CLOCK_AGENT_DEB")
    if rootfs is None or not deb:
        if os.environ.get("CLOCK_BOOT_REQUIRED"):
            pytest.fail(f"real-boot test needs the root (Tests/boot/build-rootfs: {rootfs}) and CLOCK_AGENT_DEB ({deb})")
        pytest.skip("build the root (Tests/boot/build-rootfs) and a .deb (packaging/build-packages), set "
                    "CLOCK_AGENT_DEB and run through Tests/boot/run")
    workdir = os.path.join(REPO, ".build-boot", "last-run")
    shutil.rmtree(workdir, ignore_errors=True)
    os.makedirs(workdir)
    artifact = app_archive(os.path.join(workdir, "clock-app.tar.gz"))

    with Harness(os.path.join(workdir, "harness"), artifact=artifact, artifact_key="clock-app.tar.gz", sink=True,
                 instance_id=INSTANCE_ID, ready_timeout=60) as h:
        with open(deb, "rb") as f:
            h.boto3_client("s3").put_object(Bucket=h.bucket, Key=DEB_KEY, Body=f.read())
        env = h.agent_env()

        # The seed, cloud-init's settings and the endpoint drop-ins, bound read-only into the container.
        seed = os.path.join(workdir, "seed")
        os.makedirs(seed)
        user_data = debian_user_data()
        with open(os.path.join(seed, "user-data"), "w") as f:
            f.write(user_data)
        with open(os.path.join(seed, "meta-data"), "w") as f:
            f.write(f"instance-id: {INSTANCE_ID}\nlocal-hostname: clock-node-1\n")
        with open(os.path.join(workdir, "99-clock-test.cfg"), "w") as f:
            f.write(CLOUD_CFG)
        dropin = "[Service]\n" + "".join(f"Environment={k}={v}\n" for k, v in sorted(env.items()))
        for unit in ("clock-agent", "cloud-final"):
            os.makedirs(os.path.join(workdir, f"{unit}.service.d"))
            with open(os.path.join(workdir, f"{unit}.service.d", "test-endpoints.conf"), "w") as f:
                f.write(dropin)
        journal = os.path.join(workdir, "journal")
        os.makedirs(journal)
        binds_ro = {seed: "/var/lib/cloud/seed/nocloud",
                    os.path.join(workdir, "99-clock-test.cfg"): "/etc/cloud/cloud.cfg.d/99-clock-test.cfg",
                    os.path.join(workdir, "clock-agent.service.d"): "/etc/systemd/system/clock-agent.service.d",
                    os.path.join(workdir, "cloud-final.service.d"): "/etc/systemd/system/cloud-final.service.d"}
        for extra in filter(None, os.environ.get("CLOCK_BOOT_BIND_RO", "").split(",")):
            binds_ro[extra] = extra  # e.g. the Swift runtime of a debug build, at the path its RUNPATH names

        container = Container(rootfs, f"clockboot-{os.getpid()}", workdir, binds_ro=binds_ro,
                              binds_rw={journal: "/var/log/journal"}, netns=f"/proc/{os.getpid()}/ns/net")
        started = time.monotonic()
        container.start()
        b = Boot(h, container, workdir, env, user_data)
        try:
            try:
                b.state = container.wait_running(BOOT_TIMEOUT)
            except TimeoutError as e:
                raise TimeoutError(f"{e}\n{b.diagnostics()}") from None
            b.boot_seconds = time.monotonic() - started
            yield b
        finally:
            container.poweroff()


def test_network_is_loopback_only():
    with open("/proc/self/net/dev") as f:
        interfaces = [line.split(":")[0].strip() for line in f.readlines()[2:]]
    assert interfaces == ["lo"], interfaces


@pytest.mark.time_limit(BOOT_TIMEOUT + 120)
def test_boot_finishes_with_no_failed_unit(boot):
    failed = boot.c.exec(["systemctl", "--failed", "--no-legend", "--plain"], timeout=15).stdout
    assert boot.state == "running" and not failed.strip(), f"{boot.state}: {failed}\n{boot.diagnostics()}"


def test_cloud_init_ran_the_user_data(boot):
    status = boot.c.exec(["cloud-init", "status", "--long"], timeout=30)
    assert status.returncode == 0 and re.search(r"^status: done", status.stdout, re.M), status.stdout + status.stderr
    result = json.loads(boot.c.exec(["cat", "/run/cloud-init/result.json"], check=True).stdout)
    assert result["v1"]["errors"] == [], result
    assert "DataSourceNoCloud" in result["v1"]["datasource"]
    # Its effects: the package from the bucket is installed, the config it wrote is in place, the app user exists.
    version = boot.c.exec(["dpkg-query", "-W", "-f=${Version}", "clock-agent"], check=True).stdout
    assert version == os.path.basename(os.environ["CLOCK_AGENT_DEB"]).split("_")[1]
    config = boot.c.exec(["cat", "/etc/clock-agent/config.yaml"], check=True).stdout
    written = next(f for f in yaml.safe_load(boot.user_data)["write_files"] if f["path"] == "/etc/clock-agent/config.yaml")
    assert config == written["content"]
    assert boot.c.exec(["stat", "-c", "%a %U", "/etc/clock-agent/config.yaml"], check=True).stdout.split() == ["640", "root"]
    assert boot.c.exec(["id", "-u", "clock"]).returncode == 0
    enabled = boot.c.exec(["systemctl", "is-enabled", "clock-agent.service"]).stdout.strip()
    assert enabled == "enabled"


def test_agent_is_active_through_ready(boot):
    """Type=notify: `active` only after READY=1, which the agent sends once the app is healthy."""
    props = boot.show("Type", "ActiveState", "SubState", "NRestarts", "StatusText", "MainPID", "WatchdogUSec",
                      "Result")
    assert props["Type"] == "notify"
    assert (props["ActiveState"], props["SubState"], props["Result"]) == ("active", "running", "success"), \
        f"{props}\n{boot.diagnostics()}"
    assert props["NRestarts"] == "0" and int(props["MainPID"]) > 0 and props["WatchdogUSec"] != "0"
    assert props["StatusText"], "no STATUS= from the agent"
    # No SIGSYS, no watchdog kill, no restart since boot: the journal has one start and it finished.
    journal = boot.journal(lines=400)
    assert "Started clock-agent.service" in journal or re.search(r"Started .*clock-agent", journal), journal
    assert "status=31/SYS" not in journal and "Watchdog timeout" not in journal


def test_clock_page_answers(boot):
    with urllib.request.urlopen(f"http://127.0.0.1:{APP_PORT}/", timeout=10) as r:
        page = r.read().decode()
    assert r.status == 200 and "web clock" in page
    assert INSTANCE_ID in page and "us-east-1a" in page, page
    # The app runs as the unprivileged user from the user data, from the release the agent installed.
    pid = boot.app_pid()
    assert boot.c.exec(["stat", "-c", "%U", f"/proc/{pid}"], check=True).stdout.strip() == "clock"
    cwd = boot.c.exec(["readlink", f"/proc/{pid}/cwd"], check=True).stdout.strip()
    assert re.fullmatch(r"/opt/clock-app/releases/[0-9a-f]{64}", cwd), cwd


def test_launch_hook_got_continue(boot):
    calls = [c for c in boot.lifecycle_calls("CompleteLifecycleAction") if c.get("hook") == "clock-launch"]
    assert [(c["result"], c["outcome"]) for c in calls] == [("CONTINUE", "OK")], calls
    assert calls[0]["instance_id"] == INSTANCE_ID
    state = boot.h.control("GET", "/lifecycle/state")["instances"][INSTANCE_ID]["state"]
    assert state in ("Pending:Proceed", "InService"), state


def app_start_line_shipped(boot) -> str:
    app = wait_for(lambda: [m for m in boot.events("app") if "web clock starting" in m], 60,
                   "the app's start line in <instance>/app")
    return app[0]


@pytest.mark.time_limit(120)
def test_agent_journal_entries_reach_cloudwatch(boot):
    """The agent's own journald entries (source `agent`, type journal) and the app's output (source `app`), with the
    unit as shipped. (Under its sandboxing, /proc shows the service the host's boot ID rather than the container's;
    the journal reader takes "this boot" from the journal itself when the two disagree.)"""
    local = boot.c.exec(["journalctl", "--no-pager", "-o", "cat", "-u", "clock-agent.service",
                         "SYSLOG_IDENTIFIER=clock-agent"], timeout=30).stdout.splitlines()
    assert local, "the agent wrote nothing to the journal"
    shipped = wait_for(lambda: boot.events("agent"), 60, "events in <instance>/agent")
    wanted = [line for line in local[:10] if line.strip()]
    assert wanted and any(w in m for w in wanted for m in shipped), (wanted, shipped[:20])
    assert f"port {APP_PORT}" in app_start_line_shipped(boot)


@pytest.mark.time_limit(90)
def test_doctor_passes_inside_the_container(boot):
    proc = boot.c.exec(["clock-agent", "doctor", "--json"], env=boot.env, timeout=60)
    report = json.loads(proc.stdout)
    failed = [c for c in report["checks"] if c["status"] == "fail"]
    assert proc.returncode == 0 and not failed and report["summary"]["fail"] == 0, \
        json.dumps(failed or report, indent=1)
    ok = {c["name"] for c in report["checks"] if c["status"] == "ok"}
    assert {"config", "imds", "identity", "credentials", "s3", "cloudwatch", "systemd"} <= ok, report["checks"]


@pytest.mark.time_limit(120)
def test_systemctl_stop_drains_cleanly(boot):
    app_pid = boot.app_pid()
    stop = boot.c.exec(["systemctl", "stop", "clock-agent.service"], timeout=90)
    assert stop.returncode == 0, stop.stderr
    props = boot.show("ActiveState", "Result", "ExecMainStatus", "ExecMainCode")
    assert (props["ActiveState"], props["Result"], props["ExecMainStatus"]) == ("inactive", "success", "0"), \
        f"{props}\n{boot.diagnostics()}"
    # The app is gone, and the line it printed while being stopped was shipped before the agent exited.
    assert boot.c.exec(["test", "-e", f"/proc/{app_pid}"]).returncode != 0
    assert any("web clock stopping" in m for m in boot.events("app")), boot.events("app")[-10:]
    # The agent's own last journal entries, written just before the drain, were shipped too (the drain waits for
    # a marker entry of its own to come through journald).
    agent = boot.events("agent")
    assert any(m.startswith("draining") for m in agent), agent[-10:]
    assert any("shipping every log line written before the drain" in m for m in agent), agent[-10:]
    # A stop that is not a scale-in does not complete the terminate hook.
    assert not [c for c in boot.lifecycle_calls("CompleteLifecycleAction") if c.get("hook") == "clock-terminate"]
