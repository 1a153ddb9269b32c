"""Every statement of packaging/iam/clock-agent-policy.json is needed, by exactly the calls that need it.

One harness (Tests/harness: moto with IAM enforcement + the strict CloudWatch Logs sink) serves the
module.  For each statement (Sid) the test removes it (`POST /policy/remove`, which rewrites the agent
user's inline policy and the role's managed policy; the sink follows too), then makes every AWS call the
agent makes, as the agent's IAM user and as its instance-profile role (credentials from the IMDS fake),
and checks that exactly the calls needing that statement are denied while all others still work.

Where moto's IAM model is coarser than AWS (see Tests/harness/README.md):
- moto evaluates resources for S3 only; the harness installs the non-S3 statements with Resource "*".
  The logs calls therefore go to the strict sink, which evaluates the real, resource-scoped ShipLogs
  statement (a group outside /clock/* is denied even with the full policy).  The ReportLifecycle scoping
  to `autoScalingGroupName/clock-*` is not evaluated by anything here.
- On AWS, GetObject/HeadObject of a missing key answer 404 only with s3:ListBucket (TellMissingArtifact),
  403 without.  moto 5.2.1 answers 404 either way, so the missing-key probe can only show the
  FetchArtifact dependency; TellMissingArtifact is shown by the s3:ListBucket grant itself (ListObjectsV2).
  MOTO_GAPS lists this; the per-statement test fails if moto starts answering like AWS (then drop the entry).
"""

from __future__ import annotations

import io
import json
import os
import sys
import tarfile
import time
from dataclasses import dataclass
from typing import Callable

import pytest
from botocore.exceptions import ClientError

from stacktools import HARNESS_DIR, POLICY_PATH

sys.path.insert(0, HARNESS_DIR)
from clockharness import Harness  # noqa: E402

PRINCIPALS = ("user", "role")
DENIED = "denied"


@dataclass(frozen=True)
class Probe:
    """One AWS call the agent makes, the statements it needs, and what a permitted call answers here."""
    name: str
    needs: frozenset
    call: Callable
    permitted: frozenset = frozenset({"ok"})


def _outcome(fn: Callable) -> str:
    try:
        fn()
        return "ok"
    except ClientError as e:
        code = e.response.get("Error", {}).get("Code", "")
        status = e.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if code in ("AccessDenied", "AccessDeniedException") or (status == 403 and code in ("403", "Forbidden")):
            return DENIED
        return code or str(status)


def probes(h: Harness) -> list[Probe]:
    s3 = lambda who: h.boto3_client("s3", who)  # noqa: E731
    asg = lambda who: h.boto3_client("autoscaling", who)  # noqa: E731
    logs = lambda who: h.boto3_client("logs", who, endpoint_url=h.sink)  # noqa: E731
    group, stream = h.log_group, f"{h.instance_id}/agent"
    now_ms = lambda: int(time.time() * 1000)  # noqa: E731

    def hooks(who):
        names = {x["LifecycleHookName"] for x in asg(who).describe_lifecycle_hooks(
            AutoScalingGroupName=h.asg)["LifecycleHooks"]}
        assert names == {h.launch_hook, h.terminate_hook}, names

    return [
        # Bootstrap: download the artifact (S3Client.getObject / headObject).
        Probe("s3:GetObject artifact", frozenset({"FetchArtifact"}),
              lambda who: s3(who).get_object(Bucket=h.bucket, Key=h.artifact_key)["Body"].read()),
        Probe("s3:HeadObject artifact", frozenset({"FetchArtifact"}),
              lambda who: s3(who).head_object(Bucket=h.bucket, Key=h.artifact_key)),
        # A missing artifact: 404 (the agent says "not found") instead of 403 (it would say "access denied").
        Probe("s3:HeadObject missing key -> 404", frozenset({"FetchArtifact", "TellMissingArtifact"}),
              lambda who: s3(who).head_object(Bucket=h.bucket, Key="no-such-artifact.tar.gz"), frozenset({"404"})),
        Probe("s3:GetObject missing key -> NoSuchKey", frozenset({"FetchArtifact", "TellMissingArtifact"}),
              lambda who: s3(who).get_object(Bucket=h.bucket, Key="no-such-artifact.tar.gz"),
              frozenset({"NoSuchKey"})),
        Probe("s3:ListBucket (the grant behind 404)", frozenset({"TellMissingArtifact"}),
              lambda who: s3(who).list_objects_v2(Bucket=h.bucket, MaxKeys=1)),
        # Log shipping, against the strict sink (resource-scoped evaluation of ShipLogs).
        Probe("logs:CreateLogGroup /clock/app", frozenset({"ShipLogs"}),
              lambda who: logs(who).create_log_group(logGroupName=group),
              frozenset({"ok", "ResourceAlreadyExistsException"})),
        Probe("logs:PutRetentionPolicy", frozenset({"ShipLogs"}),
              lambda who: logs(who).put_retention_policy(logGroupName=group, retentionInDays=30)),
        Probe("logs:CreateLogStream", frozenset({"ShipLogs"}),
              lambda who: logs(who).create_log_stream(logGroupName=group, logStreamName=stream),
              frozenset({"ok", "ResourceAlreadyExistsException"})),
        Probe("logs:PutLogEvents", frozenset({"ShipLogs"}),
              lambda who: logs(who).put_log_events(logGroupName=group, logStreamName=stream,
                                                   logEvents=[{"timestamp": now_ms(), "message": f"probe as {who}"}])),
        # Lifecycle reporting (the instance waits in Pending:Wait on the launch hook).
        Probe("autoscaling:RecordLifecycleActionHeartbeat", frozenset({"ReportLifecycle"}),
              lambda who: asg(who).record_lifecycle_action_heartbeat(
                  AutoScalingGroupName=h.asg, LifecycleHookName=h.launch_hook, InstanceId=h.instance_id)),
        # Completing the terminate hook while no terminate action is active: authorised, then ValidationError.
        Probe("autoscaling:CompleteLifecycleAction", frozenset({"ReportLifecycle"}),
              lambda who: asg(who).complete_lifecycle_action(
                  AutoScalingGroupName=h.asg, LifecycleHookName=h.terminate_hook, InstanceId=h.instance_id,
                  LifecycleActionResult="CONTINUE"), frozenset({"ValidationError"})),
        Probe("autoscaling:SetInstanceHealth", frozenset({"ReportLifecycle"}),
              lambda who: asg(who).set_instance_health(InstanceId=h.instance_id, HealthStatus="Healthy")),
        # Identity: the group of this instance when IMDS tags are off.
        Probe("autoscaling:DescribeAutoScalingInstances", frozenset({"FindGroup"}),
              lambda who: asg(who).describe_auto_scaling_instances(InstanceIds=[h.instance_id])),
        # doctor: the configured hooks exist on the group; the log group's retention.
        Probe("autoscaling:DescribeLifecycleHooks", frozenset({"CheckHooks"}), hooks),
        Probe("logs:DescribeLogGroups", frozenset({"CheckRetention"}),
              lambda who: logs(who).describe_log_groups(logGroupNamePrefix=group, limit=1)),
    ]


