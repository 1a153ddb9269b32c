"""Per-instance Auto Scaling lifecycle state machine that moto 5.2.1 lacks.

moto puts every ASG instance straight into `InService` and has no lifecycle actions.  This
module models what the agent talks to (aws-apis.md section 3): a `Pending:Wait` /
`Terminating:Wait` phase with an active lifecycle action per hook, heartbeats that push the
deadline out (capped by the global timeout), `DefaultResult` on timeout, `:Proceed` after
CompleteLifecycleAction, and "No active Lifecycle Action found" errors, including an
injectable propagation race.  It does no I/O: the moto extension and the control API drive it.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, field

LAUNCHING = "autoscaling:EC2_INSTANCE_LAUNCHING"
TERMINATING = "autoscaling:EC2_INSTANCE_TERMINATING"
RESULTS = ("CONTINUE", "ABANDON")
GLOBAL_TIMEOUT_CAP = 172_800


class LifecycleError(Exception):
    """An error the Auto Scaling API answers with (code + message, HTTP 400 ValidationError)."""

    def __init__(self, message: str, code: str = "ValidationError"):
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class Hook:
    """The fields of a lifecycle hook the state machine needs."""

    name: str
    group: str
    transition: str
    heartbeat_timeout: int
    default_result: str


@dataclass
class Action:
    """An active lifecycle action: one hook waiting for CompleteLifecycleAction or its deadline."""

    hook: str
    transition: str
    token: str
    started: float
    deadline: float
    global_deadline: float
    heartbeat_timeout: float
    default_result: str
    heartbeats: int = 0

    def to_json(self, now: float) -> dict:
        return {"hook": self.hook, "transition": self.transition, "token": self.token,
                "started": self.started, "deadline": self.deadline, "global_deadline": self.global_deadline,
                "seconds_left": round(self.deadline - now, 3), "heartbeat_timeout": self.heartbeat_timeout,
                "default_result": self.default_result, "heartbeats": self.heartbeats}


@dataclass
class Instance:
    """One instance's lifecycle: its state, the active action and what happened so far."""

    instance_id: str
    group: str
    state: str
    action: Action | None = None
    proceed_at: float | None = None      # when a ':Proceed' / 'Terminating' state moves on
    proceed_to: str | None = None
    present: bool = True                 # False: DescribeAutoScalingInstances no longer lists it
    history: list = field(default_factory=list)


