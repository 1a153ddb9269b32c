"""systemd-nspawn containers for the boot and package tests: the Debian root from Tests/boot/build-rootfs, each run on
a throw-away overlay (--volatile=overlay), so every container starts from the same pristine root.

Two ways to use it:
- `run_in_root(rootfs, script, binds)`: one shell script in the root (no init), e.g. installing a package;
- `Container(rootfs, ...)`: boots systemd as PID 1; `exec()` runs commands inside through nsenter; `poweroff()`.

Every process started here is stopped by its PID; no name matching.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DEFAULT_ROOTFS = os.path.join(REPO, ".build-boot", "rootfs")
ROOTFS_STAMP = ".clock-rootfs"

NSPAWN_BASE = ["systemd-nspawn", "-q", "--register=no", "--keep-unit", "--volatile=overlay"]


def rootfs_path() -> str | None:
    """The built root ($CLOCK_BOOT_ROOTFS, else .build-boot/rootfs), or None when it has not been built."""
    path = os.environ.get("CLOCK_BOOT_ROOTFS") or DEFAULT_ROOTFS
    return path if os.path.isfile(os.path.join(path, ROOTFS_STAMP)) else None


def bind_args(binds: dict[str, str], read_only: bool = True) -> list[str]:
    flag = "--bind-ro" if read_only else "--bind"
    return [f"{flag}={src}:{dst}" for src, dst in binds.items()]


def run_in_root(rootfs: str, script: str, binds: dict[str, str] | None = None, timeout: float = 120,
                env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Runs `sh -c script` in a fresh overlay of the root with a private network (only lo)."""
    args = [*NSPAWN_BASE, "-D", rootfs, "--private-network", *bind_args(binds or {})]
    for key, value in (env or {}).items():
        args.append(f"--setenv={key}={value}")
    return subprocess.run([*args, "sh", "-c", script], capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


def _comm(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return ""


class Container:
    """A booted container: systemd as PID 1 on an overlay of the root.

    `netns`: a network namespace file (e.g. /proc/<pid>/ns/net of the test) the container joins, so servers the
    test starts on 127.0.0.1 there are the container's 127.0.0.1; None = a private network of its own.
    """

    def __init__(self, rootfs: str, name: str, workdir: str, binds_ro: dict[str, str] | None = None,
                 binds_rw: dict[str, str] | None = None, netns: str | None = None):
        self.rootfs = rootfs
        self.name = name
        self.console_path = os.path.join(workdir, "console.log")
        network = [f"--network-namespace-path={netns}"] if netns else ["--private-network"]
        self.args = [*NSPAWN_BASE, "-D", rootfs, "--boot", "-M", name, "--console=passive", *network,
                     *bind_args(binds_ro or {}), *bind_args(binds_rw or {}, read_only=False)]
        self.proc: subprocess.Popen | None = None
        self.init_pid: int | None = None

    def start(self, timeout: float = 60) -> "Container":
        self._console = open(self.console_path, "ab")
        self.proc = subprocess.Popen(self.args, stdout=self._console, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"systemd-nspawn exited with {self.proc.returncode}:\n{self.console()}")
            self.init_pid = self._find_init()
            if self.init_pid and self._systemctl_answers():
                return self
            time.sleep(0.2)
        raise TimeoutError(f"the container's systemd did not come up within {timeout} s:\n{self.console()}")

    def _find_init(self) -> int | None:
        """The container's PID 1 as seen here: the `systemd` process below this nspawn (breadth-first)."""
        queue = list(_children(self.proc.pid))
        while queue:
            pid = queue.pop(0)
            if _comm(pid) == "systemd":
                return pid
            queue.extend(_children(pid))
        return None

    def _systemctl_answers(self) -> bool:
        try:
            return self.exec(["systemctl", "is-system-running"], timeout=10).stdout.strip() != ""
        except subprocess.TimeoutExpired:
            return False

    def exec(self, argv: list[str], timeout: float = 60, env: dict[str, str] | None = None,
             check: bool = False, stdin_text: str | None = None) -> subprocess.CompletedProcess:
        """Runs argv inside the container (all its namespaces, its root) as root."""
        assert self.init_pid, "container not started"
        prefix = ["nsenter", "-t", str(self.init_pid), "-a"]
        if env:
            prefix += ["env", *(f"{k}={v}" for k, v in env.items())]
        proc = subprocess.run([*prefix, *argv], capture_output=True, text=True, timeout=timeout,
                              input=stdin_text, stdin=None if stdin_text is not None else subprocess.DEVNULL)
        if check and proc.returncode != 0:
            raise AssertionError(f"{' '.join(argv)} exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
        return proc

    def wait_running(self, timeout: float) -> str:
        """Waits until boot is finished ('running' or 'degraded'); returns that state."""
        deadline = time.monotonic() + timeout
        state = ""
        while time.monotonic() < deadline:
            state = self.exec(["systemctl", "is-system-running"], timeout=15).stdout.strip()
            if state in ("running", "degraded"):
                return state
            time.sleep(0.5)
        raise TimeoutError(f"system still {state!r} after {timeout} s; jobs:\n"
                           f"{self.exec(['systemctl', 'list-jobs'], timeout=15).stdout}")

    def console(self, tail: int = 6000) -> str:
        try:
            with open(self.console_path, "rb") as f:
                f.seek(0, os.SEEK_END)
                f.seek(max(0, f.tell() - tail))
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def poweroff(self, timeout: float = 60) -> int | None:
        """`systemctl poweroff` inside, then wait for nspawn. After the timeout: SIGKILL to the container's PID 1 (which
        ends every process in its PID namespace), then to nspawn."""
        if self.proc is None:
            return None
        if self.proc.poll() is None and self.init_pid:
            try:
                self.exec(["systemctl", "poweroff"], timeout=15)
            except subprocess.TimeoutExpired:
                pass
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            for pid in (self.init_pid, self.proc.pid):
                try:
                    if pid:
                        os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            rc = self.proc.wait(10)
        self._console.close()
        self.proc = None
        # nspawn leaves an empty directory per machine name when the host's /run is not a tmpfs.
        try:
            os.rmdir(f"/run/systemd/nspawn/propagate/{self.name}")
        except OSError:
            pass
        return rc
