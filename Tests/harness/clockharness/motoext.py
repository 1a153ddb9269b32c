"""In-process moto server with the Auto Scaling lifecycle calls moto 5.2.1 lacks.

moto answers CompleteLifecycleAction and RecordLifecycleActionHeartbeat with HTTP 500
NotImplementedError.  moto's Query dispatcher looks handlers up by the snake-case action name
on the response class (`method_names_from_class`), after its normal SigV4 + IAM check in
`BaseResponse.call_action`.  So attaching `complete_lifecycle_action` and
`record_lifecycle_action_heartbeat` to `AutoScalingResponse` makes both calls behave like
built-in ones, including AccessDenied for a caller whose policy lacks the action.

The handlers delegate to `lifecycle.LifecycleMachine`.  `DescribeAutoScalingInstances` is
wrapped to apply pending timeouts first (the machine writes its state into moto's
InstanceState objects) and to hide instances a test removed from the group.  `call_action` is
wrapped to record every CompleteLifecycleAction, RecordLifecycleActionHeartbeat and
SetInstanceHealth (SetInstanceHealth itself stays moto's own implementation).
"""

from __future__ import annotations

import io
import re
import threading
import time

from urllib.parse import parse_qs, urlsplit

from moto.autoscaling.exceptions import ValidationError
from moto.autoscaling.responses import AutoScalingResponse
from moto.core.authorization import ActionAuthenticatorMixin
from moto.core.responses import ActionResult, EmptyResult
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import make_server

from .lifecycle import LifecycleError

RECORDED_ACTIONS = ("CompleteLifecycleAction", "RecordLifecycleActionHeartbeat", "SetInstanceHealth")


class Recorder:
    """Every recorded lifecycle/health call, in arrival order (control API GET /lifecycle/calls)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.calls: list[dict] = []

    def add(self, call: dict) -> None:
        with self.lock:
            call["seq"] = len(self.calls) + 1
            self.calls.append(call)

    def list(self) -> list[dict]:
        with self.lock:
            return [dict(c) for c in self.calls]

    def clear(self) -> None:
        with self.lock:
            self.calls.clear()


class _Context:
    machine = None
    recorder: Recorder | None = None


CTX = _Context()


def _qs(resp, key):
    value = resp.querystring.get(key)
    if isinstance(value, list):
        return value[0] if value else None
    return value


def _lifecycle_params(resp):
    return (_qs(resp, "AutoScalingGroupName"), _qs(resp, "LifecycleHookName"), _qs(resp, "InstanceId"),
            _qs(resp, "LifecycleActionToken"))


def complete_lifecycle_action(self):
    """CompleteLifecycleAction (Query API 2011-01-01), backed by the harness state machine."""
    group, hook, iid, token = _lifecycle_params(self)
    result = _qs(self, "LifecycleActionResult")
    note = self.__dict__.setdefault("_clock_note", {})
    note["state_before"] = CTX.machine.state_of(iid) if iid else None
    try:
        out = CTX.machine.complete(group, hook, iid, token, result)
    except LifecycleError as e:
        note["injected"] = getattr(e, "injected", False)
        note["state_after"] = CTX.machine.state_of(iid) if iid else None
        raise ValidationError(e.message)
    note["state_after"] = out["after"]
    return EmptyResult()


def record_lifecycle_action_heartbeat(self):
    """RecordLifecycleActionHeartbeat: restarts the hook's heartbeat timeout."""
    group, hook, iid, token = _lifecycle_params(self)
    note = self.__dict__.setdefault("_clock_note", {})
    note["state_before"] = CTX.machine.state_of(iid) if iid else None
    try:
        out = CTX.machine.heartbeat(group, hook, iid, token)
    except LifecycleError as e:
        note["injected"] = getattr(e, "injected", False)
        note["state_after"] = note["state_before"]
        raise ValidationError(e.message)
    note["state_after"] = out["after"]
    note["deadline"] = out["deadline"]
    return EmptyResult()


def describe_auto_scaling_instances(self):
    """moto's DescribeAutoScalingInstances, with the harness lifecycle states and hidden instances removed."""
    CTX.machine.advance()
    hidden = CTX.machine.hidden()
    states = self.autoscaling_backend.describe_auto_scaling_instances(
        instance_ids=self._get_param("InstanceIds", []))
    return ActionResult({"AutoScalingInstances": [s for s in states if s.instance.id not in hidden]})


_original_call_action = AutoScalingResponse.call_action


def call_action(self):
    """Record the three lifecycle/health calls (including ones IAM denies), then answer as moto would."""
    action = self._get_action()
    if action not in RECORDED_ACTIONS or CTX.recorder is None:
        return _original_call_action(self)
    started = time.time()
    self._clock_note = {}
    status, outcome, message = 500, "InternalFailure", None
    try:
        status, headers, body = _original_call_action(self)
    except Exception as e:  # moto raises e.g. StopIteration/ValueError for bad SetInstanceHealth input
        message = f"{type(e).__name__}: {e}"
        raise
    else:
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body or "")
        status = int(status)
        if status < 400:
            outcome = "OK"
        else:
            m = re.search(r"<Code>(.*?)</Code>", text)
            outcome = m.group(1) if m else f"HTTP{status}"
            mm = re.search(r"<Message>(.*?)</Message>", text, re.S)
            message = mm.group(1) if mm else None
        return status, headers, body
    finally:
        grace = _qs(self, "ShouldRespectGracePeriod")
        call = {
            "action": action, "time": started, "group": _qs(self, "AutoScalingGroupName"),
            "hook": _qs(self, "LifecycleHookName"), "instance_id": _qs(self, "InstanceId"),
            "token": _qs(self, "LifecycleActionToken"), "result": _qs(self, "LifecycleActionResult"),
            "health_status": _qs(self, "HealthStatus"),
            "should_respect_grace_period": None if grace is None else grace.lower() == "true",
            "status": status, "outcome": outcome, "message": message,
            "access_key_id": getattr(self, "access_key", None),
        }
        call.update(self._clock_note)
        call.setdefault("injected", False)
        CTX.recorder.add(call)


