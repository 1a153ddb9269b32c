"""Strict CloudWatch Logs fake ("sink") that enforces every documented PutLogEvents limit.

moto enforces few CloudWatch Logs rules (test-environment.md section 2.3); this fake enforces
all of aws-apis.md sections 1.2-1.4, verifies SigV4 itself (sigv4.py), evaluates the agent's
IAM policy against real log-group/log-stream ARNs, answers in AWS's awsJson1_1 error format,
injects faults (throttling, 5xx, resets, outages, latency), and can enforce per-account request-rate quotas
(all operations together and/or per API) the way CloudWatch Logs throttles: HTTP 400
`{"__type":"ThrottlingException","message":"Rate exceeded"}`.

Limits enforced (aws-apis.md section 1.2, from the PutLogEvents API reference / botocore model):
  * 1..10,000 events per call;
  * batch size = sum(UTF-8 bytes of each message + 26) <= 1,048,576 bytes;
  * event size = UTF-8 bytes of the message + 26 <= 1,048,576 bytes ("1 MB" event limit since
    April 2025), i.e. a message may carry at most MAX_MESSAGE_BYTES = 1,048,550 bytes;
  * message length >= 1; events in chronological order; the valid events of one call span <= 24 h;
  * > 14 days old / older than the group's retention -> rejected individually (prefix),
    > 2 h in the future -> rejected individually (suffix), reported in rejectedLogEventsInfo.
Sizes are counted after replacing invalid UTF-8 with U+FFFD (3 bytes), as AWS does.
"""

from __future__ import annotations

import bisect
import gzip
import json
import re
import threading
import time
import uuid

from . import sigv4
from .httpbase import AbortConnection, Handler, HTTPService

TARGET_PREFIX = "Logs_20140328."
JSON_CT = "application/x-amz-json-1.1"
MAX_EVENTS = 10_000
MAX_BATCH_BYTES = 1_048_576
EVENT_OVERHEAD = 26
MAX_EVENT_BYTES = 1_048_576
MAX_MESSAGE_BYTES = MAX_EVENT_BYTES - EVENT_OVERHEAD  # 1,048,550
MAX_SPAN_MS = 24 * 3600 * 1000
TOO_OLD_MS = 14 * 24 * 3600 * 1000
TOO_NEW_MS = 2 * 3600 * 1000
RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
                  3288, 3653)
GROUP_NAME_RE = re.compile(r"[\.\-_/#A-Za-z0-9]{1,512}")
_SURROGATES = re.compile("[\ud800-\udfff]")
_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/")


class SinkError(Exception):
    """An awsJson1_1 error answer: {"__type": code, "message": message} with an HTTP status."""

    def __init__(self, code: str, message: str, status: int = 400):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status


def _validation(value, where: str, constraint: str) -> SinkError:
    shown = "null" if value is None else f"'{value}'"
    return SinkError("InvalidParameterException",
                     f"1 validation error detected: Value {shown} at '{where}' failed to satisfy constraint: "
                     f"{constraint}")


class Faults:
    """Injected faults (control API POST /sink/faults)."""

    def __init__(self):
        self.clear()

    def clear(self):
        self.throttle = 0            # next N PutLogEvents -> ThrottlingException (400)
        self.error_500 = 0           # next N PutLogEvents -> 500 ServiceUnavailableException
        self.error_503 = 0           # next N PutLogEvents -> 503 ServiceUnavailableException
        self.reset = 0               # next N PutLogEvents -> connection reset, nothing stored
        self.reset_after_store = 0   # next N PutLogEvents -> stored, then connection reset (lost answer)
        self.down_until = None       # monotonic
        self.down_mode = "reset"     # reset | 503
        self.latency_ms = 0
        self.rate_limit = None       # requests/s over all operations (token bucket, burst = rate)
        self._bucket = 0.0
        self._bucket_t = time.monotonic()

    def to_json(self) -> dict:
        left = None
        if self.down_until is not None:
            left = max(0.0, round(self.down_until - time.monotonic(), 3))
        return {"throttle": self.throttle, "error_500": self.error_500, "error_503": self.error_503,
                "reset": self.reset, "reset_after_store": self.reset_after_store,
                "down_seconds_left": left, "down_mode": self.down_mode,
                "latency_ms": self.latency_ms, "rate_limit": self.rate_limit}

    def down(self) -> bool:
        if self.down_until is None:
            return False
        if time.monotonic() >= self.down_until:
            self.down_until = None
            return False
        return True

    def take_token(self) -> bool:
        if not self.rate_limit:
            return True
        now = time.monotonic()
        cap = max(1.0, float(self.rate_limit))
        self._bucket = min(cap, self._bucket + (now - self._bucket_t) * float(self.rate_limit))
        self._bucket_t = now
        if self._bucket >= 1.0:
            self._bucket -= 1.0
            return True
        return False


