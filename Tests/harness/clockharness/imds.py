"""IMDSv2-only fake of the EC2 instance metadata service (aws-apis.md section 2, test-environment.md section 3).

Listens on 127.0.0.1 only; the agent finds it through AWS_EC2_METADATA_SERVICE_ENDPOINT.
Every GET needs a valid token from `PUT /latest/api/token` (v2-only: no token -> 401).
Scenario state (target lifecycle state, spot notice, rebalance, tags, credentials) and faults
are set through the control API; every request is logged for assertions.
"""

from __future__ import annotations

import collections
import datetime as dt
import json
import secrets
import threading
import time

from .httpbase import AbortConnection, Handler, HTTPService

TTL_HEADER = "X-aws-ec2-metadata-token-ttl-seconds"
TOKEN_HEADER = "X-aws-ec2-metadata-token"
MAX_TTL = 21600


def rfc3339(t: dt.datetime) -> str:
    return t.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class IMDSFaults:
    """Fault injection settings (control API POST /imds/faults)."""

    def __init__(self):
        self.clear()

    def clear(self):
        self.token_delay_ms = 0
        self.get_delay_ms = 0
        self.error_500 = 0
        self.error_500_prefix: str | None = None
        self.down: str | None = None          # reset | close | hang | refuse
        self.down_until: float | None = None  # monotonic; None = until cleared
        self.token_403 = False
        self.token_404 = False

    def to_json(self) -> dict:
        left = None
        if self.down and self.down_until is not None:
            left = max(0.0, round(self.down_until - time.monotonic(), 3))
        return {"token_delay_ms": self.token_delay_ms, "get_delay_ms": self.get_delay_ms,
                "error_500": self.error_500, "error_500_prefix": self.error_500_prefix,
                "down": self.down, "down_seconds_left": left,
                "token_403": self.token_403, "token_404": self.token_404}


