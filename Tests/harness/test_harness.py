"""Proof that the harness's fakes behave as documented (python3 -m pytest Tests/harness -q).

Each fake is exercised with independent clients: boto3/botocore (their own SigV4 signer) for
moto and the sink, urllib/http.client for IMDS and raw sink requests.  One harness process
(with the sink) serves the module; tests reset the state they touch.  Every test is bounded
by an alarm (TEST_TIME_LIMIT seconds).
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from urllib.parse import urlsplit

import botocore.auth
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

# Network rule: no client in this process may fall back to the real IMDS or read ~/.aws.
os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
os.environ["AWS_CONFIG_FILE"] = os.devnull
os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clockharness import RUN_PY, ControlError, Harness  # noqa: E402
from clockharness import sigv4  # noqa: E402

TEST_TIME_LIMIT = 20
SIGV4_DIR = "/work/shared/testdata/sigv4"
ARTIFACT = b"print('web clock')\n" * 10


# -- fixtures -----------------------------------------------------------------------------
@pytest.fixture(autouse=True)
def time_limit():
    """Fail any test that runs longer than TEST_TIME_LIMIT seconds."""
    def on_alarm(signum, frame):
        raise TimeoutError(f"test exceeded {TEST_TIME_LIMIT} s")
    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, TEST_TIME_LIMIT)
    yield
    signal.setitimer(signal.ITIMER_REAL, 0)
    signal.signal(signal.SIGALRM, old)


@pytest.fixture(scope="module")
def h(tmp_path_factory):
    work = tmp_path_factory.mktemp("harness")
    art = work / "clock-app.tar.gz"
    art.write_bytes(ARTIFACT)
    with Harness(str(work), artifact=str(art), sink=True) as harness:
        yield harness


@pytest.fixture
def lc(h):
    """Fresh lifecycle scenario: fast proceed, no race/timeout overrides, IMDS target state cleared."""
    h.control("POST", "/lifecycle/config", {"proceed_seconds": 1.0, "heartbeat_timeout": None})
    h.control("POST", "/lifecycle/race", {"complete_failures": 0, "heartbeat_failures": 0})
    h.control("POST", "/imds/lifecycle-state", {"state": None})
    h.control("POST", "/lifecycle/calls/clear")
    yield h
    h.control("POST", "/lifecycle/config", {"proceed_seconds": 0.5, "heartbeat_timeout": None})
    h.control("POST", "/lifecycle/race", {"complete_failures": 0, "heartbeat_failures": 0})
    h.control("POST", "/imds/lifecycle-state", {"state": None})
    h.control("POST", "/lifecycle/state", {"state": "InService"})


@pytest.fixture
def imds(h):
    h.control("POST", "/imds/faults", {"clear": True})
    h.control("POST", "/imds/tags", {"enabled": True})
    yield h
    h.control("POST", "/imds/faults", {"clear": True})
    h.control("POST", "/imds/tags", {"enabled": True})
    h.control("POST", "/imds/credentials", {"expiration": None, "code": "Success"})
    h.control("POST", "/imds/spot", None)
    h.control("POST", "/imds/rebalance", None)
    h.control("POST", "/imds/lifecycle-state", {"state": None})


@pytest.fixture
def sink(h):
    h.control("POST", "/sink/reset")
    yield h
    h.control("POST", "/sink/reset")


# -- helpers ------------------------------------------------------------------------------
def code_of(exc: ClientError) -> str:
    return exc.response["Error"]["Code"]


def asg_state(h, who="admin") -> str | None:
    insts = h.boto3_client("autoscaling", who).describe_auto_scaling_instances(
        InstanceIds=[h.instance_id])["AutoScalingInstances"]
    return insts[0]["LifecycleState"] if insts else None


def wait_for(pred, timeout=5.0, interval=0.05):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(interval)
    return pred()


def complete(h, who="user", hook=None, result="CONTINUE", **kw):
    args = {"LifecycleHookName": hook or h.launch_hook, "AutoScalingGroupName": h.asg,
            "LifecycleActionResult": result}
    if "token" in kw:
        args["LifecycleActionToken"] = kw.pop("token")
    else:
        args["InstanceId"] = kw.pop("instance_id", h.instance_id)
    return h.boto3_client("autoscaling", who).complete_lifecycle_action(**args)


def imds_req(h, method, path, headers=None, timeout=3.0):
    """(status, body, headers) of a raw IMDS request (urllib, so nothing AWS-specific in between)."""
    req = urllib.request.Request(h.imds + path.lstrip("/"), method=method, headers=headers or {},
                                 data=b"" if method == "PUT" else None)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read().decode(), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(), dict(e.headers)


def token(h, ttl=60):
    st, body, hdrs = imds_req(h, "PUT", "latest/api/token", {"X-aws-ec2-metadata-token-ttl-seconds": str(ttl)})
    assert st == 200, (st, body)
    return body


def iget(h, path, tok):
    return imds_req(h, "GET", path, {"X-aws-ec2-metadata-token": tok})


def creds_for(h, who):
    if who == "role":
        c = h.imds_credentials()
        return Credentials(c["AccessKeyId"], c["SecretAccessKey"], c["Token"])
    k = h.info[who]
    return Credentials(k["access_key_id"], k["secret_access_key"])


def sink_call(h, op, payload=None, who="user", credentials=None, raw=None, gzip_body=False, region=None,
              service="logs", sign=True, conn=None, extra_headers=None):
    """A PutLogEvents-style request signed by botocore's SigV4Auth, sent with http.client.

    Returns (status, decoded JSON body, headers)."""
    body = raw if raw is not None else json.dumps(payload).encode()
    if gzip_body:
        body = gzip.compress(body)
    headers = {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": f"Logs_20140328.{op}"}
    if gzip_body:
        headers["Content-Encoding"] = "gzip"
    headers.update(extra_headers or {})
    req = AWSRequest("POST", h.sink + "/", data=body, headers=headers)
    if sign:
        SigV4Auth(credentials or creds_for(h, who), service, region or h.region).add_auth(req)
    u = urlsplit(h.sink)
    own = conn is None
    conn = conn or http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    try:
        conn.request("POST", "/", body=body, headers=dict(req.headers))
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, (json.loads(data) if data else None), dict(resp.getheaders())
    finally:
        if own:
            conn.close()


def now_ms() -> int:
    return int(time.time() * 1000)


def make_stream(h, group="/clock/app", stream="s1", who="user"):
    st, out, _ = sink_call(h, "CreateLogGroup", {"logGroupName": group}, who=who)
    assert st in (200, 400), out
    st, out, _ = sink_call(h, "CreateLogStream", {"logGroupName": group, "logStreamName": stream}, who=who)
    assert st == 200, out


def put(h, events, group="/clock/app", stream="s1", **kw):
    return sink_call(h, "PutLogEvents", {"logGroupName": group, "logStreamName": stream, "logEvents": events}, **kw)


# -- harness process and harness.json ----------------------------------------------------
def test_harness_json_and_instance_identity(h):
    info = json.load(open(h.harness_json))
    assert info == h.info
    for key in ("moto", "imds", "control", "sink"):
        assert urlsplit(info[key]).hostname == "127.0.0.1"
    assert info["pid"] == h.pid
    assert info["artifact_sha256"] == hashlib.sha256(ARTIFACT).hexdigest()
    assert (info["region"], info["account"], info["bucket"], info["asg"]) == \
        ("us-east-1", "123456789012", "webclock-bucket", "clock-asg")
    # The instance id lines up: IMDS, DescribeAutoScalingInstances and EC2 agree.
    tok = token(h)
    assert iget(h, "latest/meta-data/instance-id", tok)[1] == info["instance_id"] == "i-0123456789abcdef0"
    insts = h.boto3_client("autoscaling", "user").describe_auto_scaling_instances(
        InstanceIds=[info["instance_id"]])["AutoScalingInstances"]
    assert [(i["InstanceId"], i["AutoScalingGroupName"], i["AvailabilityZone"]) for i in insts] == \
        [(info["instance_id"], "clock-asg", "us-east-1a")]
    hooks = h.boto3_client("autoscaling").describe_lifecycle_hooks(AutoScalingGroupName="clock-asg")
    assert {(x["LifecycleHookName"], x["LifecycleTransition"], x["HeartbeatTimeout"], x["DefaultResult"])
            for x in hooks["LifecycleHooks"]} == {
        ("clock-launch", "autoscaling:EC2_INSTANCE_LAUNCHING", 300, "ABANDON"),
        ("clock-terminate", "autoscaling:EC2_INSTANCE_TERMINATING", 300, "ABANDON")}
    # The log group is left for the agent to create.
    groups = h.boto3_client("logs").describe_log_groups()["logGroups"]
    assert "/clock/app" not in [g["logGroupName"] for g in groups]
    assert h.control("GET", "/healthz")["ok"] is True


def test_second_harness_custom_instance_id_no_auth_and_down(tmp_path):
    iid = "i-0fedcba9876543210"
    hh = Harness(str(tmp_path), auth=False, instance_id=iid).start()
    try:
        assert hh.instance_id == iid and hh.sink is None and hh.iam_auth is False
        tok = token(hh)
        assert iget(hh, "latest/meta-data/instance-id", tok)[1] == iid
        anon = hh.boto3_client("autoscaling", aws_access_key_id="AKIAANYTHING00000000",
                               aws_secret_access_key="whatever")
        insts = anon.describe_auto_scaling_instances(InstanceIds=[iid])["AutoScalingInstances"]
        assert insts[0]["AutoScalingGroupName"] == "clock-asg"
        with pytest.raises(ControlError) as e:
            hh.control("GET", "/sink/stats")
        assert e.value.status == 404
        pid = hh.pid
        rc = subprocess.run([sys.executable, RUN_PY, "down", "--workdir", str(tmp_path)], timeout=15).returncode
        assert rc == 0
        assert hh.proc.wait(10) == 0
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
        assert not (tmp_path / "harness.json").exists()
    finally:
        hh.stop()


# -- moto with IAM auth -------------------------------------------------------------------
def test_iam_auth_is_enforced(h):
    user_s3 = h.boto3_client("s3", "user")
    key = h.artifact_key
    assert user_s3.get_object(Bucket=h.bucket, Key=key)["Body"].read() == ARTIFACT
    got = user_s3.get_object(Bucket=h.bucket, Key=key, ChecksumMode="ENABLED")
    assert got["ChecksumSHA256"]
    assert user_s3.list_objects_v2(Bucket=h.bucket)["KeyCount"] == 1
    with pytest.raises(ClientError) as e:
        user_s3.put_object(Bucket=h.bucket, Key="evil", Body=b"x")
    assert code_of(e.value) == "AccessDenied"
    # Another bucket: S3 resources are enforced.
    admin_s3 = h.boto3_client("s3")
    admin_s3.create_bucket(Bucket="other-bucket")
    admin_s3.put_object(Bucket="other-bucket", Key="k", Body=b"x")
    with pytest.raises(ClientError) as e:
        user_s3.get_object(Bucket="other-bucket", Key="k")
    assert code_of(e.value) == "AccessDenied"
    # Action outside the policy.
    with pytest.raises(ClientError) as e:
        h.boto3_client("ec2", "user").describe_instances()
    assert code_of(e.value) in ("AccessDenied", "UnauthorizedOperation")
    with pytest.raises(ClientError) as e:
        h.boto3_client("iam", "user").list_users()
    assert code_of(e.value) == "AccessDenied"
    # Wrong secret -> SignatureDoesNotMatch (S3 and Query services); unknown key -> InvalidClientTokenId.
    bad = {"aws_access_key_id": h.user["access_key_id"], "aws_secret_access_key": "wrong" * 8}
    with pytest.raises(ClientError) as e:
        h.boto3_client("s3", **bad).get_object(Bucket=h.bucket, Key=key)
    assert code_of(e.value) == "SignatureDoesNotMatch"
    with pytest.raises(ClientError) as e:
        h.boto3_client("autoscaling", **bad).describe_auto_scaling_instances()
    assert code_of(e.value) == "SignatureDoesNotMatch"
    with pytest.raises(ClientError) as e:
        h.boto3_client("autoscaling", aws_access_key_id="AKIAUNKNOWN000000000",
                       aws_secret_access_key="x").describe_auto_scaling_instances()
    assert code_of(e.value) == "InvalidClientTokenId"


def test_get_caller_identity_needs_no_statement(h):
    """moto allows sts:GetCallerIdentity for any valid credential, even with no statement for it."""
    assert "sts:" not in json.dumps(h.control("GET", "/policy")["effective"])
    ident = h.boto3_client("sts", "user").get_caller_identity()
    assert ident["Arn"] == h.user_arn
    try:
        h.control("POST", "/policy/remove", {"sids": ["FetchArtifact", "TellMissingArtifact", "ShipLogs",
                                                      "ReportLifecycle", "FindGroup"]})
        assert h.boto3_client("sts", "user").get_caller_identity()["Account"] == h.account
        role_ident = h.boto3_client("sts", "role").get_caller_identity()
        assert role_ident["Arn"].startswith(f"arn:aws:sts::{h.account}:assumed-role/clock-agent-role/")
    finally:
        h.control("POST", "/policy/restore")


def test_role_credentials_from_imds_work_against_moto(h, imds):
    c = h.imds_credentials()
    assert c["Code"] == "Success" and c["Type"] == "AWS-HMAC" and c["AccessKeyId"].startswith("ASIA")
    role_s3 = h.boto3_client("s3", "role")
    assert role_s3.get_object(Bucket=h.bucket, Key=h.artifact_key)["Body"].read() == ARTIFACT
    with pytest.raises(ClientError) as e:
        role_s3.put_object(Bucket=h.bucket, Key="evil", Body=b"x")
    assert code_of(e.value) == "AccessDenied"
    # A wrong session token is refused.
    bad = h.boto3_client("s3", aws_access_key_id=c["AccessKeyId"], aws_secret_access_key=c["SecretAccessKey"],
                         aws_session_token="not-the-token")
    with pytest.raises(ClientError) as e:
        bad.get_object(Bucket=h.bucket, Key=h.artifact_key)
    assert code_of(e.value) in ("InvalidToken", "AccessDenied")
    # Rotation issues fresh credentials; the previous ones keep working (as in AWS until expiry).
    old = c
    info = h.control("POST", "/imds/credentials", {"rotate": True})
    new = h.imds_credentials()
    assert new["AccessKeyId"] == info["AccessKeyId"] != old["AccessKeyId"]
    old_s3 = h.boto3_client("s3", aws_access_key_id=old["AccessKeyId"],
                            aws_secret_access_key=old["SecretAccessKey"], aws_session_token=old["Token"])
    assert old_s3.head_object(Bucket=h.bucket, Key=h.artifact_key)["ContentLength"] == len(ARTIFACT)


# -- Auto Scaling lifecycle extension -----------------------------------------------------
def test_complete_lifecycle_action_transitions_and_records(h, lc):
    h.control("POST", "/lifecycle/state", {"state": "Pending:Wait"})
    assert asg_state(h, "user") == "Pending:Wait"
    asg = h.boto3_client("autoscaling", "user")
    asg.record_lifecycle_action_heartbeat(LifecycleHookName=h.launch_hook, AutoScalingGroupName=h.asg,
                                          InstanceId=h.instance_id)
    complete(h, result="CONTINUE")
    assert asg_state(h) == "Pending:Proceed"
    assert wait_for(lambda: asg_state(h) == "InService", 3)
    groups = h.boto3_client("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[h.asg])
    assert groups["AutoScalingGroups"][0]["Instances"][0]["LifecycleState"] == "InService"
    with pytest.raises(ClientError) as e:
        complete(h)
    err = e.value.response["Error"]
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert (err["Code"], err["Type"]) == ("ValidationError", "Sender")
    assert err["Message"] == f"No active Lifecycle Action found with instance ID {h.instance_id}"
    with pytest.raises(ClientError) as e:
        asg.record_lifecycle_action_heartbeat(LifecycleHookName=h.launch_hook, AutoScalingGroupName=h.asg,
                                              InstanceId=h.instance_id)
    assert "No active Lifecycle Action" in e.value.response["Error"]["Message"]
    calls = h.control("GET", "/lifecycle/calls")["calls"]
    assert [(c["action"], c["outcome"]) for c in calls] == [
        ("RecordLifecycleActionHeartbeat", "OK"), ("CompleteLifecycleAction", "OK"),
        ("CompleteLifecycleAction", "ValidationError"), ("RecordLifecycleActionHeartbeat", "ValidationError")]
    first = calls[1]
    assert (first["hook"], first["group"], first["instance_id"], first["result"], first["status"]) == \
        (h.launch_hook, h.asg, h.instance_id, "CONTINUE", 200)
    assert (first["state_before"], first["state_after"]) == ("Pending:Wait", "Pending:Proceed")
    assert first["access_key_id"] == h.user["access_key_id"]
    assert abs(first["time"] - time.time()) < 30


def test_validation_error_wire_format(h, lc):
    """The raw Query XML error, as AWS sends it (botocore's signer, urllib transport)."""
    h.control("POST", "/lifecycle/state", {"state": "InService"})
    body = ("Action=CompleteLifecycleAction&Version=2011-01-01&LifecycleHookName=clock-launch"
            f"&AutoScalingGroupName=clock-asg&LifecycleActionResult=CONTINUE&InstanceId={h.instance_id}")
    req = AWSRequest("POST", h.moto + "/", data=body.encode(),
                     headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
    SigV4Auth(creds_for(h, "user"), "autoscaling", h.region).add_auth(req)
    r = urllib.request.Request(h.moto + "/", data=body.encode(), headers=dict(req.headers), method="POST")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(r, timeout=10)
    xml = e.value.read().decode()
    assert e.value.code == 400
    assert "<ErrorResponse" in xml and "<Type>Sender</Type><Code>ValidationError</Code>" in xml
    assert f"<Message>No active Lifecycle Action found with instance ID {h.instance_id}</Message>" in xml
    assert "<RequestId>" in xml


def test_launch_abandon_and_terminate_flow(h, lc):
    h.control("POST", "/lifecycle/state", {"state": "Pending:Wait"})
    complete(h, result="ABANDON")
    assert asg_state(h) == "Terminating"
    snap = h.control("GET", "/lifecycle/state")["instances"][h.instance_id]
    assert snap["history"][-1]["cause"] == "complete:ABANDON" and snap["history"][-1]["to"] == "Terminating"
    # Terminate path, driven by the IMDS scenario controller.
    h.control("POST", "/lifecycle/state", {"state": "InService"})
    out = h.control("POST", "/imds/lifecycle-state", {"state": "Terminated"})
    assert out["asg_state"] == "Terminating:Wait"
    tok = token(h)
    assert iget(h, "latest/meta-data/autoscaling/target-lifecycle-state", tok)[1] == "Terminated"
    with pytest.raises(ClientError):
        complete(h, hook=h.launch_hook)  # wrong hook: no active action for it
    complete(h, hook=h.terminate_hook, result="CONTINUE")
    assert asg_state(h) == "Terminating:Proceed"
    assert wait_for(lambda: asg_state(h) == "Terminated", 3)
    # A test can take the instance out of the group: Describe then answers an empty list.
    h.control("POST", "/lifecycle/state", {"state": None})
    assert h.boto3_client("autoscaling").describe_auto_scaling_instances(
        InstanceIds=[h.instance_id])["AutoScalingInstances"] == []
    h.control("POST", "/lifecycle/state", {"state": "InService"})


def test_propagation_race_injection(h, lc):
    h.control("POST", "/lifecycle/state", {"state": "InService"})
    h.control("POST", "/imds/lifecycle-state", {"state": "Terminated"})
    h.control("POST", "/lifecycle/race", {"complete_failures": 2})
    for _ in range(2):
        with pytest.raises(ClientError) as e:
            complete(h, hook=h.terminate_hook)
        assert e.value.response["Error"]["Message"].startswith("No active Lifecycle Action found with instance ID")
        assert asg_state(h, "user") == "Terminating:Wait"
    complete(h, hook=h.terminate_hook)
    assert asg_state(h) == "Terminating:Proceed"
    calls = h.control("GET", "/lifecycle/calls?action=CompleteLifecycleAction")["calls"]
    assert [(c["outcome"], c["injected"]) for c in calls] == [
        ("ValidationError", True), ("ValidationError", True), ("OK", False)]
    h.control("POST", "/lifecycle/state", {"state": "InService"})


def test_heartbeat_timeout_applies_default_result(h, lc):
    h.control("POST", "/lifecycle/config", {"heartbeat_timeout": 1.5})
    h.control("POST", "/lifecycle/state", {"state": "Pending:Wait"})
    asg = h.boto3_client("autoscaling", "user")
    for _ in range(4):  # heartbeats keep the action alive past the bare timeout
        time.sleep(0.5)
        asg.record_lifecycle_action_heartbeat(LifecycleHookName=h.launch_hook, AutoScalingGroupName=h.asg,
                                              InstanceId=h.instance_id)
    assert asg_state(h) == "Pending:Wait"
    assert wait_for(lambda: asg_state(h) == "Terminating", 3)  # DefaultResult ABANDON
    snap = h.control("GET", "/lifecycle/state")["instances"][h.instance_id]
    assert snap["history"][-1]["cause"] == "timeout:ABANDON"
    with pytest.raises(ClientError) as e:
        complete(h)
    assert "No active Lifecycle Action found" in e.value.response["Error"]["Message"]
    h.control("POST", "/lifecycle/state", {"state": "InService"})


def test_lifecycle_validation_and_token(h, lc):
    h.control("POST", "/lifecycle/state", {"state": "Pending:Wait"})
    asg = h.boto3_client("autoscaling", "user")
    cases = [
        (dict(LifecycleHookName="nope", AutoScalingGroupName=h.asg, LifecycleActionResult="CONTINUE",
              InstanceId=h.instance_id), "No Lifecycle Hook found with name nope"),
        (dict(LifecycleHookName=h.launch_hook, AutoScalingGroupName="clock-nope", LifecycleActionResult="CONTINUE",
              InstanceId=h.instance_id), "AutoScalingGroup name not found"),
        (dict(LifecycleHookName=h.launch_hook, AutoScalingGroupName=h.asg, LifecycleActionResult="MAYBE",
              InstanceId=h.instance_id), "LifecycleActionResult"),
        (dict(LifecycleHookName=h.launch_hook, AutoScalingGroupName=h.asg, LifecycleActionResult="CONTINUE"),
         "InstanceId or LifecycleActionToken"),
    ]
    for args, text in cases:
        with pytest.raises(ClientError) as e:
            asg.complete_lifecycle_action(**args)
        assert code_of(e.value) == "ValidationError" and text in e.value.response["Error"]["Message"], args
    assert asg_state(h) == "Pending:Wait"
    tok = h.control("GET", "/lifecycle/state")["instances"][h.instance_id]["action"]["token"]
    with pytest.raises(ClientError) as e:
        complete(h, token="00000000-0000-0000-0000-000000000000")
    assert "No active Lifecycle Action found with token" in e.value.response["Error"]["Message"]
    complete(h, token=tok)
    assert asg_state(h) == "Pending:Proceed"
    h.control("POST", "/lifecycle/state", {"state": "InService"})


def test_lifecycle_calls_go_through_iam(h, lc):
    h.control("POST", "/lifecycle/state", {"state": "Pending:Wait"})
    try:
        h.control("POST", "/policy/remove", {"sids": ["ReportLifecycle"]})
        for who in ("user", "role"):
            with pytest.raises(ClientError) as e:
                complete(h, who=who)
            assert code_of(e.value) == "AccessDenied", who
            with pytest.raises(ClientError) as e:
                h.boto3_client("autoscaling", who).record_lifecycle_action_heartbeat(
                    LifecycleHookName=h.launch_hook, AutoScalingGroupName=h.asg, InstanceId=h.instance_id)
            assert code_of(e.value) == "AccessDenied"
        assert asg_state(h, "user") == "Pending:Wait"  # FindGroup is still granted
    finally:
        h.control("POST", "/policy/restore")
    complete(h, who="role")
    calls = h.control("GET", "/lifecycle/calls")["calls"]
    assert [c["outcome"] for c in calls] == ["AccessDenied"] * 4 + ["OK"]
    assert calls[-1]["access_key_id"].startswith("ASIA")
    h.control("POST", "/lifecycle/state", {"state": "InService"})


def test_set_instance_health_recorded(h, lc):
    asg = h.boto3_client("autoscaling", "user")
    asg.set_instance_health(InstanceId=h.instance_id, HealthStatus="Unhealthy", ShouldRespectGracePeriod=False)
    inst = asg.describe_auto_scaling_instances(InstanceIds=[h.instance_id])["AutoScalingInstances"][0]
    assert inst["HealthStatus"].lower() == "unhealthy"
    asg.set_instance_health(InstanceId=h.instance_id, HealthStatus="Healthy")
    calls = h.control("GET", "/lifecycle/calls?action=SetInstanceHealth")["calls"]
    assert [(c["health_status"], c["should_respect_grace_period"], c["outcome"]) for c in calls] == [
        ("Unhealthy", False, "OK"), ("Healthy", None, "OK")]


# -- IMDS fake ----------------------------------------------------------------------------
def test_imds_token_semantics(h, imds):
    assert imds_req(h, "PUT", "latest/api/token")[0] == 400                       # TTL header missing
    for bad in ("0", "21601", "-5", "abc"):
        assert imds_req(h, "PUT", "latest/api/token", {"X-aws-ec2-metadata-token-ttl-seconds": bad})[0] == 400
    st, tok, hdrs = imds_req(h, "PUT", "latest/api/token", {"X-aws-ec2-metadata-token-ttl-seconds": "21600"})
    assert st == 200 and tok and hdrs["X-aws-ec2-metadata-token-ttl-seconds"] == "21600"
    assert imds_req(h, "PUT", "latest/api/token", {"X-aws-ec2-metadata-token-ttl-seconds": "1"})[0] == 200
    assert imds_req(h, "GET", "latest/meta-data/instance-id")[0] == 401           # v2 only
    assert iget(h, "latest/meta-data/instance-id", "forged")[0] == 401
    assert imds_req(h, "GET", "latest/meta-data/nope")[0] == 401                  # token check comes first
    st, body, hdrs = iget(h, "latest/meta-data/instance-id", tok)
    assert (st, body) == (200, h.instance_id) and int(hdrs["X-aws-ec2-metadata-token-ttl-seconds"]) > 21000
    short = token(h, ttl=1)
    assert iget(h, "latest/meta-data/instance-id", short)[0] == 200
    time.sleep(1.1)
    assert iget(h, "latest/meta-data/instance-id", short)[0] == 401               # expired
    # Forced expiry of every token.
    h.control("POST", "/imds/faults", {"expire_tokens": True})
    assert iget(h, "latest/meta-data/instance-id", tok)[0] == 401
    # Request log: method, path, token validity, status.
    log = h.control("GET", "/imds/requests")["requests"]
    gets = [(r["path"], r["token"], r["status"]) for r in log if r["method"] == "GET"]
    assert ("/latest/meta-data/instance-id", "missing", 401) in gets
    assert ("/latest/meta-data/instance-id", "valid", 200) in gets
    assert ("/latest/meta-data/instance-id", "expired", 401) in gets
    assert ("/latest/meta-data/instance-id", "invalid", 401) in gets


def test_imds_items_and_listings(h, imds):
    tok = token(h)
    g = lambda p: iget(h, p, tok)  # noqa: E731
    assert g("latest/meta-data/placement/region")[1] == "us-east-1"
    assert g("latest/meta-data/placement/availability-zone")[1] == "us-east-1a"
    assert g("latest/meta-data/placement/availability-zone-id")[1] == "use1-az1"
    assert g("latest/meta-data/local-hostname")[1].endswith(".ec2.internal")
    top = g("latest/meta-data/")[1].split("\n")
    for item in ("instance-id", "placement/", "iam/", "local-hostname", "tags/"):
        assert item in top
    assert "autoscaling/" not in top and "spot/" not in top
    assert g("latest/meta-data/iam/security-credentials/")[1] == "clock-agent-role"
    info = json.loads(g("latest/meta-data/iam/info")[1])
    assert info["Code"] == "Success" and info["InstanceProfileArn"].endswith(":instance-profile/clock-agent-role")
    assert set(info) == {"Code", "LastUpdated", "InstanceProfileArn", "InstanceProfileId"}
    assert "aws:autoscaling:groupName" in g("latest/meta-data/tags/instance/")[1].split("\n")
    assert g("latest/meta-data/tags/instance/aws:autoscaling:groupName")[1] == "clock-asg"
    doc = json.loads(g("latest/dynamic/instance-identity/document")[1])
    assert (doc["instanceId"], doc["region"], doc["availabilityZone"], doc["accountId"]) == \
        (h.instance_id, "us-east-1", "us-east-1a", "123456789012")
    for absent in ("latest/meta-data/autoscaling/target-lifecycle-state", "latest/meta-data/spot/instance-action",
                   "latest/meta-data/events/recommendations/rebalance", "latest/meta-data/nope",
                   "latest/meta-data/iam/security-credentials-extended/clock-agent-role"):
        assert g(absent)[0] == 404, absent
    h.control("POST", "/imds/tags", {"enabled": False})
    assert g("latest/meta-data/tags/instance/aws:autoscaling:groupName")[0] == 404
    h.control("POST", "/imds/lifecycle-state", {"state": "InService"})
    assert g("latest/meta-data/autoscaling/target-lifecycle-state")[1] == "InService"
    h.control("POST", "/imds/lifecycle-state", {"state": None})
    assert g("latest/meta-data/autoscaling/target-lifecycle-state")[0] == 404
    when = "2030-01-01T00:02:00Z"
    h.control("POST", "/imds/spot", {"action": "terminate", "time": when})
    assert json.loads(g("latest/meta-data/spot/instance-action")[1]) == {"action": "terminate", "time": when}
    h.control("POST", "/imds/spot", None)
    assert g("latest/meta-data/spot/instance-action")[0] == 404
    h.control("POST", "/imds/rebalance", {"noticeTime": when})
    assert json.loads(g("latest/meta-data/events/recommendations/rebalance")[1]) == {"noticeTime": when}


def test_imds_credential_controls(h, imds):
    c = h.imds_credentials()
    assert set(c) == {"Code", "LastUpdated", "Type", "AccessKeyId", "SecretAccessKey", "Token", "Expiration"}
    assert dt.datetime.fromisoformat(c["Expiration"].replace("Z", "+00:00")) > dt.datetime.now(dt.timezone.utc)
    h.control("POST", "/imds/credentials", {"expiration": "2020-01-01T00:00:00Z"})
    assert h.imds_credentials()["Expiration"] == "2020-01-01T00:00:00Z"      # already expired
    h.control("POST", "/imds/credentials", {"expires_in": 60})
    left = dt.datetime.fromisoformat(h.imds_credentials()["Expiration"].replace("Z", "+00:00")) - \
        dt.datetime.now(dt.timezone.utc)
    assert 30 < left.total_seconds() <= 61
    h.control("POST", "/imds/credentials", {"code": "AssumeRoleUnauthorizedAccess"})
    bad = h.imds_credentials()
    assert bad["Code"] == "AssumeRoleUnauthorizedAccess" and "AccessKeyId" not in bad


def test_imds_faults(h, imds):
    tok = token(h)
    h.control("POST", "/imds/faults", {"error_500": 2, "error_500_prefix": "/latest/meta-data/iam/"})
    assert iget(h, "latest/meta-data/instance-id", tok)[0] == 200            # other prefix unaffected
    assert iget(h, "latest/meta-data/iam/info", tok)[0] == 500
    assert iget(h, "latest/meta-data/iam/info", tok)[0] == 500
    assert iget(h, "latest/meta-data/iam/info", tok)[0] == 200
    h.control("POST", "/imds/faults", {"token_403": True})
    assert imds_req(h, "PUT", "latest/api/token", {"X-aws-ec2-metadata-token-ttl-seconds": "60"})[0] == 403
    h.control("POST", "/imds/faults", {"token_403": False, "token_delay_ms": 3000})
    t0 = time.monotonic()
    with pytest.raises((socket.timeout, TimeoutError, urllib.error.URLError)):
        imds_req(h, "PUT", "latest/api/token", {"X-aws-ec2-metadata-token-ttl-seconds": "60"}, timeout=1.0)
    assert time.monotonic() - t0 < 2.5                                       # hop-limit symptom: PUT times out
    h.control("POST", "/imds/faults", {"token_delay_ms": 0, "get_delay_ms": 300})
    t0 = time.monotonic()
    assert iget(h, "latest/meta-data/instance-id", tok)[0] == 200
    assert time.monotonic() - t0 >= 0.3
    h.control("POST", "/imds/faults", {"get_delay_ms": 0, "down": "reset"})
    with pytest.raises((ConnectionResetError, urllib.error.URLError, http.client.RemoteDisconnected)) as e:
        iget(h, "latest/meta-data/instance-id", tok)
    assert "reset" in repr(e.value).lower() or isinstance(e.value, ConnectionResetError)
    h.control("POST", "/imds/faults", {"down": "close"})
    with pytest.raises((http.client.RemoteDisconnected, ConnectionError, urllib.error.URLError)):
        iget(h, "latest/meta-data/instance-id", tok)
    h.control("POST", "/imds/faults", {"down": "refuse", "down_seconds": 1.0})
    with pytest.raises(urllib.error.URLError) as e:
        iget(h, "latest/meta-data/instance-id", tok)
    assert isinstance(e.value.reason, ConnectionRefusedError)
    assert wait_for(lambda: h.control("GET", "/healthz")["imds_listening"], 5)
    assert iget(h, "latest/meta-data/instance-id", tok)[0] == 200           # back on the same port
    h.control("POST", "/imds/faults", {"down": "hang", "down_seconds": 0.5})
    t0 = time.monotonic()
    with pytest.raises(Exception):
        iget(h, "latest/meta-data/instance-id", tok)
    assert time.monotonic() - t0 >= 0.4


# -- strict CloudWatch Logs sink ----------------------------------------------------------
@pytest.mark.skipif(not os.path.isdir(SIGV4_DIR), reason=f"{SIGV4_DIR} not present")
def test_sigv4_verifier_against_aws_test_suite():
    """The sink's verifier accepts every signed request of AWS's SigV4 suite and rebuilds its canonical request."""
    cases = sorted(os.listdir(SIGV4_DIR))
    cases = [c for c in cases if os.path.isdir(os.path.join(SIGV4_DIR, c))]
    assert len(cases) == 38
    now = dt.datetime(2015, 8, 30, 12, 36, tzinfo=dt.timezone.utc)
    for case in cases:
        d = os.path.join(SIGV4_DIR, case)
        ctx = json.load(open(os.path.join(d, "context.json")))
        raw = open(os.path.join(d, "header-signed-request.txt"), "rb").read().decode("utf-8")
        head, _, body = raw.partition("\n\n")
        lines = head.split("\n")
        method, rest = lines[0].split(" ", 1)
        target = rest.rsplit(" HTTP/", 1)[0]
        pairs = []
        for line in lines[1:]:
            if line.startswith((" ", "\t")) and pairs:
                pairs[-1] = (pairs[-1][0], pairs[-1][1] + "\n" + line)
            else:
                k, _, v = line.partition(":")
                pairs.append((k, v))
        c = ctx["credentials"]
        # With omit_session_token the token is sent but not signed; the verifier still checks its value.
        cred = sigv4.Credential(c["access_key_id"], c["secret_access_key"], c.get("token"), "arn:test")
        sigv4.verify(method, target, pairs, body.encode(), service="service", region="us-east-1",
                     lookup=lambda akid: cred if akid == c["access_key_id"] else None, now=now,
                     normalize=ctx["normalize"])
        auth = sigv4.parse_authorization(dict((k.lower(), v) for k, v in pairs)["authorization"])
        creq = sigv4.canonical_request(method, target.partition("?")[0], target.partition("?")[2], pairs,
                                       auth.signed_headers, hashlib.sha256(body.encode()).hexdigest(),
                                       normalize=ctx["normalize"])
        assert creq == open(os.path.join(d, "header-canonical-request.txt")).read(), case


def test_sink_happy_path_keepalive_gzip_and_stats(h, sink):
    make_stream(h)
    u = urlsplit(h.sink)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    t = now_ms()
    st, out, hdrs = put(h, [{"timestamp": t, "message": "one"}, {"timestamp": t + 1, "message": "two"}], conn=conn)
    assert st == 200 and "rejectedLogEventsInfo" not in out and hdrs["x-amzn-RequestId"]
    st, out, _ = put(h, [{"timestamp": t + 2, "message": "three"}], conn=conn, gzip_body=True)  # same connection
    assert st == 200
    conn.close()
    st, out, _ = sink_call(h, "CreateLogStream", {"logGroupName": "/clock/app", "logStreamName": "s1"})
    assert (st, out["__type"]) == (400, "ResourceAlreadyExistsException")
    st, out, _ = sink_call(h, "CreateLogGroup", {"logGroupName": "/clock/app"})
    assert (st, out["__type"]) == (400, "ResourceAlreadyExistsException")
    assert sink_call(h, "PutRetentionPolicy", {"logGroupName": "/clock/app", "retentionInDays": 30})[0] == 200
    st, out, _ = sink_call(h, "PutRetentionPolicy", {"logGroupName": "/clock/app", "retentionInDays": 2})
    assert (st, out["__type"]) == (400, "InvalidParameterException")
    st, out, _ = sink_call(h, "DescribeLogStreams", {"logGroupName": "/clock/app"}, who="admin")
    assert st == 200 and [s["logStreamName"] for s in out["logStreams"]] == ["s1"]
    # DescribeLogGroups: ASCII order, `limit` per page, the rest behind nextToken.
    assert sink_call(h, "CreateLogGroup", {"logGroupName": "/clock/app-old"})[0] == 200
    st, out, _ = sink_call(h, "DescribeLogGroups", {"logGroupNamePrefix": "/clock/app", "limit": 1})
    assert st == 200 and [(g["logGroupName"], g.get("retentionInDays")) for g in out["logGroups"]] == [("/clock/app", 30)]
    st, out, _ = sink_call(h, "DescribeLogGroups", {"logGroupNamePrefix": "/clock/app", "limit": 1,
                                                    "nextToken": out["nextToken"]})
    assert [g["logGroupName"] for g in out["logGroups"]] == ["/clock/app-old"] and "nextToken" not in out
    st, out, _ = sink_call(h, "DescribeLogGroups", {"limit": 51})
    assert (st, out["__type"]) == (400, "InvalidParameterException")
    logs = h.boto3_client("logs", endpoint_url=h.sink)           # plain boto3 also works against the sink
    got = logs.get_log_events(logGroupName="/clock/app", logStreamName="s1", startFromHead=True)
    assert [e["message"] for e in got["events"]] == ["one", "two", "three"]
    ev = h.control("GET", "/sink/events?group=/clock/app&stream=s1")["events"]
    assert [e["message"] for e in ev] == ["one", "two", "three"] and all("accepted_at" in e for e in ev)
    stats = h.control("GET", "/sink/stats")
    assert stats["events_accepted"] == 3 and stats["describe_log_streams_calls"] == 1
    assert stats["gzip_requests"] == 1 and stats["put_log_events_calls"] == 2
    assert stats["message_bytes_accepted"] == len("onetwothree")
    assert stats["batch_bytes_accepted"] == len("onetwothree") + 3 * 26
    assert stats["errors"]["ResourceAlreadyExistsException"] == 2
    assert sum(b["requests"] for b in stats["timeline"]) == stats["requests_total"]


def _curl_has_sigv4() -> bool:
    try:
        out = subprocess.run(["curl", "--help", "all"], capture_output=True, timeout=5).stdout
    except (OSError, subprocess.TimeoutExpired):
        return False
    return b"--aws-sigv4" in out


@pytest.mark.skipif(not _curl_has_sigv4(), reason="curl without --aws-sigv4")
def test_sink_accepts_curl_sigv4(h, sink):
    """A third, independent signer (curl --aws-sigv4, what libcurl users may rely on) passes the sink's check."""
    def curl(op, body, secret=None):
        secret = secret or h.user["secret_access_key"]
        p = subprocess.run(["curl", "-sS", "--max-time", "10", "--aws-sigv4", f"aws:amz:{h.region}:logs",
                            "--user", f"{h.user['access_key_id']}:{secret}",
                            "-H", "Content-Type: application/x-amz-json-1.1",
                            "-H", f"X-Amz-Target: Logs_20140328.{op}", "-w", "\n%{http_code}",
                            "--data-binary", "@-", h.sink + "/"],
                           input=json.dumps(body).encode(), capture_output=True, timeout=15)
        text, _, status = p.stdout.decode().rpartition("\n")
        return int(status), json.loads(text)
    assert curl("CreateLogGroup", {"logGroupName": "/clock/app"}) == (200, {})
    assert curl("CreateLogStream", {"logGroupName": "/clock/app", "logStreamName": "c"}) == (200, {})
    big = [{"timestamp": now_ms(), "message": "x" * 1000}] * 200   # ~200 KB body
    st, out = curl("PutLogEvents", {"logGroupName": "/clock/app", "logStreamName": "c", "logEvents": big})
    assert st == 200 and "nextSequenceToken" in out
    st, out = curl("CreateLogGroup", {"logGroupName": "/clock/x"}, secret="wrong")
    assert (st, out["__type"]) == (400, "InvalidSignatureException")


def test_sink_put_log_events_limits(h, sink):
    make_stream(h)
    t = now_ms()
    ok = {"timestamp": t, "message": "x"}

    def err(events, **kw):
        st, out, _ = put(h, events, **kw)
        assert st == 400, out
        return out["__type"], out["message"]

    assert err([]) == ("InvalidParameterException", err([])[1])
    assert "greater than or equal to 1" in err([])[1]
    assert "less than or equal to 10000" in err([ok] * 10_001)[1]
    assert put(h, [{"timestamp": t, "message": "y" * 10}] * 10_000)[0] == 200
    # Batch size: sum(bytes + 26) <= 1,048,576.
    per = 1_048_576 // 2 - 26
    assert put(h, [{"timestamp": t, "message": "a" * per}] * 2)[0] == 200                 # exactly the limit
    typ, msg = err([{"timestamp": t, "message": "a" * per}, {"timestamp": t, "message": "a" * (per + 1)}])
    assert typ == "InvalidParameterException" and "Upload too large: 1048577 bytes" in msg
    # Event size: message <= 1,048,550 bytes (event = message + 26 <= 1,048,576).
    assert put(h, [{"timestamp": t, "message": "b" * 1_048_550}])[0] == 200
    typ, msg = err([{"timestamp": t, "message": "b" * 1_048_551}])
    assert typ == "InvalidParameterException" and "Log event too large" in msg
    typ, msg = err([ok, {"timestamp": t, "message": ""}])
    assert typ == "InvalidParameterException" and "logEvents.2.member.message" in msg
    typ, msg = err([{"timestamp": t, "message": "late"}, {"timestamp": t - 1, "message": "early"}])
    assert typ == "InvalidParameterException" and "chronological order" in msg
    day = 24 * 3600 * 1000
    typ, msg = err([{"timestamp": t - day - 1, "message": "a"}, {"timestamp": t, "message": "b"}])
    assert typ == "InvalidParameterException" and "span more than 24 hours" in msg
    assert put(h, [{"timestamp": t - day, "message": "a"}, {"timestamp": t, "message": "b"}])[0] == 200
    st, out, _ = put(h, [ok], stream="missing")
    assert (st, out["__type"]) == (400, "ResourceNotFoundException")
    st, out, _ = put(h, [ok], group="/clock/missing")
    assert (st, out["__type"]) == (400, "ResourceNotFoundException")
    # Rejected calls stored nothing ("whole call rejected").
    stored = h.control("GET", "/sink/events?group=/clock/app&stream=s1")["events"]
    assert len(stored) == 10_000 + 2 + 1 + 2


def test_sink_rejected_log_events_info(h, sink):
    make_stream(h)
    t = now_ms()
    day, hour = 24 * 3600 * 1000, 3600 * 1000
    events = [{"timestamp": t - 15 * day, "message": "old1"}, {"timestamp": t - 14 * day - 60_000, "message": "old2"},
              {"timestamp": t - hour, "message": "ok1"}, {"timestamp": t, "message": "ok2"},
              {"timestamp": t + 2 * hour + 60_000, "message": "new1"}]
    st, out, _ = put(h, events)
    assert st == 200
    assert out["rejectedLogEventsInfo"] == {"tooOldLogEventEndIndex": 2, "tooNewLogEventStartIndex": 4}
    assert [e["message"] for e in h.control("GET", "/sink/events?group=/clock/app&stream=s1")["events"]] == \
        ["ok1", "ok2"]
    # Retention: events older than the group's retention are 'expired'.
    make_stream(h, group="/clock/short", stream="s")
    assert sink_call(h, "PutRetentionPolicy", {"logGroupName": "/clock/short", "retentionInDays": 1})[0] == 200
    st, out, _ = put(h, [{"timestamp": t - 3 * day, "message": "e1"}, {"timestamp": t - 2 * day, "message": "e2"},
                         {"timestamp": t, "message": "fine"}], group="/clock/short", stream="s")
    assert st == 200 and out["rejectedLogEventsInfo"] == {"expiredLogEventEndIndex": 2}
    assert h.control("GET", "/sink/stats")["rejected_events"] == {"tooOld": 2, "tooNew": 1, "expired": 2}


def test_sink_invalid_utf8_replaced(h, sink):
    make_stream(h)
    t = now_ms()
    raw = (b'{"logGroupName":"/clock/app","logStreamName":"s1","logEvents":[{"timestamp":%d,"message":"bad \xff\xfe end'
           b' \xe2\x82\xac"}]}' % t)
    st, out, _ = sink_call(h, "PutLogEvents", raw=raw)
    assert st == 200, out
    ev = h.control("GET", "/sink/events?group=/clock/app&stream=s1")["events"]
    assert ev[0]["message"] == "bad \ufffd\ufffd end \u20ac"
    stats = h.control("GET", "/sink/stats")
    assert stats["invalid_utf8_replacements"] == 2
    assert stats["message_bytes_accepted"] == len("bad \ufffd\ufffd end \u20ac".encode())


def test_sink_sigv4_failures(h, sink, monkeypatch):
    payload = {"logGroupName": "/clock/app"}
    user = creds_for(h, "user")
    st, out, _ = sink_call(h, "CreateLogGroup", payload, credentials=Credentials(user.access_key, "wrong-secret"))
    assert (st, out["__type"]) == (400, "InvalidSignatureException")
    assert "signature we calculated does not match" in out["message"] and "Canonical String" in out["message"]
    st, out, _ = sink_call(h, "CreateLogGroup", payload, credentials=Credentials("AKIANOBODY0000000000", "x"))
    assert (st, out["__type"]) == (400, "UnrecognizedClientException")
    role = creds_for(h, "role")
    st, out, _ = sink_call(h, "CreateLogGroup", payload,
                           credentials=Credentials(role.access_key, role.secret_key, "wrong-token"))
    assert (st, out["__type"]) == (400, "UnrecognizedClientException")
    st, out, _ = sink_call(h, "CreateLogGroup", payload, sign=False)
    assert (st, out["__type"]) == (400, "MissingAuthenticationTokenException")
    st, out, _ = sink_call(h, "CreateLogGroup", payload, service="s3")
    assert (st, out["__type"]) == (400, "InvalidSignatureException") and "'logs'" in out["message"]
    # Body changed after signing.
    body = json.dumps(payload).encode()
    req = AWSRequest("POST", h.sink + "/", data=body, headers={"Content-Type": "application/x-amz-json-1.1",
                                                               "X-Amz-Target": "Logs_20140328.CreateLogGroup"})
    SigV4Auth(user, "logs", h.region).add_auth(req)
    u = urlsplit(h.sink)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    tampered = json.dumps({"logGroupName": "/clock/evil"}).encode()
    hdrs = dict(req.headers)
    hdrs["Content-Length"] = str(len(tampered))
    c.request("POST", "/", body=tampered, headers=hdrs)
    r = c.getresponse()
    assert (r.status, json.loads(r.read())["__type"]) == (400, "InvalidSignatureException")
    c.close()
    # Clock skew beyond 5 minutes.
    skewed = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None) - dt.timedelta(minutes=10)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda *a, **k: skewed)
    st, out, _ = sink_call(h, "CreateLogGroup", payload)
    assert (st, out["__type"]) == (400, "InvalidSignatureException")
    assert out["message"].startswith("Signature expired:")
    monkeypatch.undo()
    # Role (temporary) credentials with the right token pass.
    assert sink_call(h, "CreateLogGroup", payload, who="role")[0] == 200
    stats = h.control("GET", "/sink/stats")
    assert stats["errors"]["InvalidSignatureException"] == 4


