#!/usr/bin/env python3
"""Independent AWS client for tests written in Swift: boto3 with the harness's admin credentials.

    python3 Tests/harness/admin.py --harness DIR/harness.json put-object KEY FILE [--checksum]
    python3 Tests/harness/admin.py --harness DIR/harness.json log-events GROUP STREAM     # JSON list on stdout
    python3 Tests/harness/admin.py --harness DIR/harness.json log-streams GROUP            # JSON list on stdout
    python3 Tests/harness/admin.py --harness DIR/harness.json retention GROUP              # days or null

Reads from moto (or from the strict sink with --sink). Exit 0 on success; errors go to stderr.
"""
import argparse
import json
import sys

import boto3
from botocore.config import Config


def client(info, service, use_sink=False):
    endpoint = info["sink"] if use_sink and service == "logs" else info["moto"]
    return boto3.client(
        service, region_name=info["region"], endpoint_url=endpoint,
        aws_access_key_id=info["admin"]["access_key_id"], aws_secret_access_key=info["admin"]["secret_access_key"],
        config=Config(retries={"max_attempts": 1}))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--harness", required=True)
    parser.add_argument("--sink", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True)
    put = sub.add_parser("put-object")
    put.add_argument("key")
    put.add_argument("file")
    put.add_argument("--checksum", action="store_true")
    events = sub.add_parser("log-events")
    events.add_argument("group")
    events.add_argument("stream")
    streams = sub.add_parser("log-streams")
    streams.add_argument("group")
    retention = sub.add_parser("retention")
    retention.add_argument("group")
    args = parser.parse_args()
    with open(args.harness) as f:
        info = json.load(f)

    if args.command == "put-object":
        with open(args.file, "rb") as f:
            body = f.read()
        extra = {"ChecksumAlgorithm": "SHA256"} if args.checksum else {}
        client(info, "s3").put_object(Bucket=info["bucket"], Key=args.key, Body=body, **extra)
    elif args.command == "log-events":
        logs = client(info, "logs", args.sink)
        found, token = [], None
        while True:
            kwargs = {"logGroupName": args.group, "logStreamName": args.stream, "startFromHead": True}
            if token:
                kwargs["nextToken"] = token
            page = logs.get_log_events(**kwargs)
            found += [{"timestamp": e["timestamp"], "message": e["message"]} for e in page["events"]]
            if not page["events"] or page.get("nextForwardToken") == token:
                break
            token = page.get("nextForwardToken")
        json.dump(found, sys.stdout)
    elif args.command == "log-streams":
        logs = client(info, "logs", args.sink)
        pages = logs.get_paginator("describe_log_streams").paginate(logGroupName=args.group)
        json.dump([s["logStreamName"] for p in pages for s in p["logStreams"]], sys.stdout)
    elif args.command == "retention":
        logs = client(info, "logs", args.sink)
        groups = logs.describe_log_groups(logGroupNamePrefix=args.group)["logGroups"]
        match = [g for g in groups if g["logGroupName"] == args.group]
        json.dump(match[0].get("retentionInDays") if match else None, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