class IMDS:
    """State and behaviour of the fake; `assume_role()` returns fresh role credentials."""

    def __init__(self, *, instance_id: str, region: str, az: str, az_id: str, account: str, role: str,
                 instance_profile_arn: str, instance_profile_id: str, asg: str, instance_type: str,
                 image_id: str, private_ip: str, assume_role, on_target_state=None):
        self.lock = threading.RLock()
        self.instance_id = instance_id
        self.region = region
        self.az = az
        self.az_id = az_id
        self.account = account
        self.role = role
        self.instance_profile_arn = instance_profile_arn
        self.instance_profile_id = instance_profile_id
        self.asg = asg
        self.instance_type = instance_type
        self.image_id = image_id
        self.private_ip = private_ip
        self.pending_time = rfc3339(utcnow())
        self._assume_role = assume_role
        self.on_target_state = on_target_state
        self.tokens: dict[str, float] = {}      # token -> monotonic expiry
        self.target_lifecycle_state: str | None = None
        self.spot_action: dict | None = None
        self.instance_life_cycle = "on-demand"  # "spot" on spot instances
        self.rebalance: dict | None = None
        self.tags_enabled = True
        self.extra_tags = {"Name": "clock-node"}
        self.user_data: str | None = None
        self.creds: dict = {}
        self.creds_code = "Success"
        self.creds_expiration_override: str | None = None
        self.creds_last_updated = rfc3339(utcnow())
        self.faults = IMDSFaults()
        self.requests: collections.deque = collections.deque(maxlen=20000)
        self.request_seq = 0
        self.service = HTTPService(IMDSHandler, self, name="imds")
        self.stopped = False
        # The fleet's other instances, each with its own port, tokens, state and request log.
        self.members: dict[str, "IMDS"] = {}
        self.rotate_credentials()

    # -- lifecycle -----------------------------------------------------------------------
    def start(self):
        self.service.start()

    @property
    def url(self) -> str:
        return self.service.url + "/"

    def add_member(self, member: "IMDS") -> None:
        """Starts the fake of another instance of the fleet on a port of its own (like the real IMDS, each
        instance's metadata service is at the root of its own address)."""
        member.service.poll_interval = 0.5  # a fleet of idle accept loops should not wake 20 times a second each
        member.start()
        with self.lock:
            self.members[member.instance_id] = member

    def stop(self):
        # In parallel: each accept loop takes up to its poll interval to notice the shutdown.
        stoppers = [threading.Thread(target=m.stop, daemon=True) for m in list(self.members.values())]
        for t in stoppers:
            t.start()
        for t in stoppers:
            t.join(10)
        self.stopped = True
        self.service.stop()

    # -- scenario ------------------------------------------------------------------------
    def rotate_credentials(self) -> dict:
        """Issue new sts:AssumeRole credentials for the role (old ones stay valid in moto)."""
        creds = self._assume_role()
        with self.lock:
            self.creds = creds
            self.creds_last_updated = rfc3339(utcnow())
            return self.credentials_info()

    def credentials_info(self) -> dict:
        with self.lock:
            return {"AccessKeyId": self.creds["AccessKeyId"], "Expiration": self.current_expiration(),
                    "RealExpiration": self.creds["Expiration"], "Code": self.creds_code,
                    "LastUpdated": self.creds_last_updated}

    def current_expiration(self) -> str:
        return self.creds_expiration_override or self.creds["Expiration"]

    def credentials_document(self) -> dict:
        with self.lock:
            if self.creds_code != "Success":
                return {"Code": self.creds_code, "Message": f"Instance profile credentials unavailable ({self.creds_code})",
                        "LastUpdated": self.creds_last_updated}
            return {"Code": "Success", "LastUpdated": self.creds_last_updated, "Type": "AWS-HMAC",
                    "AccessKeyId": self.creds["AccessKeyId"], "SecretAccessKey": self.creds["SecretAccessKey"],
                    "Token": self.creds["SessionToken"], "Expiration": self.current_expiration()}

    def set_fault_state(self, body: dict) -> dict:
        with self.lock:
            f = self.faults
            if body.get("clear"):
                f.clear()
                if not self.service.listening:
                    self.service.start()
            for key in ("token_delay_ms", "get_delay_ms", "error_500"):
                if key in body:
                    setattr(f, key, int(body[key] or 0))
            if "error_500_prefix" in body:
                f.error_500_prefix = body["error_500_prefix"]
            for key in ("token_403", "token_404"):
                if key in body:
                    setattr(f, key, bool(body[key]))
            if body.get("expire_tokens"):
                self.tokens.clear()
            if "down" in body:
                mode = body["down"]
                if mode not in (None, "reset", "close", "hang", "refuse"):
                    raise ValueError("down must be one of reset, close, hang, refuse or null")
                f.down = mode
                secs = body.get("down_seconds")
                f.down_until = time.monotonic() + float(secs) if (mode and secs) else None
                if mode == "refuse":
                    self.service.stop()
                    if f.down_until is not None:
                        timer = threading.Timer(float(secs), self._restore_after_refuse)
                        timer.daemon = True
                        timer.start()
                elif not self.service.listening and not self.stopped:
                    self.service.start()
            return f.to_json()

    def _restore_after_refuse(self):
        if self.stopped:
            return
        with self.lock:
            if self.faults.down == "refuse" and self.faults.down_until is not None \
                    and time.monotonic() >= self.faults.down_until - 0.01:
                self.faults.down = None
                self.faults.down_until = None
        if not self.service.listening:
            self.service.start()

    def _down_mode(self) -> str | None:
        f = self.faults
        if f.down and f.down_until is not None and time.monotonic() >= f.down_until:
            f.down, f.down_until = None, None
        return f.down

    # -- request log ---------------------------------------------------------------------
    def log(self, method: str, path: str, token_state: str, status, ttl=None, note=None) -> None:
        with self.lock:
            self.request_seq += 1
            self.requests.append({"seq": self.request_seq, "time": time.time(), "method": method, "path": path,
                                  "token": token_state, "token_valid": token_state == "valid",
                                  "status": status, "ttl": ttl, "note": note})

    # -- metadata tree -------------------------------------------------------------------
    def tree(self) -> dict:
        """The metadata as nested dicts; a leaf is str (text) or dict/list (JSON)."""
        iam_info = {"Code": "Success", "LastUpdated": self.creds_last_updated,
                    "InstanceProfileArn": self.instance_profile_arn, "InstanceProfileId": self.instance_profile_id}
        meta: dict = {
            "ami-id": self.image_id,
            "ami-launch-index": "0",
            "hostname": self.local_hostname(),
            "instance-id": self.instance_id,
            "instance-life-cycle": self.instance_life_cycle,
            "instance-type": self.instance_type,
            "local-hostname": self.local_hostname(),
            "local-ipv4": self.private_ip,
            "mac": "0e:12:34:56:78:9a",
            "placement": {"availability-zone": self.az, "availability-zone-id": self.az_id,
                          "region": self.region},
            "iam": {"info": iam_info, "security-credentials": {self.role: self.credentials_document()}},
            "services": {"domain": "amazonaws.com", "partition": "aws"},
        }
        if self.tags_enabled:
            meta["tags"] = {"instance": {"aws:autoscaling:groupName": self.asg, **self.extra_tags}}
        if self.target_lifecycle_state is not None:
            meta["autoscaling"] = {"target-lifecycle-state": self.target_lifecycle_state}
        if self.spot_action is not None:
            meta["spot"] = {"instance-action": self.spot_action, "termination-time": self.spot_action["time"]}
        if self.rebalance is not None:
            meta["events"] = {"recommendations": {"rebalance": self.rebalance}}
        identity = {"accountId": self.account, "architecture": "x86_64", "availabilityZone": self.az,
                    "billingProducts": None, "devpayProductCodes": None, "marketplaceProductCodes": None,
                    "imageId": self.image_id, "instanceId": self.instance_id, "instanceType": self.instance_type,
                    "kernelId": None, "pendingTime": self.pending_time, "privateIp": self.private_ip,
                    "ramdiskId": None, "region": self.region, "version": "2017-09-30"}
        latest: dict = {"meta-data": meta, "dynamic": {"instance-identity": {"document": identity}}}
        if self.user_data is not None:
            latest["user-data"] = self.user_data
        return {"latest": latest}

    def local_hostname(self) -> str:
        return "ip-" + self.private_ip.replace(".", "-") + ".ec2.internal"

    def lookup(self, path: str):
        """(status, body, content_type) for a GET path."""
        node = self.tree()
        parts = [p for p in path.split("/") if p]
        for part in parts:
            if isinstance(node, dict) and part in node:
                node = node[part]
            else:
                return 404, NOT_FOUND_BODY, "text/html"
        if _is_dir(node):
            names = sorted(k + "/" if _is_dir(node[k]) else k for k in node)
            return 200, "\n".join(names), "text/plain"
        if isinstance(node, (dict, list)):
            return 200, json.dumps(node, indent=2), "text/plain"
        if node is None:
            return 404, NOT_FOUND_BODY, "text/html"
        return 200, str(node), "text/plain"


