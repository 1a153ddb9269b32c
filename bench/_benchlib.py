"""Shared helpers for the clock-agent benchmarks (bench/*).

Everything runs on 127.0.0.1; every process started here is registered and stopped by its PID at exit
(normal exit, exception, SIGINT/SIGTERM/SIGHUP). No AWS, no IMDS: the agent runs with
AWS_EC2_METADATA_DISABLED=true and its CloudWatch Logs endpoint pointed at a local nginx sink.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH_DIR)
DEFAULT_AGENT = os.path.join(REPO, ".build-bench", "release", "clock-agent")
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
NGINX_MODULES = "/usr/lib/nginx/modules"


# ----------------------------------------------------------------------------------------------------------------
# Process registry and cleanup


_procs: list[subprocess.Popen] = []
_dirs: list[str] = []
_keep = os.environ.get("BENCH_KEEP") == "1"


def register_dir(path: str) -> str:
    _dirs.append(path)
    return path


def scratch(prefix: str, base: str | None = None) -> str:
    """A fresh directory removed at exit (unless BENCH_KEEP=1)."""
    return register_dir(tempfile.mkdtemp(prefix=f"clock-bench-{prefix}-", dir=base))


def spawn(argv, **kw) -> subprocess.Popen:
    proc = subprocess.Popen(argv, **kw)
    _procs.append(proc)
    return proc


def stop(proc, sig=signal.SIGTERM, timeout=10.0) -> int | None:
    """Signals one process by its PID and reaps it (SIGKILL after `timeout`)."""
    if proc is None:
        return None
    if isinstance(proc, Wrapped):
        if proc.poll() is None:
            try:
                os.kill(proc.pid, sig)
            except ProcessLookupError:
                pass
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
        return stop(proc.wrapper, signal.SIGINT, timeout=60)
    if proc.poll() is None:
        try:
            os.kill(proc.pid, sig)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            try:
                os.kill(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()
    if proc in _procs:
        _procs.remove(proc)
    return proc.returncode


def _cleanup():
    for proc in reversed(list(_procs)):
        stop(proc, timeout=5.0)
    if not _keep:
        for path in _dirs:
            shutil.rmtree(path, ignore_errors=True)
    elif _dirs:
        print(f"(BENCH_KEEP=1: kept {' '.join(_dirs)})", file=sys.stderr)


def _on_signal(signum, _frame):
    raise SystemExit(128 + signum)


atexit.register(_cleanup)
for _sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
    signal.signal(_sig, _on_signal)


# ----------------------------------------------------------------------------------------------------------------
# /proc


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads), in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        text = f.read()
    fields = text[text.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def status_kib(pid: int, key: str) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def rss_mib(pid: int) -> float:
    return status_kib(pid, "VmRSS") / 1024


def hwm_mib(pid: int) -> float:
    return status_kib(pid, "VmHWM") / 1024


def threads(pid: int) -> dict[int, dict]:
    """Per thread: name, CPU seconds, voluntary and involuntary context switches."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            base = f"/proc/{pid}/task/{tid}"
            with open(base + "/comm") as f:
                name = f.read().strip()
            with open(base + "/stat") as f:
                text = f.read()
            fields = text[text.rindex(")") + 2:].split()
            cpu = (int(fields[11]) + int(fields[12])) / CLK_TCK
            vol = invol = 0
            with open(base + "/status") as f:
                for line in f:
                    if line.startswith("voluntary_ctxt_switches:"):
                        vol = int(line.split()[1])
                    elif line.startswith("nonvoluntary_ctxt_switches:"):
                        invol = int(line.split()[1])
            out[int(tid)] = {"name": name, "cpu": cpu, "vol": vol, "invol": invol}
        except (FileNotFoundError, ProcessLookupError):
            continue
    return out


def children(pid: int) -> list[int]:
    result = []
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                result += [int(x) for x in f.read().split()]
        except FileNotFoundError:
            pass
    return result


# ----------------------------------------------------------------------------------------------------------------
# Networking


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout=10.0, proc: subprocess.Popen | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process {proc.pid} exited with {proc.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.01)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


# ----------------------------------------------------------------------------------------------------------------
# The nginx + Lua CloudWatch-shaped counting sink (test-environment.md §11)

