"""Control API of the harness: JSON over HTTP on 127.0.0.1 (routes documented in Tests/harness/README.md)."""

from __future__ import annotations

import json
import os
import time
import traceback
from urllib.parse import parse_qs, urlsplit

from .httpbase import Handler, HTTPService
from .server import parse_rfc3339, _rfc3339

ASG_STATES = {"Pending", "Pending:Wait", "Pending:Proceed", "InService", "Terminating", "Terminating:Wait",
              "Terminating:Proceed", "Terminating:Retained", "Terminated", "Detaching", "Detached",
              "EnteringStandby", "Standby", "Warmed:Pending", "Warmed:Pending:Wait", "Warmed:Pending:Proceed",
              "Warmed:Terminating", "Warmed:Terminating:Wait", "Warmed:Terminating:Proceed", "Warmed:Terminated",
              "Warmed:Stopped", "Warmed:Running", "Warmed:Hibernated"}
TARGET_STATES = {"InService", "Standby", "Detached", "Terminated", "Warmed:Hibernated", "Warmed:Running",
                 "Warmed:Stopped", "Warmed:Terminated"}


class BadRequest(Exception):
    pass


class NotFound(Exception):
    pass


class ControlAPI:
    def __init__(self, harness):
        self.h = harness
        self.service = HTTPService(ControlHandler, self, name="control")
        self.routes = {
            ("GET", "/healthz"): self.healthz,
            ("GET", "/harness"): lambda q, b: self.h.info,
            ("GET", "/fleet"): lambda q, b: self.h.fleet(),
            ("GET", "/moto/requests"): lambda q, b: self.h.moto.counter.to_json(),
            ("POST", "/moto/requests/clear"): lambda q, b: self.h.moto.counter.reset() or {"cleared": True},
            ("GET", "/imds/state"): self.imds_state,
            ("POST", "/imds/lifecycle-state"): self.imds_lifecycle_state,
            ("POST", "/imds/spot"): self.imds_spot,
            ("POST", "/imds/instance-life-cycle"): self.imds_instance_life_cycle,
            ("POST", "/imds/rebalance"): self.imds_rebalance,
            ("POST", "/imds/tags"): self.imds_tags,
            ("GET", "/imds/credentials"): lambda q, b: self.h.imds.credentials_info(),
            ("POST", "/imds/credentials"): self.imds_credentials,
            ("GET", "/imds/faults"): lambda q, b: self.h.imds.faults.to_json(),
            ("POST", "/imds/faults"): self.imds_faults,
            ("GET", "/imds/requests"): self.imds_requests,
            ("POST", "/imds/requests/clear"): self.imds_requests_clear,
            ("GET", "/lifecycle/calls"): self.lifecycle_calls,
            ("POST", "/lifecycle/calls/clear"): self.lifecycle_calls_clear,
            ("GET", "/lifecycle/state"): lambda q, b: self.h.machine.snapshot(),
            ("POST", "/lifecycle/state"): self.lifecycle_state,
            ("POST", "/lifecycle/race"): self.lifecycle_race,
            ("POST", "/lifecycle/config"): self.lifecycle_config,
            ("GET", "/policy"): self.policy_get,
            ("POST", "/policy/remove"): self.policy_remove,
            ("POST", "/policy/restore"): lambda q, b: self.h.set_removed_sids([]),
            ("GET", "/sink/events"): self.sink_events,
            ("GET", "/sink/stats"): lambda q, b: self._sink().stats_json(),
            ("POST", "/sink/faults"): self.sink_faults,
            ("GET", "/sink/quota"): lambda q, b: self._sink().quota.to_json(),
            ("POST", "/sink/quota"): self.sink_quota,
            ("POST", "/sink/delete"): self.sink_delete,
            ("POST", "/sink/reset"): self.sink_reset,
        }

    def start(self):
        self.service.start()

    def stop(self):
        self.service.stop()

    @property
    def url(self) -> str:
        return self.service.url

    # -- generic -------------------------------------------------------------------------
    def healthz(self, q, b):
        return {"ok": True, "pid": os.getpid(), "uptime": round(time.time() - self.h.started, 3),
                "imds_listening": self.h.imds.service.listening, "sink": self.h.sink is not None}

    @staticmethod
    def _obj(body) -> dict:
        if body is None:
            return {}
        if not isinstance(body, dict):
            raise BadRequest("body must be a JSON object")
        return body

    # -- IMDS ----------------------------------------------------------------------------
    def imds_state(self, q, b):
        i = self.h.imds
        return {"target_lifecycle_state": i.target_lifecycle_state, "spot": i.spot_action,
                "rebalance": i.rebalance, "tags_enabled": i.tags_enabled, "credentials": i.credentials_info(),
                "faults": i.faults.to_json(), "tokens_live": len(i.tokens), "listening": i.service.listening}

    def imds_lifecycle_state(self, q, body):
        body = self._obj(body)
        state = body.get("state")
        if state is not None and state not in TARGET_STATES:
            raise BadRequest(f"state must be null or one of {sorted(TARGET_STATES)}")
        try:
            return self.h.set_target_lifecycle_state(state, body.get("instance_id"))
        except KeyError as e:
            raise NotFound(str(e.args[0]))

    def imds_instance_life_cycle(self, q, body):
        value = self._obj(body).get("value")
        if value not in ("spot", "on-demand", "scheduled"):
            raise BadRequest("value must be spot, on-demand or scheduled")
        self.h.imds.instance_life_cycle = value
        return {"instance-life-cycle": value}

    def imds_spot(self, q, body):
        if body is None or (isinstance(body, dict) and body.get("action") is None):
            self.h.imds.spot_action = None
            return {"spot": None}
        body = self._obj(body)
        if body["action"] not in ("terminate", "stop", "hibernate"):
            raise BadRequest("action must be terminate, stop or hibernate")
        when = body.get("time") or _rfc3339(_utc_in(120))
        parse_rfc3339(when)
        self.h.imds.spot_action = {"action": body["action"], "time": when}
        return {"spot": self.h.imds.spot_action}

    def imds_rebalance(self, q, body):
        if body is None or (isinstance(body, dict) and body.get("clear")):
            self.h.imds.rebalance = None
            return {"rebalance": None}
        body = self._obj(body)
        when = body.get("noticeTime") or _rfc3339(_utc_in(0))
        parse_rfc3339(when)
        self.h.imds.rebalance = {"noticeTime": when}
        return {"rebalance": self.h.imds.rebalance}

    def imds_tags(self, q, body):
        body = self._obj(body)
        if "enabled" not in body:
            raise BadRequest("expected {\"enabled\": true|false}")
        self.h.imds.tags_enabled = bool(body["enabled"])
        return {"tags_enabled": self.h.imds.tags_enabled}

    def imds_credentials(self, q, body):
        body = self._obj(body)
        i = self.h.imds
        if body.get("rotate"):
            i.rotate_credentials()
        with i.lock:
            if "expiration" in body:
                exp = body["expiration"]
                if exp is not None:
                    exp = _rfc3339(parse_rfc3339(exp))
                i.creds_expiration_override = exp
            if "expires_in" in body:
                i.creds_expiration_override = _rfc3339(_utc_in(float(body["expires_in"])))
            if "code" in body:
                i.creds_code = body["code"] or "Success"
        return i.credentials_info()

    def imds_faults(self, q, body):
        try:
            return self.h.imds.set_fault_state(self._obj(body))
        except ValueError as e:
            raise BadRequest(str(e))

    def imds_requests(self, q, b):
        since = int(q.get("since", ["0"])[0])
        try:
            imds = self.h.imds_of(q.get("instance_id", [None])[0])
        except KeyError as e:
            raise NotFound(str(e.args[0]))
        with imds.lock:
            reqs = [r for r in imds.requests if r["seq"] > since]
        return {"requests": reqs, "last_seq": imds.request_seq}

    def imds_requests_clear(self, q, b):
        with self.h.imds.lock:
            self.h.imds.requests.clear()
        return {"cleared": True, "last_seq": self.h.imds.request_seq}

    # -- lifecycle -----------------------------------------------------------------------
    def lifecycle_calls(self, q, b):
        calls = self.h.recorder.list()
        if "action" in q:
            calls = [c for c in calls if c["action"] == q["action"][0]]
        return {"calls": calls}

    def lifecycle_calls_clear(self, q, b):
        self.h.recorder.clear()
        return {"cleared": True}

    def lifecycle_state(self, q, body):
        body = self._obj(body)
        if "state" not in body:
            raise BadRequest("expected {\"state\": <LifecycleState>|null}")
        state = body["state"]
        if state is not None and state not in ASG_STATES:
            raise BadRequest(f"unknown LifecycleState {state!r}")
        iid = body.get("instance_id") or self.h.instance_id
        if iid not in self.h.machine.instances:
            raise NotFound(f"instance {iid} is not tracked")
        self.h.machine.set_state(iid, state)
        return self.h.machine.snapshot()["instances"][iid]

    def lifecycle_race(self, q, body):
        body = self._obj(body)
        m = self.h.machine
        with m._lock:
            if "complete_failures" in body:
                m.complete_failures = int(body["complete_failures"])
            if "heartbeat_failures" in body:
                m.heartbeat_failures = int(body["heartbeat_failures"])
            return {"complete_failures": m.complete_failures, "heartbeat_failures": m.heartbeat_failures}

    def lifecycle_config(self, q, body):
        body = self._obj(body)
        m = self.h.machine
        with m._lock:
            if "proceed_seconds" in body:
                m.proceed_seconds = float(body["proceed_seconds"])
            if "heartbeat_timeout" in body:
                v = body["heartbeat_timeout"]
                m.heartbeat_timeout_override = float(v) if v else None
                now = time.time()
                for inst in m.instances.values():  # re-arm running actions with the new timeout
                    a = inst.action
                    if a is not None:
                        t = m.heartbeat_timeout_override or a.heartbeat_timeout
                        a.heartbeat_timeout = t
                        a.deadline = now + t
                        a.global_deadline = a.started + min(172_800, 100 * t)
            return {"proceed_seconds": m.proceed_seconds, "heartbeat_timeout": m.heartbeat_timeout_override}

    # -- policy --------------------------------------------------------------------------
    def policy_get(self, q, b):
        return {"removed_sids": self.h.removed_sids, "effective": self.h.effective_policy(),
                "source": self.h.policy_path}

    def policy_remove(self, q, body):
        body = self._obj(body)
        sids = body.get("sids")
        if not isinstance(sids, list) or not all(isinstance(s, str) for s in sids):
            raise BadRequest("expected {\"sids\": [\"Sid\", ...]}")
        try:
            return self.h.set_removed_sids(sids)
        except ValueError as e:
            raise BadRequest(str(e))

    # -- sink ----------------------------------------------------------------------------
    def _sink(self):
        if self.h.sink is None:
            raise NotFound("the sink is not running (start the harness with --sink)")
        return self.h.sink

    def sink_events(self, q, b):
        group = q.get("group", [self.h.cfg["log_group"]])[0]
        stream = q.get("stream", [None])[0]
        return self._sink().events(group, stream)

    def sink_faults(self, q, body):
        try:
            return self._sink().set_faults(self._obj(body))
        except ValueError as e:
            raise BadRequest(str(e))

    def sink_quota(self, q, body):
        try:
            return self._sink().set_quota(None if body is None else self._obj(body))
        except (ValueError, TypeError) as e:
            raise BadRequest(str(e))

    def sink_delete(self, q, body):
        body = self._obj(body)
        if not body.get("group"):
            raise BadRequest("expected {\"group\": ..., \"stream\": ...|null}")
        try:
            return self._sink().delete(body["group"], body.get("stream"))
        except KeyError as e:
            raise NotFound(str(e.args[0]))

    def sink_reset(self, q, b):
        self._sink().reset()
        return {"reset": True}


def _utc_in(seconds: float):
    import datetime as dt
    return dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=seconds)


class ControlHandler(Handler):
    def _serve(self):
        api: ControlAPI = self.server.owner
        url = urlsplit(self.path)
        raw = self.read_body()
        route = api.routes.get((self.command, url.path.rstrip("/") or "/"))
        if route is None:
            known = sorted({p for (_, p) in api.routes})
            self.send_json(404, {"error": f"no route {self.command} {url.path}", "routes": known})
            return
        try:
            body = json.loads(raw) if raw.strip() else None
        except ValueError as e:
            self.send_json(400, {"error": f"body is not JSON: {e}"})
            return
        try:
            out = route(parse_qs(url.query), body)
        except BadRequest as e:
            self.send_json(400, {"error": str(e)})
            return
        except NotFound as e:
            self.send_json(404, {"error": str(e)})
            return
        except Exception as e:
            self.send_json(500, {"error": f"{type(e).__name__}: {e}", "trace": traceback.format_exc()})
            return
        self.send_json(200, out)

    do_GET = do_POST = _serve
