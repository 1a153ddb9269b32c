#!/usr/bin/env python3
"""clock-agent test harness launcher.

    python3 Tests/harness/run.py up --workdir DIR [--artifact PATH] [--artifact-key KEY] [--sink]
                                    [--no-auth] [--instance-id ID] [--instances N] [--sink-quota SPEC] [--verbose]
    python3 Tests/harness/run.py down --workdir DIR

`up` runs in the foreground until SIGTERM/SIGINT; when ready it writes DIR/harness.json
atomically and prints `READY <path>` on stdout.  `down` stops the harness named in
DIR/harness.json by its PID.  See Tests/harness/README.md.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def cmd_up(args) -> int:
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    if not args.verbose:
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
    stop = threading.Event()

    def on_signal(signum, frame):
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    # A parent may start us with signals blocked (Foundation's Process passes its thread's mask on): unblock them
    # so SIGTERM and SIGINT from the test or the demo are delivered.
    signal.pthread_sigmask(signal.SIG_SETMASK, [])

    if args.artifact and not os.path.isfile(args.artifact):
        print(f"--artifact {args.artifact}: no such file", file=sys.stderr)
        return 2
    from clockharness.server import HarnessServer
    from clockharness.sink import parse_quota
    try:
        quota = parse_quota(args.sink_quota) if args.sink_quota else None
    except ValueError as e:
        print(f"--sink-quota: {e}", file=sys.stderr)
        return 2
    server = HarnessServer(args.workdir, artifact=args.artifact, artifact_key=args.artifact_key, sink=args.sink,
                           auth=not args.no_auth, instance_id=args.instance_id, instances=args.instances,
                           sink_quota=quota)
    try:
        server.start()
        path = server.write_harness_json()
    except Exception:
        logging.exception("harness failed to start")
        server.stop()
        return 1
    sys.stdout.write(f"READY {path}\n")
    sys.stdout.flush()
    # Nothing else goes to stdout: a parent may stop reading it after READY.
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    parent = os.getppid()
    while not stop.wait(0.5):
        # The test or demo that started us is gone (crashed, killed): don't outlive it.
        if os.getppid() != parent:
            break
    server.stop()
    return 0


def cmd_down(args) -> int:
    path = os.path.join(os.path.abspath(args.workdir), "harness.json")
    try:
        with open(path) as f:
            pid = int(json.load(f)["pid"])
    except (OSError, ValueError, KeyError) as e:
        print(f"no running harness in {args.workdir}: {e}", file=sys.stderr)
        return 1
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return 0
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        if not _alive(pid):
            return 0
        time.sleep(0.05)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    return 0


def _alive(pid: int) -> bool:
    """True while the process runs (a zombie waiting for its parent to reap it counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="run.py", description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    up = sub.add_parser("up", help="start the harness in the foreground")
    up.add_argument("--workdir", required=True, help="directory for harness.json")
    up.add_argument("--artifact", help="file to upload to s3://webclock-bucket/<key>")
    up.add_argument("--artifact-key", help="S3 key for --artifact (default: its basename)")
    up.add_argument("--sink", action="store_true", help="also start the strict CloudWatch Logs sink")
    up.add_argument("--no-auth", action="store_true", help="leave moto's IAM checks off")
    up.add_argument("--instance-id", help="instance id for the ASG instance and IMDS (default i-0123456789abcdef0)")
    up.add_argument("--instances", type=int, default=1,
                    help="instances in the ASG, each with an IMDS fake of its own (default 1)")
    up.add_argument("--sink-quota", help="request-rate quota of the sink, e.g. 'rate=50' or "
                                         "'PutLogEvents=100,CreateLogStream=5/5' (default: none)")
    up.add_argument("--verbose", action="store_true", help="log every moto request to stderr")
    down = sub.add_parser("down", help="stop the harness named in DIR/harness.json (by PID)")
    down.add_argument("--workdir", required=True)
    down.add_argument("--timeout", type=float, default=10.0)
    args = p.parse_args(argv)
    return cmd_up(args) if args.cmd == "up" else cmd_down(args)


if __name__ == "__main__":
    sys.exit(main())