# Shared by every location: read the whole body, gunzip it if Content-Encoding is gzip (zlib through LuaJIT's FFI:
# nginx's gunzip module only handles responses), count `"timestamp":`, optionally record per-event latency
# (`wt=<ns>` written into the line by the latency writer) with CLOCK_REALTIME at receipt.
LUA_INIT = r'''
local ffi = require "ffi"
ffi.cdef[[
typedef struct bench_z_stream {
  const unsigned char *next_in; unsigned int avail_in; unsigned long total_in;
  unsigned char *next_out; unsigned int avail_out; unsigned long total_out;
  const char *msg; void *state; void *zalloc; void *zfree; void *opaque;
  int data_type; unsigned long adler; unsigned long reserved;
} bench_z_stream;
int inflateInit2_(bench_z_stream *strm, int windowBits, const char *version, int stream_size);
int inflate(bench_z_stream *strm, int flush);
int inflateEnd(bench_z_stream *strm);
const char *zlibVersion(void);
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clk, bench_timespec *ts);
]]
local z = ffi.load("libz.so.1")
local find = string.find
local outcap = 8 * 1024 * 1024
local out = ffi.new("unsigned char[?]", outcap)
local ts = ffi.new("bench_timespec")
sink = {}
function sink.now_ns()  -- CLOCK_REALTIME in ns, as a decimal string (a double would round it)
  ffi.C.clock_gettime(0, ts)
  return string.format("%d%09d", tonumber(ts.tv_sec), tonumber(ts.tv_nsec))
end
function sink.gunzip(data)
  local strm = ffi.new("bench_z_stream")
  local rc = z.inflateInit2_(strm, 15 + 32, z.zlibVersion(), ffi.sizeof(strm))
  if rc ~= 0 then return nil, "inflateInit2 " .. rc end
  strm.next_in = ffi.cast("const unsigned char *", data)
  strm.avail_in = #data
  while true do
    strm.next_out = out + tonumber(strm.total_out)
    strm.avail_out = outcap - tonumber(strm.total_out)
    rc = z.inflate(strm, 0)
    if rc == 1 then break end
    if rc ~= 0 and rc ~= -5 then z.inflateEnd(strm); return nil, "inflate " .. rc end
    if strm.avail_out == 0 then
      local bigger = ffi.new("unsigned char[?]", outcap * 2)
      ffi.copy(bigger, out, outcap)
      out = bigger
      outcap = outcap * 2
    elseif strm.avail_in == 0 then
      z.inflateEnd(strm); return nil, "truncated gzip body"
    end
  end
  local n = tonumber(strm.total_out)
  z.inflateEnd(strm)
  return ffi.string(out, n)
end
function sink.count(s)
  local n, i = 0, 1
  while true do
    local a, b = find(s, '"timestamp":', i, true)
    if not a then return n end
    n = n + 1
    i = b + 1
  end
end
'''

LUA_CONTENT = r'''
ngx.req.read_body()
local body = ngx.req.get_body_data()
if not body then
  local path = ngx.req.get_body_file()
  if path then local h = io.open(path, "rb"); body = h:read("*a"); h:close() end
end
body = body or ""
local recv_ns = sink.now_ns()
if ngx.var.http_content_encoding == "gzip" then
  local plain, err = sink.gunzip(body)
  if not plain then
    ngx.log(ngx.ERR, "bench sink: ", err)
    ngx.status = 400
    ngx.header["Content-Type"] = "application/x-amz-json-1.1"
    ngx.header["x-amzn-RequestId"] = ngx.var.request_id
    ngx.print('{"__type":"SerializationException","message":"bad gzip"}')
    return
  end
  ngx.var.bench_plain = #plain
  body = plain
else
  ngx.var.bench_plain = #body
end
ngx.var.bench_events = sink.count(body)
if LATENCY_FILE then
  local parts = {}
  for wt in body:gmatch("wt=(%d+)") do parts[#parts + 1] = recv_ns .. " " .. wt end
  if #parts > 0 then
    local f = io.open(LATENCY_FILE, "a")
    f:write(table.concat(parts, "\n"), "\n")
    f:close()
  end
end
ngx.header["Content-Type"] = "application/x-amz-json-1.1"
ngx.header["x-amzn-RequestId"] = ngx.var.request_id
ngx.print("{}")
'''