class TokenBucket:
    """A token bucket: `rate` tokens per second, at most `burst` banked (a full bucket at the start)."""

    def __init__(self, rate: float, burst: float | None = None, clock=time.monotonic):
        if rate <= 0:
            raise ValueError("a quota rate must be > 0")
        self.rate = float(rate)
        self.burst = max(1.0, float(burst if burst is not None else rate))
        self.clock = clock
        self.tokens = self.burst
        self.stamp = clock()

    def to_json(self) -> dict:
        return {"rate": self.rate, "burst": self.burst}


class Quota:
    """Per-account request-rate quotas, as CloudWatch Logs applies them (aws-apis.md section 1.5): one bucket over
    all operations (`rate`/`burst`) and/or one per API (`operations`: {"PutLogEvents": {"rate", "burst"}, ...}).
    A request over any of them is answered HTTP 400 `{"__type":"ThrottlingException","message":"Rate exceeded"}`
    and consumes no token. Off by default (no buckets)."""

    def __init__(self, spec: dict | None = None, clock=time.monotonic):
        self.clock = clock
        self.account: TokenBucket | None = None
        self.operations: dict[str, TokenBucket] = {}
        if spec:
            self.configure(spec)

    def configure(self, spec: dict) -> None:
        if not isinstance(spec, dict):
            raise ValueError("a quota is an object {rate, burst, operations}")
        unknown = set(spec) - {"rate", "burst", "operations"}
        if unknown:
            raise ValueError(f"unknown quota keys {sorted(unknown)}")
        account = TokenBucket(spec["rate"], spec.get("burst"), self.clock) if spec.get("rate") is not None else None
        operations = {}
        for op, value in (spec.get("operations") or {}).items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                value = {"rate": value}
            if not isinstance(value, dict) or value.get("rate") is None:
                raise ValueError(f"quota for {op} must be a rate or {{rate, burst}}")
            operations[op] = TokenBucket(value["rate"], value.get("burst"), self.clock)
        self.account, self.operations = account, operations

    @property
    def enabled(self) -> bool:
        return self.account is not None or bool(self.operations)

    def admit(self, op: str) -> bool:
        """Whether a request may pass; takes a token from every bucket that applies only when all have one."""
        buckets = [bk for bk in (self.account, self.operations.get(op)) if bk is not None]
        now = self.clock()
        for bk in buckets:
            bk.tokens = min(bk.burst, bk.tokens + (now - bk.stamp) * bk.rate)
            bk.stamp = now
        if any(bk.tokens < 1.0 for bk in buckets):
            return False
        for bk in buckets:
            bk.tokens -= 1.0
        return True

    def to_json(self) -> dict:
        return {"enabled": self.enabled,
                "rate": self.account.rate if self.account else None,
                "burst": self.account.burst if self.account else None,
                "operations": {op: bk.to_json() for op, bk in sorted(self.operations.items())}}


def parse_quota(text: str) -> dict:
    """`--sink-quota` syntax: comma-separated `rate=R`, `burst=B` (all operations together) and `<Operation>=R[/B]`
    (one API), e.g. `PutLogEvents=100,CreateLogStream=5/5` or `rate=50`."""
    spec: dict = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = part.partition("=")
        if not sep:
            raise ValueError(f"quota item {part!r} is not key=value")
        if key in ("rate", "burst"):
            spec[key] = float(value)
            continue
        rate, _, burst = value.partition("/")
        spec.setdefault("operations", {})[key] = {"rate": float(rate), "burst": float(burst) if burst else None}
    if "burst" in spec and "rate" not in spec:
        raise ValueError("quota burst= needs rate=")
    return spec