# moto 5.2.1 differences from AWS that change a probe's answer: (probe, removed Sid) -> moto's answer.
MOTO_GAPS = {
    ("s3:HeadObject missing key -> 404", "TellMissingArtifact"): "404",
    ("s3:GetObject missing key -> NoSuchKey", "TellMissingArtifact"): "NoSuchKey",
}


def policy_sids() -> list[str]:
    with open(POLICY_PATH) as f:
        return [s["Sid"] for s in json.load(f)["Statement"]]


@pytest.fixture(scope="module")
def h(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("iam-harness")
    artifact = workdir / "clock-app.tar.gz"
    with tarfile.open(artifact, "w:gz") as tar:
        data = b"print('web clock')\n"
        info = tarfile.TarInfo("app.py")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    with Harness(str(workdir / "h"), artifact=str(artifact), sink=True) as harness:
        # The agent creates its group and stream at start; make them exist for every run (as the admin).
        admin_logs = harness.boto3_client("logs", endpoint_url=harness.sink)
        admin_logs.create_log_group(logGroupName=harness.log_group)
        admin_logs.create_log_stream(logGroupName=harness.log_group, logStreamName=f"{harness.instance_id}/agent")
        yield harness


def run_probes(h: Harness, removed: list[str]) -> dict:
    h.control("POST", "/policy/remove", {"sids": removed})
    try:
        return {(p.name, who): _outcome(lambda: p.call(who)) for p in probes(h) for who in PRINCIPALS}
    finally:
        h.control("POST", "/policy/restore")


def expected_outcomes(p: Probe, removed: set) -> set:
    """What the probe must answer with these statements removed (moto's answer where MOTO_GAPS says so)."""
    gaps = {sid for sid in removed if (p.name, sid) in MOTO_GAPS}
    if p.needs & (removed - gaps):
        return {DENIED}
    if gaps:
        return {MOTO_GAPS[(p.name, sid)] for sid in gaps}
    return set(p.permitted)


def check(results: dict, h: Harness, removed: list[str]) -> list[str]:
    failures = []
    for p in probes(h):
        want = expected_outcomes(p, set(removed))
        for who in PRINCIPALS:
            if results[(p.name, who)] not in want:
                failures.append(f"{p.name} as {who}: got {results[(p.name, who)]}, expected one of {sorted(want)}")
    return failures


def table(results: dict) -> str:
    return "\n".join(f"  {name:48} {who:5} {outcome}" for (name, who), outcome in results.items())


def test_every_statement_is_covered_by_a_probe(h):
    needed = set().union(*(p.needs for p in probes(h)))
    assert set(policy_sids()) == needed, "a statement no probe needs, or a probe needing an unknown statement"
    assert h.control("GET", "/policy")["source"] == os.path.abspath(POLICY_PATH)


@pytest.mark.time_limit(30)
def test_full_policy_allows_every_agent_call(h):
    results = run_probes(h, [])
    print("full policy:\n" + table(results))
    assert check(results, h, []) == []
    # The sink evaluates ShipLogs with its resources: a group outside /clock/* is denied with the full policy.
    for who in PRINCIPALS:
        got = _outcome(lambda: h.boto3_client("logs", who, endpoint_url=h.sink).create_log_group(
            logGroupName="/other/app"))
        assert got == DENIED, who


@pytest.mark.time_limit(30)
@pytest.mark.parametrize("sid", policy_sids())
def test_removing_one_statement_breaks_exactly_the_calls_that_need_it(h, sid):
    results = run_probes(h, [sid])
    denied = sorted({name for (name, _), outcome in results.items() if outcome == DENIED})
    print(f"without {sid}: denied {denied}\n" + table(results))
    failures = check(results, h, [sid])
    assert not failures, f"without {sid}:\n" + "\n".join(failures)
    assert denied, f"removing {sid} broke nothing: the statement is not needed"


@pytest.mark.time_limit(30)
def test_without_any_statement_every_agent_call_is_denied(h):
    results = run_probes(h, policy_sids())
    print("no statement:\n" + table(results))
    assert {outcome for outcome in results.values()} == {DENIED}, table(results)