class Sink:
    """nginx (1 worker) with the Lua counting sink on 127.0.0.1:<port>. Logs one line per request:
    `$msec $uri $status $request_length $bench_plain $bench_events` to logs/count.log."""

    def __init__(self, base: str, latency_file: str | None = None, cpu: str | None = None):
        self.dir = os.path.join(base, "nginx")
        os.makedirs(os.path.join(self.dir, "logs"))
        os.makedirs(os.path.join(self.dir, "tmp"))
        self.port = free_port()
        self.log = os.path.join(self.dir, "logs", "count.log")
        if latency_file:
            # nginx started as root runs its worker as nobody: the worker must be able to reach and write the file.
            open(latency_file, "a").close()
            os.chmod(latency_file, 0o666)
            path = os.path.dirname(os.path.abspath(latency_file))
            while path not in ("/", "/tmp", "/dev/shm"):
                os.chmod(path, os.stat(path).st_mode | 0o111)
                path = os.path.dirname(path)
        init = LUA_INIT + (f"\nLATENCY_FILE = {json.dumps(latency_file)}\n" if latency_file else "\nLATENCY_FILE = nil\n")
        conf = f"""
load_module {NGINX_MODULES}/ndk_http_module.so;
load_module {NGINX_MODULES}/ngx_http_lua_module.so;
worker_processes 1;
daemon off;
pid nginx.pid;
error_log logs/error.log warn;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  client_body_temp_path tmp/body; proxy_temp_path tmp/proxy; fastcgi_temp_path tmp/fcgi;
  uwsgi_temp_path tmp/uwsgi; scgi_temp_path tmp/scgi;
  keepalive_requests 1000000;
  keepalive_timeout 600s;
  lua_code_cache on;
  log_format bench '$msec $uri $status $request_length $bench_plain $bench_events';
  init_by_lua_block {{
{init}
  }}
  server {{
    listen 127.0.0.1:{self.port};
    client_max_body_size 64m;
    client_body_buffer_size 64m;
    location / {{
      set $bench_events 0;
      set $bench_plain 0;
      access_log logs/count.log bench;
      content_by_lua_block {{
{LUA_CONTENT}
      }}
    }}
  }}
}}
"""
        with open(os.path.join(self.dir, "nginx.conf"), "w") as f:
            f.write(conf)
        argv = ["nginx", "-e", "stderr", "-p", self.dir, "-c", "nginx.conf"]
        if cpu:
            argv = ["taskset", "-c", cpu] + argv
        self.errlog = open(os.path.join(self.dir, "logs", "stderr.log"), "w")
        self.proc = spawn(argv, stdout=self.errlog, stderr=subprocess.STDOUT)
        wait_port(self.port, proc=self.proc)
        self.master = self.proc.pid
        deadline = time.monotonic() + 5
        while True:
            kids = children(self.master)
            if kids:
                self.worker = kids[0]
                break
            if time.monotonic() > deadline:
                raise RuntimeError("nginx worker not found")
            time.sleep(0.01)
        self._offset = 0
        open(self.log, "a").close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cpu(self) -> float:
        return cpu_seconds(self.master) + cpu_seconds(self.worker)

    def read_new(self) -> list[tuple[float, str, int, int, int, int]]:
        """Request lines logged since the last call: (msec, uri, status, request_length, plain_bytes, events)."""
        with open(self.log, "rb") as f:
            f.seek(self._offset)
            data = f.read()
        end = data.rfind(b"\n") + 1
        self._offset += end
        rows = []
        for line in data[:end].decode().splitlines():
            p = line.split()
            rows.append((float(p[0]), p[1], int(p[2]), int(p[3]), int(p[4]), int(p[5])))
        return rows

    def close(self):
        stop(self.proc)
        self.errlog.close()


# ----------------------------------------------------------------------------------------------------------------
# The agent


IDLE_APP = "#!/bin/sh\nexec sleep 100000\n"


def agent_binary(path: str | None) -> str:
    binary = os.path.abspath(path or os.environ.get("CLOCK_AGENT_BIN") or DEFAULT_AGENT)
    if not os.access(binary, os.X_OK):
        sys.exit(
            f"agent binary not found: {binary}\n"
            "build it first: swift build -c release --scratch-path /work/main/.build-bench (or pass --agent / CLOCK_AGENT_BIN)"
        )
    return binary