def test_sink_iam_policy_is_resource_scoped(h, sink):
    st, out, _ = sink_call(h, "CreateLogGroup", {"logGroupName": "/other/app"})
    assert (st, out["__type"]) == (400, "AccessDeniedException")
    assert "logs:CreateLogGroup" in out["message"] and h.user_arn in out["message"]
    make_stream(h)
    st, out, _ = sink_call(h, "DescribeLogStreams", {"logGroupName": "/clock/app"})     # not in the policy
    assert (st, out["__type"]) == (400, "AccessDeniedException")
    assert h.control("GET", "/sink/stats")["describe_log_streams_calls"] == 1
    try:
        h.control("POST", "/policy/remove", {"sids": ["ShipLogs"]})
        for who in ("user", "role"):
            st, out, _ = put(h, [{"timestamp": now_ms(), "message": "m"}], who=who)
            assert (st, out["__type"]) == (400, "AccessDeniedException"), who
    finally:
        h.control("POST", "/policy/restore")
    assert put(h, [{"timestamp": now_ms(), "message": "m"}], who="role")[0] == 200


def test_sink_faults(h, sink):
    make_stream(h)
    ev = lambda m: [{"timestamp": now_ms(), "message": m}]  # noqa: E731
    h.control("POST", "/sink/faults", {"throttle": 1, "error_500": 1, "error_503": 1})
    st, out, _ = put(h, ev("a"))
    assert (st, out["__type"], out["message"]) == (400, "ThrottlingException", "Rate exceeded")
    st, out, _ = put(h, ev("a"))
    assert (st, out["__type"]) == (500, "ServiceUnavailableException")
    st, out, _ = put(h, ev("a"))
    assert (st, out["__type"]) == (503, "ServiceUnavailableException")
    assert put(h, ev("a"))[0] == 200
    h.control("POST", "/sink/faults", {"reset": 1})
    with pytest.raises((ConnectionResetError, http.client.RemoteDisconnected)):
        put(h, ev("lost"))
    h.control("POST", "/sink/faults", {"reset_after_store": 1})
    with pytest.raises((ConnectionResetError, http.client.RemoteDisconnected)):
        put(h, ev("stored-but-unacknowledged"))
    msgs = [e["message"] for e in h.control("GET", "/sink/events?group=/clock/app&stream=s1")["events"]]
    assert msgs == ["a", "stored-but-unacknowledged"]
    h.control("POST", "/sink/faults", {"down_seconds": 0.5})
    with pytest.raises((ConnectionResetError, http.client.RemoteDisconnected)):
        put(h, ev("down"))
    time.sleep(0.6)
    assert put(h, ev("up"))[0] == 200
    h.control("POST", "/sink/faults", {"down_seconds": 0.5, "down_mode": "503"})
    st, out, _ = put(h, ev("down"))
    assert (st, out["__type"]) == (503, "ServiceUnavailableException")
    h.control("POST", "/sink/faults", {"clear": True, "latency_ms": 300})
    t0 = time.monotonic()
    assert put(h, ev("slow"))[0] == 200
    assert time.monotonic() - t0 >= 0.3
    h.control("POST", "/sink/faults", {"latency_ms": 0, "rate_limit": 2})
    codes = [put(h, ev("r"))[0] for _ in range(12)]
    assert codes.count(200) >= 2 and codes.count(400) >= 3, codes
    h.control("POST", "/sink/faults", {"clear": True})
    h.control("POST", "/sink/delete", {"group": "/clock/app", "stream": "s1"})
    st, out, _ = put(h, ev("x"))
    assert (st, out["__type"], out["message"]) == (400, "ResourceNotFoundException",
                                                   "The specified log stream does not exist.")
    make_stream(h)
    assert put(h, ev("after-recreate"))[0] == 200
    h.control("POST", "/sink/delete", {"group": "/clock/app"})
    st, out, _ = put(h, ev("x"))
    assert (st, out["message"]) == (400, "The specified log group does not exist.")
    stats = h.control("GET", "/sink/stats")
    assert stats["injected"]["throttle"] == 1 and stats["injected"]["rate_limit"] >= 3
    assert stats["errors"]["ThrottlingException"] >= 4


