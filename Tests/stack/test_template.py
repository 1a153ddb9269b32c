"""packaging/cloudformation/clock-stack.yaml: cfn-lint, and the properties moto cannot show.

moto's CloudFormation (test_deploy_moto.py) skips several resource types and properties (lifecycle
hooks, notifications, alarms, bucket policy and versioning, ...).  What it cannot show is checked
here on the template itself, so that a change that drops one of them still fails a test.  The
daily-export Lambda's inline code is run against moto's CloudWatch Logs and S3.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import os
import shutil
import subprocess
import sys
import types

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from stacktools import POLICY_PATH, REPO, TEMPLATE_PATH, load_template, user_data_sub


def resources_of(template: dict, type_: str) -> dict:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == type_}


def props(template: dict, logical_id: str) -> dict:
    return template["Resources"][logical_id].get("Properties", {})


# -- cfn-lint ---------------------------------------------------------------------------------------
def cfn_lint_command() -> list[str]:
    exe = shutil.which("cfn-lint")
    if exe:
        return [exe]
    try:
        import cfnlint  # noqa: F401
    except ImportError:
        pytest.fail("cfn-lint is not installed (pip install cfn-lint==1.51.0): the template gate cannot run")
    return [sys.executable, "-m", "cfnlint"]


@pytest.mark.time_limit(120)
def test_cfn_lint_is_clean():
    """cfn-lint exit code is a bitmask (2 errors, 4 warnings, 8 informational): the gate is 0."""
    proc = subprocess.run([*cfn_lint_command(), "--", TEMPLATE_PATH], capture_output=True, text=True, timeout=110,
                          cwd=REPO)
    report = f"cfn-lint exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    print(report)
    assert proc.returncode == 0, report


# -- network and security groups ---------------------------------------------------------------------
def test_two_subnets_in_two_azs_from_getazs(template):
    subnets = resources_of(template, "AWS::EC2::Subnet")
    assert len(subnets) == 2
    indexes = sorted(s["Properties"]["AvailabilityZone"]["Fn::Select"][0] for s in subnets.values())
    assert indexes == [0, 1]
    for s in subnets.values():
        assert s["Properties"]["AvailabilityZone"]["Fn::Select"][1] == {"Fn::GetAZs": ""}
        # moto ignores MapPublicIpOnLaunch; NAT-less public subnets need it for outbound traffic.
        assert s["Properties"]["MapPublicIpOnLaunch"] is True


def test_no_ssh_and_instances_only_reachable_from_the_load_balancer(template):
    text = json.dumps(template["Resources"])
    for port in ('"FromPort": 22', '"ToPort": 22'):
        assert port not in text
    inst = props(template, "InstanceSecurityGroup")
    assert "SecurityGroupIngress" not in inst  # only the separate ingress resources below
    ingress = resources_of(template, "AWS::EC2::SecurityGroupIngress")
    sources = {}
    for logical_id, r in ingress.items():
        p = r["Properties"]
        assert p["GroupId"] == {"Ref": "InstanceSecurityGroup"}
        assert p["FromPort"] == p["ToPort"] == {"Ref": "AppPort"}
        assert "CidrIp" not in p and "CidrIpv6" not in p
        sources[logical_id] = (p["SourceSecurityGroupId"], r.get("Condition"))
    assert sources == {"InstanceIngressFromLoadBalancer": ({"Ref": "LoadBalancerSecurityGroup"}, None),
                       "InstanceIngressFromVpn": ({"Ref": "VpnSecurityGroup"}, "HasVpn")}
    # Egress (moto ignores SecurityGroupEgress): the ALB only talks to the app port of the instances.
    lb_egress = props(template, "LoadBalancerSecurityGroup")["SecurityGroupEgress"]
    assert lb_egress == [{"IpProtocol": "tcp", "FromPort": {"Ref": "AppPort"}, "ToPort": {"Ref": "AppPort"},
                          "DestinationSecurityGroupId": {"Ref": "InstanceSecurityGroup"},
                          "Description": lb_egress[0]["Description"]}]


# -- load balancer ------------------------------------------------------------------------------------
def test_https_listener_and_redirect_only_with_a_certificate(template):
    assert template["Conditions"]["HasCertificate"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "CertificateArn"}, ""]}]}
    https = template["Resources"]["HttpsListener"]
    assert https["Condition"] == "HasCertificate"
    action = props(template, "HttpListener")["DefaultActions"][0]["Fn::If"]
    assert action[0] == "HasCertificate"
    assert action[1]["Type"] == "redirect" and action[1]["RedirectConfig"]["Protocol"] == "HTTPS"
    assert action[2] == {"Type": "forward", "TargetGroupArn": {"Ref": "TargetGroup"}}


# -- Auto Scaling: lifecycle hooks and notifications (moto ignores both) ----------------------------
def test_lifecycle_hooks_are_part_of_the_group(template):
    """Hooks in LifecycleHookSpecificationList exist before the group's first instance launches.

    moto's CloudFormation ignores them (like AWS::AutoScaling::LifecycleHook), so this is a template check;
    the names must be the ones the user data configures the agent with.
    """
    assert not resources_of(template, "AWS::AutoScaling::LifecycleHook")
    hooks = {h["LifecycleHookName"]: h for h in props(template, "AutoScalingGroup")["LifecycleHookSpecificationList"]}
    assert hooks == {
        "clock-launch": {"LifecycleHookName": "clock-launch",
                         "LifecycleTransition": "autoscaling:EC2_INSTANCE_LAUNCHING",
                         "HeartbeatTimeout": 300, "DefaultResult": "ABANDON"},
        "clock-terminate": {"LifecycleHookName": "clock-terminate",
                            "LifecycleTransition": "autoscaling:EC2_INSTANCE_TERMINATING",
                            "HeartbeatTimeout": 300, "DefaultResult": "CONTINUE"},
    }
    text, _ = user_data_sub(template)
    assert "launch_hook: clock-launch" in text and "terminate_hook: clock-terminate" in text


def test_group_notifies_launch_and_terminate_errors_to_the_alarm_topic(template):
    asg = props(template, "AutoScalingGroup")
    assert asg["NotificationConfigurations"] == [{
        "TopicARN": {"Ref": "AlarmTopic"},
        "NotificationTypes": ["autoscaling:EC2_INSTANCE_LAUNCH_ERROR", "autoscaling:EC2_INSTANCE_TERMINATE_ERROR"]}]
    assert asg["HealthCheckType"] == "ELB"
    assert asg["VPCZoneIdentifier"] == [{"Ref": "PublicSubnetA"}, {"Ref": "PublicSubnetB"}]


# -- bucket (moto applies the encryption only) --------------------------------------------------------
def test_bucket_versioned_private_and_tls_only(template):
    b = props(template, "ArtifactBucket")
    assert b["VersioningConfiguration"] == {"Status": "Enabled"}
    assert b["PublicAccessBlockConfiguration"] == {"BlockPublicAcls": True, "BlockPublicPolicy": True,
                                                   "IgnorePublicAcls": True, "RestrictPublicBuckets": True}
    assert b["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"] == \
        {"SSEAlgorithm": "AES256"}
    policy = props(template, "ArtifactBucketPolicy")
    assert policy["Bucket"] == {"Ref": "ArtifactBucket"}
    statements = {s["Sid"]: s for s in policy["PolicyDocument"]["Statement"]}
    deny = statements["DenyInsecureTransport"]
    assert deny["Effect"] == "Deny" and deny["Principal"] == "*" and deny["Action"] == "s3:*"
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert deny["Resource"] == [{"Fn::GetAtt": ["ArtifactBucket", "Arn"]}, {"Fn::Sub": "${ArtifactBucket.Arn}/*"}]


def test_bucket_policy_lets_the_logs_service_write_exports(template):
    statements = {s["Sid"]: s for s in props(template, "ArtifactBucketPolicy")["PolicyDocument"]["Statement"]}
    logs_principal = {"Service": {"Fn::Sub": "logs.${AWS::Region}.amazonaws.com"}}
    acl, put = statements["LogsExportGetBucketAcl"], statements["LogsExportPutObject"]
    assert acl["Principal"] == put["Principal"] == logs_principal
    assert acl["Action"] == "s3:GetBucketAcl" and put["Action"] == "s3:PutObject"
    assert put["Resource"] == {"Fn::Sub": "${ArtifactBucket.Arn}/exports/*"}
    assert put["Condition"]["StringEquals"]["s3:x-amz-acl"] == "bucket-owner-full-control"
    for s in (acl, put):
        assert s["Condition"]["StringEquals"]["aws:SourceAccount"] == {"Ref": "AWS::AccountId"}
    env = props(template, "ExportFunction")["Environment"]["Variables"]
    assert env["PREFIX"] == "exports" and env["BUCKET"] == {"Ref": "ArtifactBucket"}


# -- instance role ----------------------------------------------------------------------------------
def test_instance_role_has_the_agent_policy_statements_and_session_manager(template):
    """The stack's inline policy is packaging/iam/clock-agent-policy.json, statement for statement."""
    role = props(template, "InstanceRole")
    ssm = "arn:${AWS::Partition}:iam::aws:policy/AmazonSSMManagedInstanceCore"
    assert role["ManagedPolicyArns"] == [{"Fn::Sub": ssm}]
    (inline,) = role["Policies"]
    in_stack = {s["Sid"]: s for s in inline["PolicyDocument"]["Statement"]}
    with open(POLICY_PATH) as f:
        in_repo = {s["Sid"]: s for s in json.load(f)["Statement"]}
    assert list(in_stack) == list(in_repo)
    for sid, s in in_repo.items():
        actions = s["Action"] if isinstance(s["Action"], list) else [s["Action"]]
        assert sorted(in_stack[sid]["Action"]) == sorted(actions), sid
        assert in_stack[sid]["Effect"] == s["Effect"] == "Allow"
        if s["Resource"] == "*":
            assert in_stack[sid]["Resource"] == "*", sid
    assert props(template, "InstanceProfile")["Roles"] == [{"Ref": "InstanceRole"}]