class Stats:
    def __init__(self):
        self.requests: dict[str, int] = {}
        self.requests_total = 0
        self.events_accepted = 0
        self.message_bytes_accepted = 0
        self.batch_bytes_accepted = 0
        self.rejected_events = {"tooOld": 0, "tooNew": 0, "expired": 0}
        self.errors: dict[str, int] = {}
        self.injected: dict[str, int] = {}
        self.invalid_utf8_replacements = 0
        self.gzip_requests = 0
        self.timeline: dict[int, dict[str, int]] = {}
        self.put_batches = 0
        self.max_batch_events = 0
        self.max_batch_bytes = 0
        self.throttled: dict[str, int] = {}     # requests refused by the quota, per operation
        self.by_key: dict[str, dict[str, int]] = {}  # requests per access key id and operation

    def to_json(self) -> dict:
        return {
            "requests": dict(self.requests), "requests_total": self.requests_total,
            "describe_log_streams_calls": self.requests.get("DescribeLogStreams", 0),
            "put_log_events_calls": self.requests.get("PutLogEvents", 0),
            "put_batches_accepted": self.put_batches,
            "events_accepted": self.events_accepted,
            "message_bytes_accepted": self.message_bytes_accepted,
            "batch_bytes_accepted": self.batch_bytes_accepted,
            "max_batch_events": self.max_batch_events, "max_batch_bytes": self.max_batch_bytes,
            "rejected_events": dict(self.rejected_events),
            "errors": dict(self.errors), "injected": dict(self.injected),
            "invalid_utf8_replacements": self.invalid_utf8_replacements,
            "gzip_requests": self.gzip_requests,
            "throttled": dict(self.throttled), "throttled_total": sum(self.throttled.values()),
            "by_key": {k: dict(v) for k, v in self.by_key.items()},
            "timeline": [{"second": s, **c} for s, c in sorted(self.timeline.items())],
        }