def _is_dir(node) -> bool:
    """A dict is a directory unless it is a JSON leaf (credentials, identity, notices)."""
    if not isinstance(node, dict):
        return False
    json_leaf_keys = {"Code", "action", "noticeTime", "accountId"}
    return not (json_leaf_keys & set(node))


NOT_FOUND_BODY = ('<?xml version="1.0" encoding="iso-8859-1"?>\n<!DOCTYPE html>\n<html><head><title>404 - Not Found'
                  '</title></head><body><h1>404 - Not Found</h1></body></html>\n')
UNAUTHORIZED_BODY = ('<?xml version="1.0" encoding="iso-8859-1"?>\n<!DOCTYPE html>\n<html><head><title>401 - '
                     'Unauthorized</title></head><body><h1>401 - Unauthorized</h1></body></html>\n')


class IMDSHandler(Handler):
    server_version = "EC2ws"

    @property
    def imds(self) -> IMDS:
        return self.server.owner

    def _path(self) -> str:
        return self.path.split("?", 1)[0]

    def _connection_faults(self, method: str, path: str, token_state: str) -> None:
        imds = self.imds
        with imds.lock:
            mode = imds._down_mode()
            if mode in ("reset", "close", "hang", "refuse"):
                imds.log(method, path, token_state, mode if mode != "refuse" else "reset", note="down")
                self.close_connection = True
                if mode == "hang":
                    raise AbortConnection("hang", until=lambda: imds._down_mode() == "hang")
                raise AbortConnection("reset" if mode == "refuse" else mode)

    def _maybe_500(self, method: str, path: str, token_state: str) -> bool:
        imds = self.imds
        with imds.lock:
            f = imds.faults
            if f.error_500 > 0 and (not f.error_500_prefix or path.startswith(f.error_500_prefix)):
                f.error_500 -= 1
                imds.log(method, path, token_state, 500, note="injected")
                hit = True
            else:
                hit = False
        if hit:
            self.send(500, "Internal Server Error\n", "text/plain")
        return hit

    def _delay(self, ms: int) -> None:
        end = time.monotonic() + ms / 1000.0
        while time.monotonic() < end and not getattr(self.server, "stopping", False):
            time.sleep(min(0.05, max(0.0, end - time.monotonic())))

    def _token_state(self) -> str:
        token = self.headers.get(TOKEN_HEADER)
        if token is None:
            return "missing"
        with self.imds.lock:
            exp = self.imds.tokens.get(token)
            if exp is None:
                return "invalid"
            if time.monotonic() >= exp:
                self.imds.tokens.pop(token, None)
                return "expired"
            return "valid"

    def do_PUT(self):
        path = self._path()
        self.read_body()
        imds = self.imds
        self._connection_faults("PUT", path, "n/a")
        if path != "/latest/api/token":
            imds.log("PUT", path, "n/a", 405)
            self.send(405, "Method Not Allowed\n")
            return
        if self._maybe_500("PUT", path, "n/a"):
            return
        f = imds.faults
        if f.token_delay_ms:
            self._delay(f.token_delay_ms)
        if f.token_403:
            imds.log("PUT", path, "n/a", 403, note="imds-disabled")
            self.send(403, "Forbidden\n")
            return
        if f.token_404:
            imds.log("PUT", path, "n/a", 404, note="no-v2")
            self.send(404, NOT_FOUND_BODY, "text/html")
            return
        if self.headers.get("X-Forwarded-For") is not None:
            imds.log("PUT", path, "n/a", 403, note="x-forwarded-for")
            self.send(403, "Forbidden\n")
            return
        raw = self.headers.get(TTL_HEADER)
        try:
            ttl = int(raw) if raw is not None and raw.strip().lstrip("-").isdigit() else None
        except ValueError:
            ttl = None
        if ttl is None or not (1 <= ttl <= MAX_TTL):
            imds.log("PUT", path, "n/a", 400, ttl=raw)
            self.send(400, "Bad Request\n")
            return
        token = "AQAEA" + secrets.token_urlsafe(42)
        with imds.lock:
            now = time.monotonic()
            for t, exp in list(imds.tokens.items()):
                if exp <= now:
                    del imds.tokens[t]
            imds.tokens[token] = now + ttl
        imds.log("PUT", path, "n/a", 200, ttl=ttl)
        self.send(200, token, "text/plain", {TTL_HEADER: ttl})

    def do_GET(self):
        path = self._path()
        self.read_body()
        imds = self.imds
        token_state = self._token_state()
        self._connection_faults("GET", path, token_state)
        if self._maybe_500("GET", path, token_state):
            return
        if imds.faults.get_delay_ms:
            self._delay(imds.faults.get_delay_ms)
        if path == "/latest/api/token":
            imds.log("GET", path, token_state, 405)
            self.send(405, "Method Not Allowed\n")
            return
        if token_state != "valid":
            imds.log("GET", path, token_state, 401)
            self.send(401, UNAUTHORIZED_BODY, "text/html")
            return
        with imds.lock:
            status, body, ctype = imds.lookup(path)
            remaining = int(max(0, imds.tokens.get(self.headers.get(TOKEN_HEADER), 0) - time.monotonic()))
        imds.log("GET", path, token_state, status)
        self.send(status, body, ctype, {TTL_HEADER: remaining})

    def do_HEAD(self):
        self.do_GET()

    def _not_allowed(self):
        path = self._path()
        self.read_body()
        self.imds.log(self.command, path, "n/a", 405)
        self.send(405, "Method Not Allowed\n")

    do_POST = do_DELETE = do_PATCH = _not_allowed