# -- alarms, metric filter, SNS (moto skips these types) ---------------------------------------------
def test_crash_loop_filter_matches_what_the_agent_logs(template):
    mf = props(template, "CrashLoopMetricFilter")
    assert mf["LogGroupName"] == {"Ref": "AppLogGroup"}
    assert mf["FilterPattern"] == '"app is in a crash loop"'
    with open(os.path.join(REPO, "Sources", "Bootstrap", "Agent", "InstanceAgent.swift")) as f:
        assert '"app is in a crash loop"' in f.read(), "the agent no longer logs the line the metric filter counts"
    (transform,) = mf["MetricTransformations"]
    alarm = props(template, "CrashLoopAlarm")
    assert (alarm["Namespace"], alarm["MetricName"]) == (transform["MetricNamespace"], transform["MetricName"])
    assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold" and alarm["Threshold"] == 1


def test_alarms_go_to_the_topic_with_the_email_subscription(template):
    alarms = resources_of(template, "AWS::CloudWatch::Alarm")
    metrics = {a["Properties"]["MetricName"]: a["Properties"] for a in alarms.values()}
    assert {"UnHealthyHostCount", "HTTPCode_ELB_5XX_Count", "AppCrashLoops"} <= set(metrics)
    dims = {d["Name"]: d["Value"] for d in metrics["UnHealthyHostCount"]["Dimensions"]}
    assert dims == {"TargetGroup": {"Fn::GetAtt": ["TargetGroup", "TargetGroupFullName"]},
                    "LoadBalancer": {"Fn::GetAtt": ["LoadBalancer", "LoadBalancerFullName"]}}
    for p in metrics.values():
        assert p["AlarmActions"] == [{"Ref": "AlarmTopic"}]
    sub = props(template, "AlarmEmailSubscription")
    assert sub == {"TopicArn": {"Ref": "AlarmTopic"}, "Protocol": "email", "Endpoint": {"Ref": "AlarmEmail"}}
    assert "Default" not in template["Parameters"]["AlarmEmail"]