class LogsSink:
    """The fake's state.  `lookup(akid)` -> sigv4.Credential | None; `authorize(cred, action, arn)` -> denial str | None."""

    def __init__(self, *, region: str, account: str, lookup, authorize=None, clock=time.time):
        self.region = region
        self.account = account
        self.lookup = lookup
        self.authorize = authorize or (lambda cred, action, arn: None)
        self.clock = clock
        self.lock = threading.RLock()
        self.groups: dict[str, dict] = {}
        self.stats = Stats()
        self.faults = Faults()
        self.quota = Quota()
        self.seq = 0
        self.service = HTTPService(SinkHandler, self, name="sink")

    def start(self):
        self.service.start()

    def stop(self):
        self.service.stop()

    @property
    def url(self) -> str:
        return self.service.url

    def reset(self):
        with self.lock:
            self.groups.clear()
            self.stats = Stats()
            self.faults = Faults()
            self.quota = Quota()

    def set_faults(self, body: dict) -> dict:
        with self.lock:
            f = self.faults
            if body.get("clear"):
                f.clear()
            for key in ("throttle", "error_500", "error_503", "reset", "reset_after_store", "latency_ms"):
                if key in body:
                    setattr(f, key, int(body[key] or 0))
            if "rate_limit" in body:
                f.rate_limit = float(body["rate_limit"]) if body["rate_limit"] else None
                f._bucket = max(1.0, f.rate_limit or 0.0)
                f._bucket_t = time.monotonic()
            if "down_mode" in body:
                if body["down_mode"] not in ("reset", "503"):
                    raise ValueError("down_mode must be 'reset' or '503'")
                f.down_mode = body["down_mode"]
            if "down_seconds" in body:
                secs = body["down_seconds"]
                f.down_until = time.monotonic() + float(secs) if secs else None
            return f.to_json()

    def set_quota(self, spec: dict | None) -> dict:
        """Replaces the request-rate quota (None or {} switches it off)."""
        with self.lock:
            quota = Quota(clock=self.quota.clock)
            if spec:
                quota.configure(spec)
            self.quota = quota
            return quota.to_json()

    def delete(self, group: str, stream: str | None) -> dict:
        with self.lock:
            g = self.groups.get(group)
            if g is None:
                raise KeyError(f"no log group {group}")
            if stream is None:
                del self.groups[group]
                return {"deleted": {"group": group}}
            if stream not in g["streams"]:
                raise KeyError(f"no log stream {stream} in {group}")
            del g["streams"][stream]
            return {"deleted": {"group": group, "stream": stream}}

    def events(self, group: str, stream: str | None) -> dict:
        with self.lock:
            g = self.groups.get(group)
            if g is None:
                return {"group": group, "exists": False, "events": []}
            if stream is not None:
                s = g["streams"].get(stream)
                return {"group": group, "stream": stream, "exists": s is not None,
                        "events": list(s["events"]) if s else []}
            out = []
            for name, s in g["streams"].items():
                out.extend(dict(e, stream=name) for e in s["events"])
            return {"group": group, "exists": True, "streams": sorted(g["streams"]),
                    "retentionInDays": g["retention"], "events": out}

    def stats_json(self) -> dict:
        with self.lock:
            out = self.stats.to_json()
            out["faults"] = self.faults.to_json()
            out["quota"] = self.quota.to_json()
            out["groups"] = {name: {"retentionInDays": g["retention"],
                                    "streams": {s: len(v["events"]) for s, v in g["streams"].items()}}
                             for name, g in self.groups.items()}
            return out

    # -- accounting ------------------------------------------------------------------------
    def count_request(self, op: str, akid: str | None = None) -> None:
        with self.lock:
            st = self.stats
            st.requests_total += 1
            st.requests[op] = st.requests.get(op, 0) + 1
            if akid:
                per = st.by_key.setdefault(akid, {})
                per[op] = per.get(op, 0) + 1
            sec = int(self.clock())
            bucket = st.timeline.setdefault(sec, {"requests": 0})
            bucket["requests"] += 1
            bucket[op] = bucket.get(op, 0) + 1

    def count_throttled(self, op: str) -> None:
        with self.lock:
            st = self.stats
            st.throttled[op] = st.throttled.get(op, 0) + 1
            bucket = st.timeline.setdefault(int(self.clock()), {"requests": 0})
            bucket["throttled"] = bucket.get("throttled", 0) + 1
            bucket["throttled:" + op] = bucket.get("throttled:" + op, 0) + 1

    def count_error(self, code: str) -> None:
        with self.lock:
            self.stats.errors[code] = self.stats.errors.get(code, 0) + 1

    def count_injected(self, kind: str) -> None:
        with self.lock:
            self.stats.injected[kind] = self.stats.injected.get(kind, 0) + 1

    # -- operations ------------------------------------------------------------------------
    def arn(self, group: str, stream: str | None = None) -> str:
        return f"arn:aws:logs:{self.region}:{self.account}:log-group:{group}:log-stream:{stream or ''}"

    def _group(self, name: str) -> dict:
        g = self.groups.get(name)
        if g is None:
            raise SinkError("ResourceNotFoundException", "The specified log group does not exist.")
        return g

    @staticmethod
    def _check_group_name(name):
        if not isinstance(name, str) or not GROUP_NAME_RE.fullmatch(name):
            if name is None:
                raise _validation(None, "logGroupName", "Member must not be null")
            raise _validation(name, "logGroupName",
                              "Member must satisfy regular expression pattern: [\\.\\-_/#A-Za-z0-9]+ "
                              "(length 1-512)")

    @staticmethod
    def _check_stream_name(name):
        if name is None:
            raise _validation(None, "logStreamName", "Member must not be null")
        if not isinstance(name, str) or not (1 <= len(name) <= 512) or ":" in name or "*" in name:
            raise _validation(name, "logStreamName",
                              "Member must satisfy regular expression pattern: [^:*]* (length 1-512)")

    def op_CreateLogGroup(self, req: dict, cred) -> dict:
        name = req.get("logGroupName")
        self._check_group_name(name)
        self._authz(cred, "CreateLogGroup", self.arn(name))
        with self.lock:
            if name in self.groups:
                raise SinkError("ResourceAlreadyExistsException", "The specified log group already exists")
            self.groups[name] = {"created": int(self.clock() * 1000), "retention": None, "streams": {},
                                 "logGroupClass": req.get("logGroupClass", "STANDARD")}
        return {}

    def op_CreateLogStream(self, req: dict, cred) -> dict:
        group, stream = req.get("logGroupName"), req.get("logStreamName")
        self._check_group_name(group)
        self._check_stream_name(stream)
        self._authz(cred, "CreateLogStream", self.arn(group, stream))
        with self.lock:
            g = self._group(group)
            if stream in g["streams"]:
                raise SinkError("ResourceAlreadyExistsException", "The specified log stream already exists")
            g["streams"][stream] = {"created": int(self.clock() * 1000), "events": [], "stored_bytes": 0}
        return {}

    def op_PutRetentionPolicy(self, req: dict, cred) -> dict:
        group, days = req.get("logGroupName"), req.get("retentionInDays")
        self._check_group_name(group)
        if days not in RETENTION_DAYS or isinstance(days, bool):
            raise _validation(days, "retentionInDays",
                              "Member must satisfy enum value set: [" + ", ".join(map(str, RETENTION_DAYS)) + "]")
        self._authz(cred, "PutRetentionPolicy", self.arn(group))
        with self.lock:
            self._group(group)["retention"] = days
        return {}

    def op_DescribeLogStreams(self, req: dict, cred) -> dict:
        group = req.get("logGroupName")
        self._check_group_name(group)
        self._authz(cred, "DescribeLogStreams", self.arn(group))
        prefix = req.get("logStreamNamePrefix") or ""
        with self.lock:
            g = self._group(group)
            streams = []
            for name, s in sorted(g["streams"].items()):
                if not name.startswith(prefix):
                    continue
                item = {"logStreamName": name, "creationTime": s["created"],
                        "arn": self.arn(group, name), "storedBytes": s["stored_bytes"]}
                if s["events"]:
                    item["firstEventTimestamp"] = min(e["timestamp"] for e in s["events"])
                    item["lastEventTimestamp"] = max(e["timestamp"] for e in s["events"])
                    item["lastIngestionTime"] = s["events"][-1]["ingestionTime"]
                streams.append(item)
        if req.get("orderBy") == "LastEventTime":
            streams.sort(key=lambda x: x.get("lastEventTimestamp", 0))
        if req.get("descending"):
            streams.reverse()
        limit = int(req.get("limit") or 50)
        return {"logStreams": streams[:limit]}

    def op_DescribeLogGroups(self, req: dict, cred) -> dict:
        self._authz(cred, "DescribeLogGroups", f"arn:aws:logs:{self.region}:{self.account}:log-group::log-stream:")
        prefix = req.get("logGroupNamePrefix") or ""
        with self.lock:
            groups = [{"logGroupName": n, "creationTime": g["created"], "retentionInDays": g["retention"],
                       "arn": f"arn:aws:logs:{self.region}:{self.account}:log-group:{n}:*",
                       "storedBytes": sum(s["stored_bytes"] for s in g["streams"].values())}
                      for n, g in sorted(self.groups.items()) if n.startswith(prefix)]
        for g in groups:
            if g["retentionInDays"] is None:
                del g["retentionInDays"]
        # Names in ASCII order, at most `limit` (1-50, default 50) per page, the rest behind nextToken (the index).
        limit = req.get("limit", 50)
        if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= 50:
            raise _validation(limit, "limit", "Member must have value between 1 and 50")
        start = int(req.get("nextToken") or 0)
        page = {"logGroups": groups[start:start + limit]}
        if start + limit < len(groups):
            page["nextToken"] = str(start + limit)
        return page

    def op_DeleteLogStream(self, req: dict, cred) -> dict:
        group, stream = req.get("logGroupName"), req.get("logStreamName")
        self._check_group_name(group)
        self._check_stream_name(stream)
        self._authz(cred, "DeleteLogStream", self.arn(group, stream))
        with self.lock:
            g = self._group(group)
            if stream not in g["streams"]:
                raise SinkError("ResourceNotFoundException", "The specified log stream does not exist.")
            del g["streams"][stream]
        return {}

    def op_DeleteLogGroup(self, req: dict, cred) -> dict:
        group = req.get("logGroupName")
        self._check_group_name(group)
        self._authz(cred, "DeleteLogGroup", self.arn(group))
        with self.lock:
            self._group(group)
            del self.groups[group]
        return {}

    def op_GetLogEvents(self, req: dict, cred) -> dict:
        group, stream = req.get("logGroupName"), req.get("logStreamName")
        self._check_group_name(group)
        self._check_stream_name(stream)
        self._authz(cred, "GetLogEvents", self.arn(group, stream))
        with self.lock:
            g = self._group(group)
            s = g["streams"].get(stream)
            if s is None:
                raise SinkError("ResourceNotFoundException", "The specified log stream does not exist.")
            events = list(s["events"])
        start, end = req.get("startTime"), req.get("endTime")
        if start is not None:
            events = [e for e in events if e["timestamp"] >= start]
        if end is not None:
            events = [e for e in events if e["timestamp"] < end]
        token = req.get("nextToken")
        offset = int(token[2:]) if isinstance(token, str) and token[:2] in ("f/", "b/") else 0
        limit = int(req.get("limit") or 10000)
        page = events[offset:offset + limit]
        nxt = offset + len(page)
        return {"events": [{"timestamp": e["timestamp"], "message": e["message"], "ingestionTime": e["ingestionTime"]}
                           for e in page],
                "nextForwardToken": f"f/{nxt:056d}", "nextBackwardToken": f"b/{offset:056d}"}

    def op_PutLogEvents(self, req: dict, cred, after_store=None) -> dict:
        group, stream = req.get("logGroupName"), req.get("logStreamName")
        self._check_group_name(group)
        self._check_stream_name(stream)
        events = req.get("logEvents")
        if events is None:
            raise _validation(None, "logEvents", "Member must not be null")
        if not isinstance(events, list):
            raise SinkError("SerializationException", "logEvents must be a list")
        if len(events) < 1:
            raise _validation("[]", "logEvents", "Member must have length greater than or equal to 1")
        if len(events) > MAX_EVENTS:
            raise _validation(f"[{len(events)} events]", "logEvents",
                              f"Member must have length less than or equal to {MAX_EVENTS}")
        replaced = req.pop("_replacements", 0)
        msgs, stamps, total = [], [], 0
        for i, ev in enumerate(events):
            if not isinstance(ev, dict):
                raise SinkError("SerializationException", f"logEvents[{i}] must be an object")
            ts, msg = ev.get("timestamp"), ev.get("message")
            if ts is None:
                raise _validation(None, f"logEvents.{i + 1}.member.timestamp", "Member must not be null")
            if isinstance(ts, bool) or not isinstance(ts, int):
                raise SinkError("SerializationException",
                                f"logEvents[{i}].timestamp must be an integer (milliseconds since the epoch)")
            if ts < 0:
                raise _validation(ts, f"logEvents.{i + 1}.member.timestamp",
                                  "Member must have value greater than or equal to 0")
            if msg is None:
                raise _validation(None, f"logEvents.{i + 1}.member.message", "Member must not be null")
            if not isinstance(msg, str):
                raise SinkError("SerializationException", f"logEvents[{i}].message must be a string")
            msg, n = _SURROGATES.subn("\ufffd", msg)
            replaced += n
            size = len(msg.encode("utf-8"))
            if size < 1:
                raise _validation("", f"logEvents.{i + 1}.member.message",
                                  "Member must have length greater than or equal to 1")
            if size > MAX_MESSAGE_BYTES:
                raise SinkError("InvalidParameterException",
                                f"Log event too large: event {i} is {size + EVENT_OVERHEAD} bytes "
                                f"({size} message bytes + {EVENT_OVERHEAD}), exceeds limit of {MAX_EVENT_BYTES} "
                                f"bytes (message at most {MAX_MESSAGE_BYTES} bytes)")
            total += size + EVENT_OVERHEAD
            msgs.append(msg)
            stamps.append(ts)
        if total > MAX_BATCH_BYTES:
            raise SinkError("InvalidParameterException",
                            f"Upload too large: {total} bytes exceeds limit of {MAX_BATCH_BYTES} "
                            f"(sum of UTF-8 message bytes + {EVENT_OVERHEAD} per event)")
        self._authz(cred, "PutLogEvents", self.arn(group, stream))
        for i in range(1, len(stamps)):
            if stamps[i] < stamps[i - 1]:
                raise SinkError("InvalidParameterException",
                                "Log events in a single PutLogEvents request must be in chronological order. "
                                f"(event {i} timestamp {stamps[i]} < event {i - 1} timestamp {stamps[i - 1]})")
        with self.lock:
            g = self._group(group)
            s = g["streams"].get(stream)
            if s is None:
                raise SinkError("ResourceNotFoundException", "The specified log stream does not exist.")
            now_ms = int(self.clock() * 1000)
            too_old_end = bisect.bisect_left(stamps, now_ms - TOO_OLD_MS)
            expired_end = 0
            if g["retention"]:
                expired_end = bisect.bisect_left(stamps, now_ms - g["retention"] * 86_400_000)
            too_new_start = bisect.bisect_right(stamps, now_ms + TOO_NEW_MS)
            first_valid = max(too_old_end, expired_end)
            if first_valid < too_new_start and stamps[too_new_start - 1] - stamps[first_valid] > MAX_SPAN_MS:
                raise SinkError("InvalidParameterException",
                                "The batch of log events in a single PutLogEvents request cannot span more than "
                                f"24 hours. (span {stamps[too_new_start - 1] - stamps[first_valid]} ms)")
            rejected = {}
            if too_old_end:
                rejected["tooOldLogEventEndIndex"] = too_old_end
            if expired_end > too_old_end:
                rejected["expiredLogEventEndIndex"] = expired_end
            if too_new_start < len(stamps):
                rejected["tooNewLogEventStartIndex"] = too_new_start
            accepted_at = self.clock()
            stored_bytes = 0
            for i in range(first_valid, too_new_start):
                s["events"].append({"timestamp": stamps[i], "message": msgs[i], "ingestionTime": now_ms,
                                    "accepted_at": accepted_at})
                stored_bytes += len(msgs[i].encode("utf-8"))
            n_ok = max(0, too_new_start - first_valid)
            s["stored_bytes"] += stored_bytes
            st = self.stats
            st.events_accepted += n_ok
            st.message_bytes_accepted += stored_bytes
            st.batch_bytes_accepted += stored_bytes + EVENT_OVERHEAD * n_ok
            st.put_batches += 1
            st.max_batch_events = max(st.max_batch_events, len(stamps))
            st.max_batch_bytes = max(st.max_batch_bytes, total)
            st.rejected_events["tooOld"] += too_old_end
            st.rejected_events["expired"] += max(0, expired_end - too_old_end)
            st.rejected_events["tooNew"] += len(stamps) - too_new_start
            st.invalid_utf8_replacements += replaced
            self.seq += 1
            out = {"nextSequenceToken": f"{self.seq:056d}"}
            if rejected:
                out["rejectedLogEventsInfo"] = rejected
            return out

    def _authz(self, cred, action: str, arn: str) -> None:
        denial = self.authorize(cred, f"logs:{action}", arn)
        if denial:
            raise SinkError("AccessDeniedException", denial)


