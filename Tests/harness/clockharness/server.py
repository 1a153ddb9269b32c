"""The harness process: moto (extended) + IMDS fake + control API [+ strict CloudWatch Logs sink].

`python3 Tests/harness/run.py up --workdir DIR` runs `HarnessServer` in the foreground.  All
servers live in this one process and listen on 127.0.0.1 only, each on a free port (bound to
port 0).  Fixtures are created with moto's IAM checks off, then IAM checks are switched on.
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import json
import logging
import os
import secrets
import threading
import time
import urllib.request

DEFAULTS = {
    "region": "us-east-1",
    "account": "123456789012",
    "bucket": "webclock-bucket",
    "instance_id": "i-0123456789abcdef0",
    "az": "us-east-1a",
    "az_id": "use1-az1",
    "asg": "clock-asg",
    "launch_template": "clock-lt",
    "launch_hook": "clock-launch",
    "terminate_hook": "clock-terminate",
    "log_group": "/clock/app",
    "role": "clock-agent-role",
    "user": "clock-agent",
    "admin_user": "harness-admin",
    "policy_name": "clock-agent-policy",
    "heartbeat_timeout": 300,
}

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
POLICY_PATH = os.path.join(REPO_ROOT, "packaging", "iam", "clock-agent-policy.json")
ALLOW_ALL = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
EC2_TRUST = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"},
                                                      "Action": "sts:AssumeRole"}]}
# Used when a test removes every statement: IAM needs at least one; GetCallerIdentity never needs a grant.
PLACEHOLDER_STATEMENT = {"Sid": "HarnessPlaceholder", "Effect": "Allow", "Action": "sts:GetCallerIdentity",
                         "Resource": "*"}

log = logging.getLogger("clockharness")


def _actions(stmt: dict) -> list[str]:
    acts = stmt.get("Action", [])
    return [acts] if isinstance(acts, str) else list(acts)


def moto_policy(doc: dict) -> dict:
    """The project policy as installed into moto.

    moto evaluates IAM *resources* for S3 only; for every other service it checks the policy
    against Resource "*", so a resource-scoped statement (e.g. logs on
    arn:aws:logs:*:*:log-group:/clock/*) would be denied even for an allowed action.  The copy
    installed into moto therefore has Resource "*" on every statement whose actions are not all
    S3 actions.  S3 statements stay exactly as written.  (The strict sink evaluates the
    original, resource-scoped policy; see HarnessServer.authorize.)
    """
    out = copy.deepcopy(doc)
    for stmt in out.get("Statement", []):
        if not all(a.lower().startswith("s3:") for a in _actions(stmt)):
            stmt["Resource"] = "*"
            stmt.pop("NotResource", None)
    return out


def _rfc3339(t: dt.datetime) -> str:
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.timezone.utc)
    return t.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_rfc3339(value: str) -> dt.datetime:
    t = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.timezone.utc)
    return t


class HarnessServer:
    """Starts and owns every server of one harness instance."""

    def __init__(self, workdir: str, artifact: str | None = None, artifact_key: str | None = None,
                 sink: bool = False, auth: bool = True, instance_id: str | None = None,
                 policy_path: str | None = None, instances: int = 1, sink_quota: dict | None = None):
        self.workdir = os.path.abspath(workdir)
        self.artifact = artifact
        self.artifact_key = artifact_key or (os.path.basename(artifact) if artifact else None)
        self.sink_enabled = sink
        self.auth = auth
        self.cfg = dict(DEFAULTS)
        self.requested_instance_id = instance_id or DEFAULTS["instance_id"]
        if instances < 1:
            raise ValueError("instances must be >= 1")
        self.instance_count = instances
        self.sink_quota = sink_quota
        self.policy_path = policy_path or POLICY_PATH
        self.started = time.time()
        self.moto = None
        self.imds = None
        self.sink = None
        self.control = None
        self.machine = None
        self.recorder = None
        self.removed_sids: list[str] = []
        self._stop = threading.Event()
        self._ticker = None
        self.info: dict = {}
        self.policy_lock = threading.Lock()

    # -- startup -------------------------------------------------------------------------
    def start(self) -> dict:
        from . import motoext
        from .control import ControlAPI
        from .imds import IMDS
        from .lifecycle import LifecycleMachine

        with open(self.policy_path) as f:
            self.policy = json.load(f)
        os.makedirs(self.workdir, exist_ok=True)
        # Harness-internal clients must never pick up the caller's AWS configuration.
        os.environ.pop("AWS_PROFILE", None)
        os.environ["AWS_CONFIG_FILE"] = os.devnull
        os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
        os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
        # Loading moto's catalogue of default AMIs costs seconds and the harness needs none.
        os.environ.setdefault("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")

        self.recorder = motoext.Recorder()
        self.machine = LifecycleMachine(hooks=self._hooks, groups=self._groups, on_state=self._sync_moto_state)
        motoext.install(self.machine, self.recorder)

        self.moto = motoext.MotoServer()
        self.moto.start()
        self._wait_moto()
        self._fixtures()
        for iid in self.instance_ids:
            self.machine.register(iid, self.cfg["asg"])
        if self.auth:
            self._moto_api("/moto-api/reset-auth", b"0")

        self.imds = IMDS(instance_id=self.instance_id, region=self.cfg["region"], az=self.cfg["az"],
                         az_id=self.cfg["az_id"], account=self.cfg["account"], role=self.cfg["role"],
                         instance_profile_arn=self.instance_profile_arn, instance_profile_id=self.instance_profile_id,
                         asg=self.cfg["asg"], instance_type=self.instance_type, image_id=self.image_id,
                         private_ip=self.private_ip, assume_role=self.assume_role)
        self.imds.start()
        # The fleet's other instances: an IMDS fake each, on ports of their own.
        for iid in self.instance_ids[1:]:
            self.imds.add_member(IMDS(
                instance_id=iid, region=self.cfg["region"], az=self.cfg["az"], az_id=self.cfg["az_id"],
                account=self.cfg["account"], role=self.cfg["role"], instance_profile_arn=self.instance_profile_arn,
                instance_profile_id=self.instance_profile_id, asg=self.cfg["asg"], instance_type=self.instance_type,
                image_id=self.image_id, private_ip=self.private_ips[iid],
                assume_role=lambda iid=iid: self.assume_role(iid)))
        if self.sink_enabled:
            from .sink import LogsSink
            self.sink = LogsSink(region=self.cfg["region"], account=self.cfg["account"], lookup=self.lookup_credential,
                                 authorize=self.authorize)
            if self.sink_quota:
                self.sink.set_quota(self.sink_quota)
            self.sink.start()
        self.control = ControlAPI(self)
        self.control.start()
        self._ticker = threading.Thread(target=self._tick, name="lifecycle-ticker", daemon=True)
        self._ticker.start()
        self.info = self._harness_json()
        return self.info

    def _wait_moto(self) -> None:
        deadline = time.monotonic() + 10
        while True:
            try:
                with urllib.request.urlopen(self.moto.url + "/moto-api/", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("moto did not answer GET /moto-api/ within 10 s")
            time.sleep(0.05)

    def _moto_api(self, path: str, body: bytes) -> dict:
        req = urllib.request.Request(self.moto.url + path, data=body, method="POST",
                                     headers={"Content-Type": "text/plain"})
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read() or b"{}")

    def client(self, service: str, access_key_id: str, secret: str, token: str | None = None):
        import boto3
        from botocore.config import Config
        session = boto3.session.Session(aws_access_key_id=access_key_id, aws_secret_access_key=secret,
                                        aws_session_token=token, region_name=self.cfg["region"])
        return session.client(service, endpoint_url=self.moto.url,
                              config=Config(retries={"max_attempts": 1}, s3={"addressing_style": "path"}))

    def admin_client(self, service: str):
        a = self.admin_keys
        return self.client(service, a["access_key_id"], a["secret_access_key"])

    def _fixtures(self) -> None:
        """Create IAM users/role, bucket + artifact, launch template, ASG and hooks (IAM checks still off)."""
        import moto.ec2.models.instances as ec2_instances
        cfg = self.cfg
        boot = lambda svc: self.client(svc, "AKIAHARNESSBOOTSTRAP", "bootstrap-secret")  # noqa: E731
        iam = boot("iam")
        installed = moto_policy(self.policy)

        iam.create_user(UserName=cfg["user"])
        iam.put_user_policy(UserName=cfg["user"], PolicyName=cfg["policy_name"], PolicyDocument=json.dumps(installed))
        k = iam.create_access_key(UserName=cfg["user"])["AccessKey"]
        self.user_keys = {"access_key_id": k["AccessKeyId"], "secret_access_key": k["SecretAccessKey"]}
        self.user_arn = iam.get_user(UserName=cfg["user"])["User"]["Arn"]

        iam.create_user(UserName=cfg["admin_user"])
        iam.put_user_policy(UserName=cfg["admin_user"], PolicyName="allow-all", PolicyDocument=json.dumps(ALLOW_ALL))
        k = iam.create_access_key(UserName=cfg["admin_user"])["AccessKey"]
        self.admin_keys = {"access_key_id": k["AccessKeyId"], "secret_access_key": k["SecretAccessKey"]}

        role = iam.create_role(RoleName=cfg["role"], AssumeRolePolicyDocument=json.dumps(EC2_TRUST))["Role"]
        self.role_arn = role["Arn"]
        pol = iam.create_policy(PolicyName=cfg["policy_name"], PolicyDocument=json.dumps(installed))["Policy"]
        self.managed_policy_arn = pol["Arn"]
        iam.attach_role_policy(RoleName=cfg["role"], PolicyArn=self.managed_policy_arn)
        prof = iam.create_instance_profile(InstanceProfileName=cfg["role"])["InstanceProfile"]
        iam.add_role_to_instance_profile(InstanceProfileName=cfg["role"], RoleName=cfg["role"])
        self.instance_profile_arn = prof["Arn"]
        self.instance_profile_id = prof["InstanceProfileId"]

        s3 = boot("s3")
        s3.create_bucket(Bucket=cfg["bucket"])
        self.artifact_sha256 = None
        if self.artifact:
            with open(self.artifact, "rb") as f:
                data = f.read()
            self.artifact_sha256 = hashlib.sha256(data).hexdigest()
            s3.put_object(Bucket=cfg["bucket"], Key=self.artifact_key, Body=data, ChecksumAlgorithm="SHA256")

        ec2 = boot("ec2")
        self.image_id = "ami-0c1a7f89451184c8b"  # moto does not check AMIs; default AMIs are not loaded
        ec2.create_launch_template(LaunchTemplateName=cfg["launch_template"],
                                   LaunchTemplateData={"ImageId": self.image_id, "InstanceType": "t3.micro",
                                                       "IamInstanceProfile": {"Arn": self.instance_profile_arn}})
        asg = boot("autoscaling")
        # moto names the ASG's instance with a random id; make it the requested one so IMDS,
        # DescribeAutoScalingInstances and EC2 agree (moto exposes no other way to choose it).
        wanted = self.requested_instance_id
        original = ec2_instances.random_instance_id
        handed_out = []

        def pick_id() -> str:
            if not handed_out:
                handed_out.append(wanted)
                return wanted
            return original()

        ec2_instances.random_instance_id = pick_id
        n = self.instance_count
        try:
            asg.create_auto_scaling_group(
                AutoScalingGroupName=cfg["asg"], MinSize=n, MaxSize=n, DesiredCapacity=n,
                AvailabilityZones=[cfg["az"]], HealthCheckGracePeriod=300,
                LaunchTemplate={"LaunchTemplateName": cfg["launch_template"], "Version": "$Latest"})
        finally:
            ec2_instances.random_instance_id = original
        for name, transition in ((cfg["launch_hook"], "autoscaling:EC2_INSTANCE_LAUNCHING"),
                                 (cfg["terminate_hook"], "autoscaling:EC2_INSTANCE_TERMINATING")):
            asg.put_lifecycle_hook(LifecycleHookName=name, AutoScalingGroupName=cfg["asg"],
                                   LifecycleTransition=transition, HeartbeatTimeout=cfg["heartbeat_timeout"],
                                   DefaultResult="ABANDON")
        insts = []
        for page in asg.get_paginator("describe_auto_scaling_instances").paginate():
            insts += page["AutoScalingInstances"]
        if len(insts) != n or wanted not in {i["InstanceId"] for i in insts}:
            raise RuntimeError(f"expected {n} ASG instance(s) including {wanted}, moto reports {insts}")
        # The requested id first, then the others in moto's order.
        self.instance_ids = [wanted] + [i["InstanceId"] for i in insts if i["InstanceId"] != wanted]
        self.instance_id = wanted
        self.private_ips = {}
        self.instance_type = "t3.micro"
        for start in range(0, n, 100):
            for res in ec2.describe_instances(InstanceIds=self.instance_ids[start:start + 100])["Reservations"]:
                for desc in res["Instances"]:
                    self.private_ips[desc["InstanceId"]] = desc.get("PrivateIpAddress") or "10.0.0.12"
                    self.instance_type = desc.get("InstanceType", self.instance_type)
        self.private_ip = self.private_ips.get(wanted, "10.0.0.12")

    # -- moto glue -----------------------------------------------------------------------
    def _as_backend(self):
        from moto.autoscaling.models import autoscaling_backends
        return autoscaling_backends[self.cfg["account"]][self.cfg["region"]]

    def _hooks(self, group: str):
        from .lifecycle import Hook
        return [Hook(h.name, h.auto_scaling_group_name, h.lifecycle_transition, int(h.heartbeat_timeout),
                     h.default_result)
                for h in list(self._as_backend().lifecycle_hooks.values()) if h.auto_scaling_group_name == group]

    def _groups(self):
        return set(self._as_backend().autoscaling_groups)

    def _sync_moto_state(self, instance_id: str, state: str) -> None:
        for group in list(self._as_backend().autoscaling_groups.values()):
            for st in group.instance_states:
                if st.instance.id == instance_id:
                    st.lifecycle_state = state

    def _tick(self) -> None:
        while not self._stop.wait(0.2):
            try:
                self.machine.advance()
            except Exception:  # pragma: no cover - never let the ticker die
                log.exception("lifecycle ticker")

    def assume_role(self, session: str | None = None) -> dict:
        """sts:AssumeRole of the instance role, done against the in-process moto STS backend.

        (Over HTTP the role's EC2-only trust policy would reject the harness's admin user; the
        backend call creates exactly the credentials moto's IAM check later accepts.)
        """
        from moto.sts.models import sts_backends
        role = sts_backends[self.cfg["account"]]["aws"].assume_role(
            region_name=self.cfg["region"], role_session_name=session or self.instance_id, role_arn=self.role_arn,
            policy=None, duration=21600, external_id=None)
        return {"AccessKeyId": role.access_key_id, "SecretAccessKey": role.secret_access_key,
                "SessionToken": role.session_token, "Expiration": _rfc3339(role.expiration)}

    def lookup_credential(self, akid: str):
        """Secret (and session token) for an access key id moto knows: IAM user keys and assumed roles."""
        from moto.iam.models import iam_backends
        from moto.sts.models import sts_backends
        from .sigv4 import Credential
        iam = iam_backends[self.cfg["account"]]["aws"]
        for user in list(iam.users.values()):
            for key in list(user.access_keys):
                if key.access_key_id == akid and key.status == "Active":
                    return Credential(akid, key.secret_access_key, None, user.arn)
        for role in list(sts_backends[self.cfg["account"]]["aws"].assumed_roles):
            if role.access_key_id == akid:
                expired = role.expiration < dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
                return Credential(akid, role.secret_access_key, role.session_token, role.arn, expired)
        return None

    def effective_policy(self) -> dict:
        with self.policy_lock:
            doc = copy.deepcopy(self.policy)
            doc["Statement"] = [s for s in doc["Statement"] if s.get("Sid") not in self.removed_sids]
            if not doc["Statement"]:
                doc["Statement"] = [dict(PLACEHOLDER_STATEMENT)]
            return doc

    def authorize(self, cred, action: str, resource: str) -> str | None:
        """IAM decision for the sink: the agent's principals get the ORIGINAL resource-scoped policy."""
        from moto.iam.access_control import IAMPolicy, PermissionResult, create_access_key
        principal = cred.principal_arn
        role_prefix = f"arn:aws:sts::{self.cfg['account']}:assumed-role/{self.cfg['role']}/"
        if principal == self.user_arn or principal.startswith(role_prefix):
            policies = [json.dumps(self.effective_policy())]
        else:
            headers = {"X-Amz-Security-Token": cred.session_token} if cred.session_token else {}
            policies = create_access_key(self.cfg["account"], "aws", cred.access_key_id, headers).collect_policies()
        permitted = False
        for p in policies:
            r = IAMPolicy(p).is_action_permitted(action, resource)
            if r == PermissionResult.DENIED:
                permitted = False
                break
            if r == PermissionResult.PERMITTED:
                permitted = True
        if permitted:
            return None
        return (f"User: {principal} is not authorized to perform: {action} on resource: {resource} "
                f"because no identity-based policy allows the {action} action")

    # -- policy control ------------------------------------------------------------------
    def set_removed_sids(self, sids: list[str]) -> dict:
        known = {s.get("Sid") for s in self.policy["Statement"]}
        unknown = [s for s in sids if s not in known]
        if unknown:
            raise ValueError(f"unknown Sid(s) {unknown}; the policy has {sorted(k for k in known if k)}")
        with self.policy_lock:
            self.removed_sids = list(dict.fromkeys(sids))
        doc = json.dumps(moto_policy(self.effective_policy()))
        iam = self.admin_client("iam")
        iam.put_user_policy(UserName=self.cfg["user"], PolicyName=self.cfg["policy_name"], PolicyDocument=doc)
        iam.create_policy_version(PolicyArn=self.managed_policy_arn, PolicyDocument=doc, SetAsDefault=True)
        for v in iam.list_policy_versions(PolicyArn=self.managed_policy_arn)["Versions"]:
            if not v["IsDefaultVersion"]:
                iam.delete_policy_version(PolicyArn=self.managed_policy_arn, VersionId=v["VersionId"])
        return {"removed_sids": self.removed_sids,
                "statements": [s.get("Sid") for s in self.effective_policy()["Statement"]]}

    # -- scenario ------------------------------------------------------------------------
    def imds_of(self, instance_id: str | None):
        """The IMDS fake of one of the fleet's instances (None: the primary one)."""
        if instance_id is None or instance_id == self.instance_id:
            return self.imds
        member = self.imds.members.get(instance_id)
        if member is None:
            raise KeyError(f"no instance {instance_id} in this harness")
        return member

    def set_target_lifecycle_state(self, state: str | None, instance_id: str | None = None) -> dict:
        """IMDS autoscaling/target-lifecycle-state; 'Terminated' also starts Terminating:Wait in the ASG."""
        iid = instance_id or self.instance_id
        self.imds_of(iid).target_lifecycle_state = state
        if state == "Terminated":
            self.machine.begin_termination(iid, cause="imds:Terminated")
        return {"imds_target_lifecycle_state": state, "asg_state": self.machine.state_of(iid)}

    def fleet(self) -> dict:
        """Per instance: its IMDS URL, IMDS requests (total and per method + path), moto and sink requests made with
        its current role credentials (per action), lifecycle state, and when and how its launch hook was completed
        (control API GET /fleet)."""
        snap = self.machine.snapshot()["instances"]
        moto_by_key = self.moto.counter.to_json()["by_key"]
        sink_by_key = self.sink.stats_json()["by_key"] if self.sink else {}
        out = {}
        for iid in self.instance_ids:
            imds = self.imds_of(iid)
            akid = imds.creds.get("AccessKeyId")
            with imds.lock:
                by_path: dict[str, int] = {}
                for r in imds.requests:
                    key = f"{r['method']} {r['path']}"
                    by_path[key] = by_path.get(key, 0) + 1
                count = imds.request_seq
            inst = snap.get(iid, {})
            completed = next((h["time"] for h in inst.get("history", []) if h.get("cause", "").startswith("complete:")
                              and h.get("from") == "Pending:Wait"), None)
            out[iid] = {"imds": imds.url, "imds_requests": count, "imds_by_path": by_path,
                        "access_key_id": akid, "moto_requests": moto_by_key.get(akid, {}),
                        "sink_requests": sink_by_key.get(akid, {}),
                        "state": inst.get("state"), "launch_completed_at": completed,
                        "launch_result": next((h["cause"].split(":", 1)[1] for h in inst.get("history", [])
                                               if h.get("cause", "").startswith(("complete:", "timeout:"))
                                               and h.get("from") == "Pending:Wait"), None)}
        return {"started": self.started, "instances": out}

    # -- output --------------------------------------------------------------------------
    def _harness_json(self) -> dict:
        cfg = self.cfg
        return {
            "pid": os.getpid(),
            "moto": self.moto.url,
            "imds": self.imds.url,
            "control": self.control.url,
            "sink": self.sink.url if self.sink else None,
            "region": cfg["region"], "account": cfg["account"], "bucket": cfg["bucket"],
            "artifact_key": self.artifact_key, "artifact_sha256": self.artifact_sha256,
            "instance_id": self.instance_id, "az": cfg["az"], "asg": cfg["asg"],
            "instances": [{"instance_id": iid, "imds": self.imds_of(iid).url} for iid in self.instance_ids],
            "launch_hook": cfg["launch_hook"], "terminate_hook": cfg["terminate_hook"],
            "log_group": cfg["log_group"], "role": cfg["role"],
            "role_arn": self.role_arn, "user_arn": self.user_arn,
            "policy_path": os.path.abspath(self.policy_path),
            "iam_auth": self.auth,
            "user": dict(self.user_keys),
            "admin": dict(self.admin_keys),
        }

    def write_harness_json(self) -> str:
        path = os.path.join(self.workdir, "harness.json")
        tmp = path + f".tmp.{os.getpid()}.{secrets.token_hex(4)}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(self.info, f, indent=2)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.rename(tmp, path)
        self.harness_json_path = path
        return path

    # -- shutdown ------------------------------------------------------------------------
    def stop(self) -> None:
        self._stop.set()
        for part in (self.control, self.sink, self.imds, self.moto):
            if part is not None:
                try:
                    part.stop()
                except Exception:  # pragma: no cover
                    log.exception("stopping %s", part)
        path = getattr(self, "harness_json_path", None)
        if path and os.path.exists(path):
            try:
                with open(path) as f:
                    if json.load(f).get("pid") == os.getpid():
                        os.unlink(path)
            except (OSError, ValueError):
                pass