def _authenticate_with_raw_uri(original):
    """Verify signatures against the path as it was sent.

    moto rebuilds the request URL from werkzeug's decoded path, so an S3 key with `+`, `%` or non-ASCII characters
    is signed by the client over `%2B`/`%25`/`%E1…` but checked by moto over the decoded characters, and every
    correct signature fails (botocore's own PutObject gets SignatureDoesNotMatch). AWS checks the wire form; so do
    we, by handing moto the raw request URI the WSGI server recorded.
    """

    def authenticate(self, iam_request_cls, resource="*"):
        environ = getattr(getattr(self, "request", None), "environ", None) or {}
        raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
        if not raw or not getattr(self, "uri", None):
            return original(self, iam_request_cls, resource)
        parts = urlsplit(self.uri)
        saved = self.uri
        self.uri = f"{parts.scheme}://{parts.netloc}{raw}"
        try:
            return original(self, iam_request_cls, resource)
        finally:
            self.uri = saved

    return authenticate


_installed = False


def install(machine, recorder: Recorder) -> None:
    """Attach the handlers to moto's AutoScalingResponse (idempotent) and point them at `machine`."""
    global _installed
    CTX.machine = machine
    CTX.recorder = recorder
    if _installed:
        return
    AutoScalingResponse.complete_lifecycle_action = complete_lifecycle_action
    AutoScalingResponse.record_lifecycle_action_heartbeat = record_lifecycle_action_heartbeat
    AutoScalingResponse.describe_auto_scaling_instances = describe_auto_scaling_instances
    AutoScalingResponse.call_action = call_action
    ActionAuthenticatorMixin._authenticate_and_authorize_action = _authenticate_with_raw_uri(
        ActionAuthenticatorMixin._authenticate_and_authorize_action)
    _installed = True


_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/[^/]+/[^/]+/([^/]+)/")


class RequestCounter:
    """WSGI middleware counting moto's requests per service and action, per access key id and per second (control
    API GET /moto/requests): how many control-plane calls a fleet of agents makes, and how long moto took."""

    def __init__(self, app, clock=time.time):
        self.app = app
        self.clock = clock
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.total = 0
            self.by_action: dict[str, int] = {}
            self.by_key: dict[str, dict[str, int]] = {}
            self.timeline: dict[int, int] = {}
            self.busy = 0.0

    @staticmethod
    def classify(environ) -> tuple[str, str | None]:
        """("service:Action", access key id) of a request; the form body is read and put back for moto."""
        m = _CREDENTIAL.search(environ.get("HTTP_AUTHORIZATION", ""))
        service = m.group(2) if m else ("moto-api" if environ.get("PATH_INFO", "").startswith("/moto-api") else "?")
        akid = m.group(1) if m else None
        target = environ.get("HTTP_X_AMZ_TARGET")
        action = target.rsplit(".", 1)[-1] if target else None
        if action is None:
            action = (parse_qs(environ.get("QUERY_STRING", "")).get("Action") or [None])[0]
        if action is None and environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded"):
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(length) if length > 0 else b""
            environ["wsgi.input"] = io.BytesIO(body)
            action = (parse_qs(body.decode("utf-8", "replace")).get("Action") or [None])[0]
        if action is None:
            action = environ.get("REQUEST_METHOD", "?")
        return f"{service}:{action}", akid

    def __call__(self, environ, start_response):
        started = time.monotonic()
        key, akid = self.classify(environ)
        try:
            return self.app(environ, start_response)
        finally:
            spent = time.monotonic() - started
            with self.lock:
                self.total += 1
                self.busy += spent
                self.by_action[key] = self.by_action.get(key, 0) + 1
                if akid:
                    per = self.by_key.setdefault(akid, {})
                    per[key] = per.get(key, 0) + 1
                sec = int(self.clock())
                self.timeline[sec] = self.timeline.get(sec, 0) + 1

    def to_json(self) -> dict:
        with self.lock:
            return {"total": self.total, "busy_seconds": round(self.busy, 3), "by_action": dict(self.by_action),
                    "by_key": {k: dict(v) for k, v in self.by_key.items()},
                    "timeline": [{"second": s, "requests": n} for s, n in sorted(self.timeline.items())]}


class MotoServer:
    """moto's WSGI app (the same one `moto_server` builds) served threaded on 127.0.0.1, its requests counted."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0):
        self.counter = RequestCounter(DomainDispatcherApplication(create_backend_app))
        self.app = self.counter
        self.server = make_server(host, port, self.app, threaded=True)
        self.port = self.server.server_port
        self.thread = threading.Thread(target=self.server.serve_forever, name="moto", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)