def test_client_vpn_is_optional_and_complete(template):
    vpn = {k: v for k, v in template["Resources"].items() if "Vpn" in k}
    assert {v["Type"] for v in vpn.values()} >= {"AWS::EC2::ClientVpnEndpoint",
                                                 "AWS::EC2::ClientVpnTargetNetworkAssociation",
                                                 "AWS::EC2::ClientVpnAuthorizationRule"}
    assert all(v.get("Condition") == "HasVpn" for v in vpn.values()), "every VPN resource must depend on HasVpn"
    assert template["Conditions"]["HasVpn"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "VpnServerCertificateArn"}, ""]}]}
    assert template["Parameters"]["VpnServerCertificateArn"]["Default"] == ""
    assoc = props(template, "ClientVpnNetworkAssociation")
    assert assoc["SubnetId"] == {"Ref": "PublicSubnetA"}
    rule = props(template, "ClientVpnAuthorizationRule")
    assert rule["TargetNetworkCidr"] == {"Ref": "VpcCidr"} and rule["AuthorizeAllGroups"] is True


def test_outputs(template):
    assert {"LoadBalancerUrl", "ArtifactBucketName", "AppLogGroup", "AutoScalingGroupName",
            "AlarmTopicArn"} <= set(template["Outputs"])


# -- the daily export Lambda's inline code, run against moto ------------------------------------------
class FakeContext:
    def __init__(self, remaining_ms: int):
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def load_export_function(template: dict) -> types.ModuleType:
    code = props(template, "ExportFunction")["Code"]["ZipFile"]
    assert len(code) <= 4096, "inline Lambda code (ZipFile) is limited to 4096 characters"
    module = types.ModuleType("index")
    exec(compile(code, "index.py", "exec"), module.__dict__)  # noqa: S102 - the template's own code
    return module