class SinkHandler(Handler):
    server_version = "Server"

    @property
    def sink(self) -> LogsSink:
        return self.server.owner

    def _error(self, err: SinkError, rid: str) -> None:
        self.sink.count_error(err.code)
        # Compact, as AWS sends it: {"__type":"ThrottlingException","message":"Rate exceeded"}
        body = json.dumps({"__type": err.code, "message": err.message}, separators=(",", ":"))
        self.send(err.status, body, JSON_CT, {"x-amzn-RequestId": rid, "x-amzn-ErrorType": f"{err.code}:"})

    def do_POST(self):
        sink = self.sink
        rid = str(uuid.uuid4())
        target = self.headers.get("X-Amz-Target", "")
        op = target[len(TARGET_PREFIX):] if target.startswith(TARGET_PREFIX) else (target or "<none>")
        m = _CREDENTIAL.search(self.headers.get("Authorization", ""))
        sink.count_request(op, m.group(1) if m else None)
        with sink.lock:
            down = sink.faults.down()
            down_mode = sink.faults.down_mode
            latency = sink.faults.latency_ms
        raw = self.read_body()
        if down:
            sink.count_injected("down")
            if down_mode == "reset":
                raise AbortConnection("reset")
            self._error(SinkError("ServiceUnavailableException", "The service is unavailable (injected outage).",
                                  503), rid)
            return
        if latency:
            time.sleep(latency / 1000.0)
        try:
            out = self._dispatch(op, target, raw, rid)
        except SinkError as err:
            self._error(err, rid)
            return
        if out is _RESET:
            raise AbortConnection("reset")
        self.send_json(200, out, {"x-amzn-RequestId": rid}, content_type=JSON_CT)

    def _dispatch(self, op: str, target: str, raw: bytes, rid: str):
        sink = self.sink
        if self.path.split("?")[0] != "/":
            raise SinkError("UnknownOperationException", f"Unknown path {self.path}", 404)
        if not target.startswith(TARGET_PREFIX):
            raise SinkError("UnknownOperationException", f"X-Amz-Target must be {TARGET_PREFIX}<Operation>")
        handler = getattr(sink, "op_" + op, None)
        if handler is None:
            raise SinkError("UnknownOperationException", f"Operation {op} is not supported by the harness sink")
        ctype = self.headers.get("Content-Type", "")
        if not ctype.startswith("application/x-amz-json-1."):
            raise SinkError("SerializationException", f"Content-Type must be {JSON_CT}, got '{ctype}'")
        # The account's request-rate quota is checked before any work is done for the request (a throttled request
        # costs the sink no signature check, and takes no token).
        with sink.lock:
            admitted = sink.quota.admit(op)
        if not admitted:
            sink.count_throttled(op)
            raise SinkError("ThrottlingException", "Rate exceeded")
        pairs = [(k, v) for k, v in self.headers.items()]
        raw_target = self.path.encode("latin-1").decode("utf-8", "surrogateescape")
        try:
            cred = sigv4.verify("POST", raw_target, pairs, raw, service="logs", region=sink.region,
                                lookup=sink.lookup)
        except sigv4.AuthError as e:
            raise SinkError(e.code, e.message, e.status)
        body = raw
        if self.headers.get("Content-Encoding", "").lower() == "gzip":
            with sink.lock:
                sink.stats.gzip_requests += 1
            try:
                body = gzip.decompress(raw)
            except (OSError, EOFError) as e:
                raise SinkError("SerializationException", f"Content-Encoding gzip but the body is not gzip: {e}")
        with sink.lock:
            if not sink.faults.take_token():
                sink.count_injected("rate_limit")
                raise SinkError("ThrottlingException", "Rate exceeded")
            if op == "PutLogEvents":
                f = sink.faults
                for attr, code, status, msg in (
                        ("throttle", "ThrottlingException", 400, "Rate exceeded"),
                        ("error_500", "ServiceUnavailableException", 500, "The service cannot complete the request."),
                        ("error_503", "ServiceUnavailableException", 503, "The service is unavailable.")):
                    if getattr(f, attr) > 0:
                        setattr(f, attr, getattr(f, attr) - 1)
                        sink.count_injected(attr)
                        raise SinkError(code, msg, status)
                if f.reset > 0:
                    f.reset -= 1
                    sink.count_injected("reset")
                    return _RESET
                reset_after = False
                if f.reset_after_store > 0:
                    f.reset_after_store -= 1
                    reset_after = True
        text = body.decode("utf-8", "replace")
        replaced = text.count("\ufffd") - body.count("\ufffd".encode("utf-8"))
        try:
            req = json.loads(text) if text.strip() else {}
        except ValueError as e:
            raise SinkError("SerializationException", f"Request body is not valid JSON: {e}")
        if not isinstance(req, dict):
            raise SinkError("SerializationException", "Request body must be a JSON object")
        if op == "PutLogEvents":
            req["_replacements"] = replaced
            out = handler(req, cred)
            if reset_after:
                sink.count_injected("reset_after_store")
                return _RESET
            return out
        return handler(req, cred)

    def do_GET(self):
        self.read_body()
        self.send(404, '{"__type":"UnknownOperationException","message":"GET is not supported"}', JSON_CT,
                  {"x-amzn-RequestId": str(uuid.uuid4())})


_RESET = object()