def agent_env(home: str, sink_url: str | None, extra: dict | None = None) -> dict:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": home,
        "LANG": "C.UTF-8",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "AKIDBENCH",
        "AWS_SECRET_ACCESS_KEY": "benchsecret",
        "NO_PROXY": "127.0.0.1,localhost",
    }
    if sink_url:
        env["AWS_ENDPOINT_URL_CLOUDWATCH_LOGS"] = sink_url
    if extra:
        env.update(extra)
    return env


def idle_app(base: str) -> dict:
    """A trivial app from a local file: `exec sleep 100000` (no health URL: healthy while running)."""
    path = os.path.join(base, "idle.sh")
    with open(path, "w") as f:
        f.write(IDLE_APP)
    return {
        "source": "file://" + path,
        "command": ["/bin/sh", "idle.sh"],
        "install_dir": os.path.join(base, "install"),
    }


def write_config(base: str, config: dict) -> str:
    path = os.path.join(base, "config.yaml")
    with open(path, "w") as f:
        json.dump(config, f, indent=1)  # JSON is YAML
    return path


class Wrapped:
    """The agent started under a wrapper (perf record): `pid` is the agent's, `wrapper` the process we spawned."""

    def __init__(self, wrapper: subprocess.Popen, pid: int):
        self.wrapper = wrapper
        self.pid = pid
        self.returncode = None

    def poll(self):
        if self.returncode is None and not os.path.exists(f"/proc/{self.pid}"):
            self.returncode = self.wrapper.wait()
        return self.returncode

    def wait(self, timeout=None):
        deadline = None if timeout is None else time.monotonic() + timeout
        while os.path.exists(f"/proc/{self.pid}") and _state(self.pid) != "Z":
            if deadline and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired("clock-agent", timeout)
            time.sleep(0.02)
        # perf exits with the workload's status once it has written its data.
        self.returncode = self.wrapper.wait(timeout=120)
        return self.returncode


def _state(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat") as f:
            text = f.read()
        return text[text.rindex(")") + 2]
    except (FileNotFoundError, ValueError):
        return "X"


def start_agent(binary: str, config_path: str, env: dict, base: str, cpu: str | None = None, name="agent",
                wrapper: list[str] | None = None):
    log = open(os.path.join(base, f"{name}.log"), "w")
    argv = [binary, "run", "--config", config_path]
    if cpu:
        argv = ["taskset", "-c", cpu] + argv
    if wrapper:
        argv = wrapper + ["--"] + argv
    proc = spawn(argv, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=base)
    if wrapper:
        deadline = time.monotonic() + 10
        while True:
            kids = [k for k in children(proc.pid) if os.path.realpath(f"/proc/{k}/exe") == os.path.realpath(binary)]
            if kids:
                break
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("the agent did not start under " + wrapper[0])
            time.sleep(0.002)
        proc = Wrapped(proc, kids[0])
    proc.bench_log = log  # type: ignore[attr-defined]
    proc.bench_log_path = log.name  # type: ignore[attr-defined]
    return proc


def agent_log_tail(proc, lines=15) -> str:
    try:
        with open(proc.bench_log_path) as f:
            return "".join(f.readlines()[-lines:])
    except Exception:
        return ""


# ----------------------------------------------------------------------------------------------------------------
# Output


def table(headers: list[str], rows: list[list], title: str | None = None) -> str:
    cells = [[str(c) for c in r] for r in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
    out = []
    if title:
        out.append(title)
    out.append("| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths)) + " |")
    out.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in cells:
        out.append("| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |")
    return "\n".join(out)


def verdict(value: float, target: float, higher_is_better=False) -> str:
    ok = value >= target if higher_is_better else value <= target
    return "met" if ok else "MISSED"


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, int(round(p / 100 * len(ordered) + 0.5)) - 1))
    return ordered[k]


def median(values):
    return statistics.median(values) if values else float("nan")


def parse_size(text: str) -> int:
    text = text.strip().upper().rstrip("B").rstrip("I")
    mult = 1
    for suffix, m in (("K", 1 << 10), ("M", 1 << 20), ("G", 1 << 30)):
        if text.endswith(suffix):
            mult = m
            text = text[:-1]
            break
    return int(float(text) * mult)


def machine_line() -> str:
    model = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    load = os.getloadavg()
    return f"{os.cpu_count()} CPUs ({model}), load {load[0]:.2f}, kernel {os.uname().release}"
