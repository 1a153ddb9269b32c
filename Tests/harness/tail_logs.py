#!/usr/bin/env python3
"""Follows a CloudWatch Logs group in the emulator (moto) with boto3, like `aws logs tail --follow`:
prints every new event as `stream  time  message`. Used by scripts/demo; stops on SIGINT/SIGTERM.

    python3 Tests/harness/tail_logs.py --harness DIR/harness.json [--group /clock/app] [--interval 1]
"""
import argparse
import datetime
import json
import signal
import sys
import time

import boto3
from botocore.config import Config


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--harness", required=True)
    parser.add_argument("--group", default="/clock/app")
    parser.add_argument("--interval", type=float, default=1.0)
    args = parser.parse_args()
    with open(args.harness) as f:
        info = json.load(f)
    endpoint = info["sink"] or info["moto"]
    logs = boto3.client("logs", region_name=info["region"], endpoint_url=endpoint,
                        aws_access_key_id=info["admin"]["access_key_id"],
                        aws_secret_access_key=info["admin"]["secret_access_key"],
                        config=Config(retries={"max_attempts": 1}))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    seen = {}
    try:
        while True:
            try:
                streams = [s["logStreamName"] for s in logs.describe_log_streams(logGroupName=args.group)["logStreams"]]
            except logs.exceptions.ResourceNotFoundException:
                streams = []
            for stream in streams:
                kwargs = {"logGroupName": args.group, "logStreamName": stream, "startFromHead": True}
                if stream in seen:
                    kwargs["nextToken"] = seen[stream]
                page = logs.get_log_events(**kwargs)
                for event in page["events"]:
                    when = datetime.datetime.fromtimestamp(event["timestamp"] / 1000, datetime.timezone.utc)
                    print(f"{stream:40} {when:%H:%M:%S} {event['message']}", flush=True)
                seen[stream] = page["nextForwardToken"]
            time.sleep(args.interval)
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