def test_control_api_errors(h):
    with pytest.raises(ControlError) as e:
        h.control("GET", "/nope")
    assert e.value.status == 404 and "/sink/stats" in e.value.body["routes"]
    with pytest.raises(ControlError) as e:
        h.control("POST", "/lifecycle/state", {"state": "Bogus"})
    assert e.value.status == 400
    with pytest.raises(ControlError) as e:
        h.control("POST", "/policy/remove", {"sids": ["NoSuchSid"]})
    assert e.value.status == 400 and "NoSuchSid" in e.value.body["error"]


# -- request-rate quota (per account, per API) -------------------------------------------------
THROTTLED_BODY = b'{"__type":"ThrottlingException","message":"Rate exceeded"}'


def raw_call(h, op, payload, conn):
    """Like sink_call, but returns the raw answer bytes (the exact wire shape matters here)."""
    body = json.dumps(payload).encode()
    headers = {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": f"Logs_20140328.{op}"}
    req = AWSRequest("POST", h.sink + "/", data=body, headers=headers)
    SigV4Auth(creds_for(h, "user"), "logs", h.region).add_auth(req)
    conn.request("POST", "/", body=body, headers=dict(req.headers))
    resp = conn.getresponse()
    return resp.status, resp.read(), {k.lower(): v for k, v in resp.getheaders()}


def test_sink_quota_is_off_by_default_and_throttles_like_aws(h, sink):
    make_stream(h)
    assert h.control("GET", "/sink/quota") == {"enabled": False, "rate": None, "burst": None, "operations": {}}
    u = urlsplit(h.sink)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    ev = {"logGroupName": "/clock/app", "logStreamName": "s1", "logEvents": [{"timestamp": now_ms(), "message": "q"}]}
    try:
        assert [raw_call(h, "PutLogEvents", ev, conn)[0] for _ in range(20)] == [200] * 20  # no quota: no limit
        assert h.control("POST", "/sink/quota", {"rate": 4, "burst": 4})["enabled"] is True
        answers = [raw_call(h, "PutLogEvents", ev, conn) for _ in range(12)]
        codes = [a[0] for a in answers]
        # A full bucket of 4, then (with a little refill while 12 requests are made) throttling.
        assert 4 <= codes.count(200) <= 6 and codes[:4] == [200] * 4, codes
        refused = [a for a in answers if a[0] != 200]
        assert refused
        for status, body, headers in refused:
            assert (status, body) == (400, THROTTLED_BODY)
            assert headers["content-type"] == "application/x-amz-json-1.1" and headers["x-amzn-requestid"]
        # A throttled request takes no token: after a pause the bucket refills at the quota's rate.
        time.sleep(0.6)
        assert raw_call(h, "PutLogEvents", ev, conn)[0] == 200
        stats = h.control("GET", "/sink/stats")
        assert stats["throttled"] == {"PutLogEvents": len(refused)} == {"PutLogEvents": stats["throttled_total"]}
        assert sum(t.get("throttled", 0) for t in stats["timeline"]) == len(refused)
        assert sum(t.get("throttled:PutLogEvents", 0) for t in stats["timeline"]) == len(refused)
        assert stats["events_accepted"] == 20 + codes.count(200) + 1
        # boto3 reads the answer as AWS's ThrottlingException (its one retry is throttled too).
        h.control("POST", "/sink/quota", {"rate": 0.2, "burst": 1})
        logs = h.boto3_client("logs", "admin", endpoint_url=h.sink)
        logs.describe_log_groups()
        with pytest.raises(ClientError) as e:
            logs.describe_log_groups()
        assert code_of(e.value) == "ThrottlingException"
        assert e.value.response["Error"]["Message"] == "Rate exceeded"
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
        h.control("POST", "/sink/quota", None)
        assert [raw_call(h, "PutLogEvents", ev, conn)[0] for _ in range(10)] == [200] * 10
    finally:
        conn.close()


def test_sink_quota_per_operation(h, sink):
    make_stream(h)
    h.control("POST", "/sink/quota", {"operations": {"CreateLogStream": {"rate": 1, "burst": 2}}})
    assert h.control("GET", "/sink/quota")["operations"] == {"CreateLogStream": {"rate": 1.0, "burst": 2.0}}
    u = urlsplit(h.sink)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    try:
        creates = [raw_call(h, "CreateLogStream", {"logGroupName": "/clock/app", "logStreamName": f"n{i}"}, conn)
                   for i in range(5)]
        assert [c[0] for c in creates[:2]] == [200, 200]
        assert [c[1] for c in creates[2:]] == [THROTTLED_BODY] * 3
        # Other operations are not limited by CreateLogStream's quota.
        ev = {"logGroupName": "/clock/app", "logStreamName": "s1",
              "logEvents": [{"timestamp": now_ms(), "message": "p"}]}
        assert [raw_call(h, "PutLogEvents", ev, conn)[0] for _ in range(10)] == [200] * 10
        assert h.control("GET", "/sink/stats")["throttled"] == {"CreateLogStream": 3}
    finally:
        conn.close()
    with pytest.raises(ControlError) as e:
        h.control("POST", "/sink/quota", {"rate": 0})
    assert e.value.status == 400
    with pytest.raises(ControlError) as e:
        h.control("POST", "/sink/quota", {"operations": {"PutLogEvents": {"burst": 3}}})
    assert e.value.status == 400
    # A reset switches the quota off again.
    h.control("POST", "/sink/reset")
    assert h.control("GET", "/sink/quota")["enabled"] is False


def test_parse_quota():
    from clockharness.sink import parse_quota
    assert parse_quota("rate=50") == {"rate": 50.0}
    assert parse_quota("rate=50,burst=100") == {"rate": 50.0, "burst": 100.0}
    assert parse_quota("PutLogEvents=100, CreateLogStream=5/10") == {"operations": {
        "PutLogEvents": {"rate": 100.0, "burst": None}, "CreateLogStream": {"rate": 5.0, "burst": 10.0}}}
    for bad in ("rate", "burst=3", "rate=x"):
        with pytest.raises(ValueError):
            parse_quota(bad)


# -- a fleet: many instances in the ASG, an IMDS fake each ----------------------------------------------------
@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    work = tmp_path_factory.mktemp("fleet")
    with Harness(str(work), sink=True, instances=4, sink_quota="PutLogEvents=50,CreateLogStream=2/2",
                 ready_timeout=90) as harness:
        yield harness


def test_fleet_instances_have_their_own_imds_and_lifecycle(fleet):
    h = fleet
    insts = h.info["instances"]
    ids = [i["instance_id"] for i in insts]
    assert len(set(ids)) == 4 and ids[0] == h.instance_id and insts[0]["imds"] == h.imds
    assert len({i["imds"] for i in insts}) == 4
    asg = h.boto3_client("autoscaling", "user")
    described = asg.describe_auto_scaling_instances()["AutoScalingInstances"]
    assert {d["InstanceId"] for d in described} == set(ids)
    assert {d["LifecycleState"] for d in described} == {"Pending:Wait"}
    tokens = {}
    for inst in insts:
        base = inst["imds"]
        assert urlsplit(base).hostname == "127.0.0.1" and urlsplit(base).path == "/"
        req = urllib.request.Request(base + "latest/api/token", method="PUT",
                                     headers={"X-aws-ec2-metadata-token-ttl-seconds": "60"})
        with urllib.request.urlopen(req, timeout=5) as r:
            tokens[inst["instance_id"]] = r.read().decode()
        got = urllib.request.Request(base + "latest/meta-data/instance-id",
                                     headers={"X-aws-ec2-metadata-token": tokens[inst["instance_id"]]})
        with urllib.request.urlopen(got, timeout=5) as r:
            assert r.read().decode() == inst["instance_id"]
    # A token belongs to its instance's metadata service.
    other = urllib.request.Request(insts[1]["imds"] + "latest/meta-data/instance-id",
                                   headers={"X-aws-ec2-metadata-token": tokens[ids[2]]})
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(other, timeout=5)
    assert e.value.code == 401
    # Completing one instance's launch hook moves that instance only.
    asg.complete_lifecycle_action(LifecycleHookName="clock-launch", AutoScalingGroupName="clock-asg",
                                  LifecycleActionResult="CONTINUE", InstanceId=ids[2])
    fl = h.control("GET", "/fleet")["instances"]
    assert fl[ids[2]]["launch_result"] == "CONTINUE" and fl[ids[2]]["launch_completed_at"] is not None
    assert all(fl[i]["launch_completed_at"] is None for i in ids if i != ids[2])
    assert fl[ids[1]]["imds_requests"] == 3 and fl[ids[1]]["imds_by_path"]["PUT /latest/api/token"] == 1
    assert fl[ids[3]]["imds"] == insts[3]["imds"]
    # Per-instance IMDS request log and target lifecycle state.
    reqs = h.control("GET", f"/imds/requests?instance_id={ids[3]}")["requests"]
    assert [r["path"] for r in reqs] == ["/latest/api/token", "/latest/meta-data/instance-id"]
    out = h.control("POST", "/imds/lifecycle-state", {"state": "Terminated", "instance_id": ids[3]})
    assert out == {"imds_target_lifecycle_state": "Terminated", "asg_state": "Terminating:Wait"}
    got = urllib.request.Request(insts[3]["imds"] + "latest/meta-data/autoscaling/target-lifecycle-state",
                                 headers={"X-aws-ec2-metadata-token": tokens[ids[3]]})
    with urllib.request.urlopen(got, timeout=5) as r:
        assert r.read().decode() == "Terminated"
    assert h.control("GET", "/imds/state")["target_lifecycle_state"] is None  # the primary is untouched
    with pytest.raises(ControlError) as e:
        h.control("GET", "/imds/requests?instance_id=i-00000000000000000")
    assert e.value.status == 404
    # The instances' role credentials (one session each) are accepted by the sink; --sink-quota applied.
    assert h.control("GET", "/sink/quota")["operations"] == {
        "CreateLogStream": {"rate": 2.0, "burst": 2.0}, "PutLogEvents": {"rate": 50.0, "burst": 50.0}}
    env = h.agent_env(instance_id=ids[1])
    assert env["AWS_EC2_METADATA_SERVICE_ENDPOINT"] == insts[1]["imds"]
    # Requests are counted per instance (by the access key of its role session) at moto and at the sink.
    got = urllib.request.Request(insts[1]["imds"] + f"latest/meta-data/iam/security-credentials/{h.role}",
                                 headers={"X-aws-ec2-metadata-token": tokens[ids[1]]})
    with urllib.request.urlopen(got, timeout=5) as r:
        role = json.loads(r.read())
    creds = Credentials(role["AccessKeyId"], role["SecretAccessKey"], role["Token"])
    assert sink_call(h, "CreateLogGroup", {"logGroupName": "/clock/app"}, credentials=creds)[0] == 200
    h.boto3_client("autoscaling", aws_access_key_id=role["AccessKeyId"], aws_secret_access_key=role["SecretAccessKey"],
                   aws_session_token=role["Token"]).describe_auto_scaling_instances(InstanceIds=[ids[1]])
    fl = h.control("GET", "/fleet")["instances"]
    assert fl[ids[1]]["access_key_id"] == role["AccessKeyId"]
    assert fl[ids[1]]["sink_requests"] == {"CreateLogGroup": 1}
    assert fl[ids[1]]["moto_requests"] == {"autoscaling:DescribeAutoScalingInstances": 1}
    assert fl[ids[2]]["sink_requests"] == {} and fl[ids[2]]["moto_requests"] == {}
    moto = h.control("GET", "/moto/requests")
    assert moto["by_action"]["autoscaling:CompleteLifecycleAction"] == 1 and moto["busy_seconds"] > 0