@pytest.fixture
def aws_env(monkeypatch):
    for k, v in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
                 "AWS_REGION": "us-east-1"}.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)


def test_export_function_exports_exactly_the_previous_utc_day(template, aws_env, monkeypatch):
    today = dt.datetime.now(dt.timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    yesterday = today - dt.timedelta(days=1)
    ms = lambda t: int(t.timestamp() * 1000)  # noqa: E731
    with mock_aws():
        s3, logs = boto3.client("s3"), boto3.client("logs")
        s3.create_bucket(Bucket="clock-artifacts")
        logs.create_log_group(logGroupName="/clock/app")
        logs.create_log_stream(logGroupName="/clock/app", logStreamName="i-0abc/agent")
        one_ms = dt.timedelta(milliseconds=1)
        events = [(yesterday - one_ms, "day before"), (yesterday, "first of the day"),
                  (yesterday + dt.timedelta(hours=12), "noon"), (today - one_ms, "last of the day"), (today, "today")]
        logs.put_log_events(logGroupName="/clock/app", logStreamName="i-0abc/agent",
                            logEvents=[{"timestamp": ms(t), "message": m} for t, m in events])
        monkeypatch.setenv("LOG_GROUP", "/clock/app")
        monkeypatch.setenv("BUCKET", "clock-artifacts")
        monkeypatch.setenv("PREFIX", "exports")
        fn = load_export_function(template)
        # EventBridge's scheduled event carries the schedule time; the export covers the day before it.
        result = fn.handler({"time": (today + dt.timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%SZ")},
                            FakeContext(300_000))
        prefix = f"exports/{yesterday:%Y/%m/%d}"
        assert result["destinationPrefix"] == prefix
        (task,) = logs.describe_export_tasks()["exportTasks"]
        assert task["taskId"] == result["taskId"]
        assert (task["logGroupName"], task["destination"], task["destinationPrefix"]) == \
            ("/clock/app", "clock-artifacts", prefix)
        assert (task["from"], task["to"]) == (ms(yesterday), ms(today) - 1)
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket="clock-artifacts", Prefix=prefix)["Contents"]]
        assert len(keys) == 1 and keys[0].endswith("/i-0abc-agent/000000.gz")
        body = s3.get_object(Bucket="clock-artifacts", Key=keys[0])["Body"].read()
        text = gzip.decompress(body).decode() if body[:2] == b"\x1f\x8b" else body.decode()
        exported = [line.split(" ", 1)[1] for line in text.splitlines()]
        assert exported == ["first of the day", "noon", "last of the day"]


def test_export_function_waits_for_another_export_then_gives_up(template, aws_env, monkeypatch):
    """One active export task per account: retry every 30 s while time is left, then fail (Lambda retries)."""
    monkeypatch.setenv("LOG_GROUP", "/clock/app")
    monkeypatch.setenv("BUCKET", "clock-artifacts")
    monkeypatch.setenv("PREFIX", "exports")
    with mock_aws():
        fn = load_export_function(template)
    busy = ClientError({"Error": {"Code": "LimitExceededException", "Message": "Resource limit exceeded."}},
                       "CreateExportTask")
    calls, sleeps = [], []

    class Logs:
        exceptions = types.SimpleNamespace(LimitExceededException=ClientError)

        def create_export_task(self, **kw):
            calls.append(kw)
            if len(calls) < 3:
                raise busy
            return {"taskId": "t-1"}

    fn.logs = Logs()
    fn.time = types.SimpleNamespace(sleep=sleeps.append)
    assert fn.handler({"time": "2026-03-02T00:30:00Z"}, FakeContext(300_000))["taskId"] == "t-1"
    assert sleeps == [30, 30] and len(calls) == 3
    assert calls[0]["fromTime"] == int(dt.datetime(2026, 3, 1, tzinfo=dt.timezone.utc).timestamp() * 1000)
    calls.clear()
    with pytest.raises(ClientError):
        fn.handler({"time": "2026-03-02T00:30:00Z"}, FakeContext(10_000))
    assert len(calls) == 1


def test_template_loads_as_yaml_with_short_forms():
    t = load_template()
    assert t["AWSTemplateFormatVersion"] == "2010-09-09"
    assert t["Parameters"]["LatestAmiId"]["Type"] == "AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>"
    assert t["Parameters"]["LatestAmiId"]["Default"] == \
        "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