class LifecycleMachine:
    """Thread-safe lifecycle state for the harness's ASG instances.

    `hooks(group)` returns the group's hooks as `Hook` objects (read from moto each time, so a
    PutLifecycleHook by a test is honoured); `groups()` returns the known group names;
    `on_state(instance_id, state)` is told about every state change (the moto extension
    writes it into moto's InstanceState so Describe* calls report it).
    """

    def __init__(self, hooks, groups, on_state=None, clock=time.time):
        self._hooks = hooks
        self._groups = groups
        self._on_state = on_state or (lambda iid, state: None)
        self._clock = clock
        self._lock = threading.RLock()
        self.instances: dict[str, Instance] = {}
        self.proceed_seconds = 0.5
        self.heartbeat_timeout_override: float | None = None
        self.complete_failures = 0
        self.heartbeat_failures = 0

    # -- helpers -------------------------------------------------------------------------
    def _hook_for(self, group: str, transition: str) -> Hook | None:
        for hook in self._hooks(group):
            if hook.transition == transition:
                return hook
        return None

    def _set(self, inst: Instance, state: str, cause: str, now: float) -> None:
        if inst.state != state:
            inst.history.append({"time": now, "from": inst.state, "to": state, "cause": cause})
            inst.state = state
            self._on_state(inst.instance_id, state)

    def _start_action(self, inst: Instance, hook: Hook, now: float) -> None:
        timeout = float(self.heartbeat_timeout_override or hook.heartbeat_timeout)
        inst.action = Action(hook=hook.name, transition=hook.transition, token=str(uuid.uuid4()), started=now,
                             deadline=now + timeout,
                             global_deadline=now + min(GLOBAL_TIMEOUT_CAP, 100 * timeout),
                             heartbeat_timeout=timeout, default_result=hook.default_result)

    def _apply_result(self, inst: Instance, result: str, cause: str, now: float) -> None:
        """Finish the active action with CONTINUE/ABANDON (explicit or by timeout)."""
        action = inst.action
        inst.action = None
        if action is None:
            return
        if action.transition == LAUNCHING:
            if result == "CONTINUE":
                self._set(inst, "Pending:Proceed", cause, now)
                self._schedule(inst, "InService", now)
            else:
                # A launch ABANDON terminates the instance; the harness stops at 'Terminating'
                # (a test decides when the instance is gone) and keeps it in the history.
                self._set(inst, "Terminating", cause, now)
                inst.proceed_at = None
        else:
            # Terminate hook: both results proceed to terminate (aws-apis.md section 3.2).
            self._set(inst, "Terminating:Proceed", cause, now)
            self._schedule(inst, "Terminated", now)

    def _schedule(self, inst: Instance, to: str, now: float) -> None:
        inst.proceed_to = to
        inst.proceed_at = now + self.proceed_seconds

    def _advance(self, now: float) -> None:
        for inst in self.instances.values():
            act = inst.action
            if act is not None and now >= min(act.deadline, act.global_deadline):
                self._apply_result(inst, act.default_result, f"timeout:{act.default_result}", now)
            if inst.proceed_at is not None and now >= inst.proceed_at:
                to = inst.proceed_to
                inst.proceed_at = None
                inst.proceed_to = None
                self._set(inst, to, "proceed", now)

    def _find(self, group: str, hook_name: str, instance_id: str | None, token: str | None) -> tuple[Instance | None, Hook]:
        if group not in self._groups():
            raise LifecycleError(f"AutoScalingGroup name not found - AutoScalingGroup {group} not found")
        hook = next((h for h in self._hooks(group) if h.name == hook_name), None)
        if hook is None:
            raise LifecycleError(f"No Lifecycle Hook found with name {hook_name} for AutoScalingGroup {group}")
        inst = None
        if instance_id:
            inst = self.instances.get(instance_id)
            if inst is not None and inst.group != group:
                inst = None
        else:
            inst = next((i for i in self.instances.values()
                         if i.group == group and i.action is not None and i.action.token == token), None)
        return inst, hook

    @staticmethod
    def _no_active(instance_id: str | None, token: str | None) -> LifecycleError:
        if instance_id:
            return LifecycleError(f"No active Lifecycle Action found with instance ID {instance_id}")
        return LifecycleError(f"No active Lifecycle Action found with token {token}")

    @staticmethod
    def _validate_identity(instance_id: str | None, token: str | None) -> None:
        if not instance_id and not token:
            raise LifecycleError("Either InstanceId or LifecycleActionToken must be specified.")

    # -- API side ------------------------------------------------------------------------
    def complete(self, group: str, hook_name: str, instance_id: str | None, token: str | None,
                 result: str | None) -> dict:
        """CompleteLifecycleAction; returns {'before', 'after', 'injected'} or raises LifecycleError."""
        with self._lock:
            now = self._clock()
            self._advance(now)
            if result not in RESULTS:
                raise LifecycleError(f"Invalid LifecycleActionResult '{result}': must be one of CONTINUE, ABANDON")
            self._validate_identity(instance_id, token)
            inst, hook = self._find(group, hook_name, instance_id, token)
            if inst is None or inst.action is None or inst.action.hook != hook.name or \
                    (token and inst.action.token != token):
                raise self._no_active(instance_id, token)
            before = inst.state
            if self.complete_failures > 0:
                self.complete_failures -= 1
                err = self._no_active(instance_id, token)
                err.injected = True
                raise err
            self._apply_result(inst, result, f"complete:{result}", now)
            return {"before": before, "after": inst.state}

    def heartbeat(self, group: str, hook_name: str, instance_id: str | None, token: str | None) -> dict:
        """RecordLifecycleActionHeartbeat: push the deadline out, capped by the global timeout."""
        with self._lock:
            now = self._clock()
            self._advance(now)
            self._validate_identity(instance_id, token)
            inst, hook = self._find(group, hook_name, instance_id, token)
            if inst is None or inst.action is None or inst.action.hook != hook.name or \
                    (token and inst.action.token != token):
                raise self._no_active(instance_id, token)
            if self.heartbeat_failures > 0:
                self.heartbeat_failures -= 1
                err = self._no_active(instance_id, token)
                err.injected = True
                raise err
            act = inst.action
            act.deadline = min(now + act.heartbeat_timeout, act.global_deadline)
            act.heartbeats += 1
            return {"before": inst.state, "after": inst.state, "deadline": act.deadline}

    # -- scenario side -------------------------------------------------------------------
    def register(self, instance_id: str, group: str, state: str | None = None) -> None:
        """Start tracking an instance: `Pending:Wait` when the group has a launch hook, else InService."""
        with self._lock:
            now = self._clock()
            inst = Instance(instance_id=instance_id, group=group, state="Pending")
            self.instances[instance_id] = inst
            self._enter(inst, state or "Pending:Wait", "register", now)

    def _enter(self, inst: Instance, state: str, cause: str, now: float) -> None:
        inst.action = None
        inst.proceed_at = None
        inst.proceed_to = None
        inst.present = True
        if state == "Pending:Wait":
            hook = self._hook_for(inst.group, LAUNCHING)
            if hook is None:
                self._set(inst, "InService", cause + ":no-launch-hook", now)
                return
            self._start_action(inst, hook, now)
        elif state == "Terminating:Wait":
            hook = self._hook_for(inst.group, TERMINATING)
            if hook is None:
                self._set(inst, "Terminating:Proceed", cause + ":no-terminate-hook", now)
                self._schedule(inst, "Terminated", now)
                return
            self._start_action(inst, hook, now)
        elif state == "Pending:Proceed":
            self._schedule(inst, "InService", now)
        elif state == "Terminating:Proceed":
            self._schedule(inst, "Terminated", now)
        self._set(inst, state, cause, now)

    def set_state(self, instance_id: str, state: str | None, cause: str = "control") -> None:
        """Force a state (control API).  ':Wait' states start a fresh action; None hides the instance."""
        with self._lock:
            now = self._clock()
            inst = self.instances[instance_id]
            if state is None:
                inst.action = None
                inst.proceed_at = None
                inst.present = False
                inst.history.append({"time": now, "from": inst.state, "to": None, "cause": cause})
                return
            self._enter(inst, state, cause, now)

    def begin_termination(self, instance_id: str, cause: str = "scale-in") -> None:
        """Scale-in of one instance: `Terminating:Wait` (terminate hook) unless already terminating."""
        with self._lock:
            now = self._clock()
            self._advance(now)
            inst = self.instances[instance_id]
            if inst.state.startswith("Terminating") or inst.state == "Terminated":
                return
            self._enter(inst, "Terminating:Wait", cause, now)

    def advance(self) -> None:
        """Apply timeouts and finished ':Proceed' phases up to now."""
        with self._lock:
            self._advance(self._clock())

    def snapshot(self) -> dict:
        """JSON view of every instance (control API GET /lifecycle/state)."""
        with self._lock:
            now = self._clock()
            self._advance(now)
            return {
                "now": now,
                "proceed_seconds": self.proceed_seconds,
                "heartbeat_timeout_override": self.heartbeat_timeout_override,
                "complete_failures": self.complete_failures,
                "heartbeat_failures": self.heartbeat_failures,
                "instances": {
                    iid: {"group": i.group, "state": i.state if i.present else None,
                          "last_state": i.state, "present": i.present,
                          "action": i.action.to_json(now) if i.action else None,
                          "history": list(i.history)}
                    for iid, i in self.instances.items()},
            }

    def state_of(self, instance_id: str) -> str | None:
        with self._lock:
            self._advance(self._clock())
            inst = self.instances.get(instance_id)
            return inst.state if inst and inst.present else None

    def hidden(self) -> set[str]:
        with self._lock:
            return {iid for iid, i in self.instances.items() if not i.present}
