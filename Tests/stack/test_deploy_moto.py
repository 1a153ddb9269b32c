"""Deploy packaging/cloudformation/clock-stack.yaml to moto's CloudFormation and look at what it made.

moto runs in-process (`mock_aws`: no sockets, nothing leaves this process).  The real template is
deployed unchanged, twice: with the defaults (HTTP only, no VPN) and with a certificate, a VPN server
certificate, a pinned SHA-256 and another retention.

What moto 5.2.1 does with this template (verified against moto's sources and by these tests):
- deploys, and the tests below check with boto3: VPC, subnets (AZs from Fn::GetAZs), internet gateway
  and default route, security groups and their ingress rules, the ALB, its listeners and target group,
  the launch template (AMI resolved from the public SSM parameter, metadata options, user data), the
  Auto Scaling group, the bucket's encryption, log groups with retention, the instance role's inline
  policy and instance profile, the SNS topic, the Lambda function and its permission, both EventBridge
  rules with their targets, and the CloudWatch Logs resource policy;
- skips these resource types with a warning (stack still CREATE_COMPLETE; see SKIPPED_BY_MOTO):
  AWS::S3::BucketPolicy, AWS::Logs::MetricFilter, AWS::SNS::Subscription, AWS::CloudWatch::Alarm and the
  three AWS::EC2::ClientVpn* types (and would skip AWS::AutoScaling::LifecycleHook, which the template
  does not use);
- ignores these properties: the group's LifecycleHookSpecificationList, NotificationConfigurations and
  MetricsCollection (DescribeLifecycleHooks answers []), the bucket's VersioningConfiguration,
  PublicAccessBlockConfiguration, OwnershipControls and LifecycleConfiguration, SecurityGroupEgress,
  the subnets' MapPublicIpOnLaunch, the role's ManagedPolicyArns, load balancer and target group
  attributes; subnet route-table associations are not recorded; the group's instances do not get the
  launch template's metadata options or instance profile, and all land in the first subnet.
Those are checked on the template in test_template.py.  No transformation of the template is needed:
nothing in it makes moto's deployment fail.
"""

from __future__ import annotations

import ast
import base64
import json
import warnings
from dataclasses import dataclass, field

import boto3
import pytest
import yaml
from moto import mock_aws

from stacktools import TEMPLATE_PATH

STACK = "clock"
REGION = "us-east-1"
ACCOUNT = "123456789012"
SSM_AMI = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
SHA = "0123456789abcdef" * 4

# Resource types moto 5.2.1's CloudFormation does not implement: it logs a warning and skips them.
SKIPPED_BY_MOTO = {"AWS::S3::BucketPolicy", "AWS::Logs::MetricFilter", "AWS::SNS::Subscription",
                   "AWS::CloudWatch::Alarm", "AWS::EC2::ClientVpnEndpoint",
                   "AWS::EC2::ClientVpnTargetNetworkAssociation", "AWS::EC2::ClientVpnAuthorizationRule",
                   "AWS::AutoScaling::LifecycleHook"}


@dataclass
class Deployed:
    variant: str
    params: dict
    stack: dict
    resources: dict                       # logical id -> physical id (resources moto created)
    skipped: set = field(default_factory=set)
    certificate_arn: str | None = None

    @property
    def outputs(self) -> dict:
        return {o["OutputKey"]: o["OutputValue"] for o in self.stack.get("Outputs", [])}

    @property
    def tls(self) -> bool:
        return self.certificate_arn is not None


@pytest.fixture(scope="module", params=["http", "https+vpn"])
def deployed(request):
    """One moto account per variant; the stack is created once and inspected by every test."""
    mock = mock_aws()
    mock.start()
    try:
        session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing",
                                        region_name=REGION)
        params = {"AlarmEmail": "ops@example.com"}
        cert = None
        if request.param == "https+vpn":
            cert = session.client("acm").request_certificate(DomainName="clock.example.com")["CertificateArn"]
            params |= {"CertificateArn": cert, "VpnServerCertificateArn": cert, "AppSha256": SHA,
                       "LogRetentionDays": "14", "AppPort": "8443"}
        cf = session.client("cloudformation")
        with open(TEMPLATE_PATH) as f:
            body = f.read()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            cf.create_stack(StackName=STACK, TemplateBody=body, Capabilities=["CAPABILITY_IAM"],
                            Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in params.items()])
        skipped = {str(w.message).split("Tried to parse ", 1)[1].split(" ", 1)[0]
                   for w in caught if "not supported by moto" in str(w.message)}
        stack = cf.describe_stacks(StackName=STACK)["Stacks"][0]
        # list_stack_resources, not describe_stack_resource(s): moto 5.2.1 crashes on the skipped entries.
        resources = {r["LogicalResourceId"]: r["PhysicalResourceId"]
                     for r in cf.list_stack_resources(StackName=STACK)["StackResourceSummaries"]
                     if r.get("LogicalResourceId")}
        d = Deployed(request.param, params, stack, resources, skipped, cert)
        d.session = session
        yield d
    finally:
        mock.stop()


def client(d: Deployed, service: str):
    return d.session.client(service)


def policy_document(doc) -> dict:
    """An IAM policy document as boto3 returns it; moto 5.2.1 answers GetRolePolicy for a policy made by
    CloudFormation with the Python repr of the dict, not JSON."""
    if isinstance(doc, dict):
        return doc
    try:
        return json.loads(doc)
    except ValueError:
        return ast.literal_eval(doc)


def port(d: Deployed) -> int:
    return int(d.params.get("AppPort", 8080))


# -- the stack -----------------------------------------------------------------------------------------
def test_stack_is_created_with_its_outputs(deployed):
    d = deployed
    print(f"[{d.variant}] moto skipped resource types: {sorted(d.skipped)}")
    assert d.stack["StackStatus"] == "CREATE_COMPLETE", d.stack.get("StackStatusReason")
    assert d.skipped <= SKIPPED_BY_MOTO, f"moto skipped a new resource type: {d.skipped - SKIPPED_BY_MOTO}"
    out = d.outputs
    lb = client(d, "elbv2").describe_load_balancers(LoadBalancerArns=[d.resources["LoadBalancer"]])["LoadBalancers"][0]
    assert out["LoadBalancerUrl"] == f"{'https' if d.tls else 'http'}://{lb['DNSName']}/"
    assert out["ArtifactBucketName"] == d.resources["ArtifactBucket"]
    assert out["AppLogGroup"] == "/clock/app"
    assert out["AutoScalingGroupName"] == f"{STACK}-asg" == d.resources["AutoScalingGroup"]
    topics = [t["TopicArn"] for t in client(d, "sns").list_topics()["Topics"]]
    assert out["AlarmTopicArn"] in topics


def test_vpc_with_two_public_subnets_in_two_azs(deployed):
    d, ec2 = deployed, client(deployed, "ec2")
    vpc = ec2.describe_vpcs(VpcIds=[d.resources["Vpc"]])["Vpcs"][0]
    assert vpc["CidrBlock"] == "10.0.0.0/16"
    subnets = ec2.describe_subnets(SubnetIds=[d.resources["PublicSubnetA"], d.resources["PublicSubnetB"]])["Subnets"]
    assert {s["VpcId"] for s in subnets} == {vpc["VpcId"]}
    assert sorted(s["CidrBlock"] for s in subnets) == ["10.0.0.0/24", "10.0.1.0/24"]
    assert len({s["AvailabilityZone"] for s in subnets}) == 2
    igws = ec2.describe_internet_gateways(InternetGatewayIds=[d.resources["InternetGateway"]])["InternetGateways"]
    assert igws[0]["Attachments"][0]["VpcId"] == vpc["VpcId"]
    routes = ec2.describe_route_tables(RouteTableIds=[d.resources["PublicRouteTable"]])["RouteTables"][0]["Routes"]
    assert {"DestinationCidrBlock": "0.0.0.0/0", "GatewayId": igws[0]["InternetGatewayId"]}.items() <= \
        next(r for r in routes if r.get("DestinationCidrBlock") == "0.0.0.0/0").items()


def test_security_groups_admit_web_traffic_to_the_alb_and_the_app_port_from_it_only(deployed):
    d, ec2 = deployed, client(deployed, "ec2")
    lb_sg, inst_sg = d.resources["LoadBalancerSecurityGroup"], d.resources["InstanceSecurityGroup"]
    groups = {g["GroupId"]: g for g in ec2.describe_security_groups(GroupIds=[lb_sg, inst_sg])["SecurityGroups"]}
    lb_rules = {(p["IpProtocol"], p["FromPort"], p["ToPort"], tuple(r["CidrIp"] for r in p["IpRanges"]))
                for p in groups[lb_sg]["IpPermissions"]}
    assert lb_rules == {("tcp", 80, 80, ("0.0.0.0/0",)), ("tcp", 443, 443, ("0.0.0.0/0",))}
    (rule,) = groups[inst_sg]["IpPermissions"]
    assert (rule["IpProtocol"], rule["FromPort"], rule["ToPort"]) == ("tcp", port(d), port(d))
    assert rule["IpRanges"] == [] and rule.get("Ipv6Ranges", []) == []
    sources = {p["GroupId"] for p in rule["UserIdGroupPairs"]}
    expected = {lb_sg} | ({d.resources["VpnSecurityGroup"]} if d.variant == "https+vpn" else set())
    assert sources == expected
    assert ("VpnSecurityGroup" in d.resources) == (d.variant == "https+vpn")


def test_load_balancer_listeners_and_target_group(deployed):
    d, elb = deployed, client(deployed, "elbv2")
    lb = elb.describe_load_balancers(LoadBalancerArns=[d.resources["LoadBalancer"]])["LoadBalancers"][0]
    assert (lb["Type"], lb["Scheme"]) == ("application", "internet-facing")
    assert {az["SubnetId"] for az in lb["AvailabilityZones"]} == {d.resources["PublicSubnetA"],
                                                                  d.resources["PublicSubnetB"]}
    assert lb["SecurityGroups"] == [d.resources["LoadBalancerSecurityGroup"]]
    tg = elb.describe_target_groups(TargetGroupArns=[d.resources["TargetGroup"]])["TargetGroups"][0]
    assert (tg["Protocol"], tg["Port"], tg["VpcId"], tg["TargetType"]) == ("HTTP", port(d), d.resources["Vpc"],
                                                                          "instance")
    assert (tg["HealthCheckPath"], tg["HealthCheckPort"], tg["HealthCheckProtocol"]) == ("/healthz", "traffic-port",
                                                                                        "HTTP")
    assert tg["Matcher"] == {"HttpCode": "200"}
    listeners = {l["Port"]: l for l in elb.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"]}
    forward = [{"Type": "forward", "TargetGroupArn": tg["TargetGroupArn"]}]
    if not d.tls:
        assert set(listeners) == {80}
        assert listeners[80]["Protocol"] == "HTTP" and listeners[80]["DefaultActions"] == forward
    else:
        assert set(listeners) == {80, 443}
        (redirect,) = listeners[80]["DefaultActions"]
        assert redirect["Type"] == "redirect"
        assert {k: redirect["RedirectConfig"][k] for k in ("Protocol", "Port", "StatusCode")} == \
            {"Protocol": "HTTPS", "Port": "443", "StatusCode": "HTTP_301"}
        https = listeners[443]
        assert https["Protocol"] == "HTTPS" and https["DefaultActions"] == forward
        assert https["Certificates"] == [{"CertificateArn": d.certificate_arn}]
        assert https["SslPolicy"].startswith("ELBSecurityPolicy-TLS13")


def test_launch_template_imdsv2_hop_limit_1_tags_and_latest_al2023(deployed):
    d, ec2 = deployed, client(deployed, "ec2")
    data = ec2.describe_launch_template_versions(LaunchTemplateId=d.resources["LaunchTemplate"])[
        "LaunchTemplateVersions"][0]["LaunchTemplateData"]
    assert data["MetadataOptions"] == {"HttpEndpoint": "enabled", "HttpTokens": "required",
                                       "HttpPutResponseHopLimit": 1, "InstanceMetadataTags": "enabled"}
    # The AMI parameter type resolved the public SSM parameter (moto ships its values).
    assert data["ImageId"] == client(d, "ssm").get_parameter(Name=SSM_AMI)["Parameter"]["Value"]
    assert data["ImageId"].startswith("ami-")
    assert data["SecurityGroupIds"] == [d.resources["InstanceSecurityGroup"]]
    iam = client(d, "iam")
    profile = iam.get_instance_profile(InstanceProfileName=d.resources["InstanceProfile"])["InstanceProfile"]
    assert data["IamInstanceProfile"] == {"Arn": profile["Arn"]}
    assert [r["RoleName"] for r in profile["Roles"]] == [d.resources["InstanceRole"]]
    (root,) = data["BlockDeviceMappings"]
    assert root["Ebs"]["Encrypted"] is True


def test_user_data_has_this_stacks_values_substituted(deployed):
    d, ec2 = deployed, client(deployed, "ec2")
    data = ec2.describe_launch_template_versions(LaunchTemplateId=d.resources["LaunchTemplate"])[
        "LaunchTemplateVersions"][0]["LaunchTemplateData"]
    text = base64.b64decode(data["UserData"]).decode()
    assert text.startswith("#cloud-config\n")
    assert "${" not in text, "an Fn::Sub variable was left unsubstituted"
    doc = yaml.safe_load(text)
    (config_file,) = [f for f in doc["write_files"] if f["path"] == "/etc/clock-agent/config.yaml"]
    config = yaml.safe_load(config_file["content"])
    bucket = d.resources["ArtifactBucket"]
    assert config["app"]["source"] == f"s3://{bucket}/clock-app.tar.gz"
    assert config["app"].get("sha256") == (SHA if d.variant == "https+vpn" else None)
    assert config["app"]["environment"]["PORT"] == str(port(d))
    assert config["app"]["health"]["url"] == f"http://127.0.0.1:{port(d)}/healthz"
    assert config["logs"]["group"] == "/clock/app"
    assert config["logs"]["retention_days"] == int(d.params.get("LogRetentionDays", 30))
    commands = [" ".join(map(str, c)) if isinstance(c, list) else c for c in doc["runcmd"]]
    assert any(f"s3://{bucket}/packages/clock-agent.x86_64.rpm" in c and REGION in c for c in commands), commands


def test_auto_scaling_group(deployed):
    d = deployed
    asg = client(d, "autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[f"{STACK}-asg"])[
        "AutoScalingGroups"][0]
    assert (asg["MinSize"], asg["MaxSize"], asg["DesiredCapacity"]) == (2, 4, 2)
    assert (asg["HealthCheckType"], asg["HealthCheckGracePeriod"]) == ("ELB", 120)
    assert set(asg["VPCZoneIdentifier"].split(",")) == {d.resources["PublicSubnetA"], d.resources["PublicSubnetB"]}
    assert asg["TargetGroupARNs"] == [d.resources["TargetGroup"]]
    assert asg["LaunchTemplate"]["LaunchTemplateId"] == d.resources["LaunchTemplate"]
    assert len(asg["Instances"]) == 2
    # moto ignores LifecycleHookSpecificationList and NotificationConfigurations: checked in test_template.py.


def test_bucket_encryption(deployed):
    """moto applies BucketEncryption only; versioning, public access block and the TLS-only policy are
    checked on the template (test_template.py)."""
    d = deployed
    rules = client(d, "s3").get_bucket_encryption(Bucket=d.resources["ArtifactBucket"])[
        "ServerSideEncryptionConfiguration"]["Rules"]
    assert rules[0]["ApplyServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}


def test_log_groups_and_retention(deployed):
    d = deployed
    days = int(d.params.get("LogRetentionDays", 30))
    groups = {g["logGroupName"]: g for g in client(d, "logs").describe_log_groups()["logGroups"]}
    expected = {"/clock/app", f"/aws/events/{STACK}-asg-activity", f"/aws/lambda/{STACK}-log-export"}
    if d.variant == "https+vpn":
        expected.add(f"/aws/clientvpn/{STACK}")
    assert set(groups) == expected
    for g in groups.values():
        assert g.get("retentionInDays") == days, g["logGroupName"]


def test_instance_role_policy_is_scoped_to_this_stack(deployed):
    d, iam = deployed, client(deployed, "iam")
    role = d.resources["InstanceRole"]
    trust = iam.get_role(RoleName=role)["Role"]["AssumeRolePolicyDocument"]
    assert trust["Statement"][0]["Principal"] == {"Service": "ec2.amazonaws.com"}
    assert iam.list_role_policies(RoleName=role)["PolicyNames"] == ["clock-agent-policy"]
    doc = policy_document(iam.get_role_policy(RoleName=role, PolicyName="clock-agent-policy")["PolicyDocument"])
    bucket = d.resources["ArtifactBucket"]
    logs_arn = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/clock/app"
    asg_arn = f"arn:aws:autoscaling:{REGION}:{ACCOUNT}:autoScalingGroup:*:autoScalingGroupName/{STACK}-asg"
    got = {s["Sid"]: (sorted(s["Action"]), s["Resource"]) for s in doc["Statement"]}
    assert got == {
        "FetchArtifact": (["s3:GetObject"], f"arn:aws:s3:::{bucket}/*"),
        "TellMissingArtifact": (["s3:ListBucket"], f"arn:aws:s3:::{bucket}"),
        "ShipLogs": (["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:PutRetentionPolicy"],
                     [logs_arn, f"{logs_arn}:log-stream:*"]),
        "ReportLifecycle": (["autoscaling:CompleteLifecycleAction", "autoscaling:RecordLifecycleActionHeartbeat",
                             "autoscaling:SetInstanceHealth"], asg_arn),
        "FindGroup": (["autoscaling:DescribeAutoScalingInstances"], "*"),
        "CheckHooks": (["autoscaling:DescribeLifecycleHooks"], "*"),
        "CheckRetention": (["logs:DescribeLogGroups"], f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:*"),
    }
    assert all(s["Effect"] == "Allow" for s in doc["Statement"])


def test_eventbridge_activity_rule_writes_to_its_log_group(deployed):
    d, events = deployed, client(deployed, "events")
    rule = events.describe_rule(Name=d.resources["ActivityRule"])
    pattern = json.loads(rule["EventPattern"])
    assert pattern["source"] == ["aws.autoscaling"]
    assert pattern["detail"] == {"AutoScalingGroupName": [f"{STACK}-asg"]}
    assert set(pattern["detail-type"]) == {
        "EC2 Instance Launch Successful", "EC2 Instance Launch Unsuccessful", "EC2 Instance Terminate Successful",
        "EC2 Instance Terminate Unsuccessful", "EC2 Instance-launch Lifecycle Action",
        "EC2 Instance-terminate Lifecycle Action"}
    group = f"/aws/events/{STACK}-asg-activity"
    (target,) = events.list_targets_by_rule(Rule=d.resources["ActivityRule"])["Targets"]
    assert target["Arn"] == f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{group}"
    policies = {p["policyName"]: json.loads(p["policyDocument"])
                for p in client(d, "logs").describe_resource_policies()["resourcePolicies"]}
    (stmt,) = policies[f"{STACK}-eventbridge-to-activity-log"]["Statement"]
    assert "events.amazonaws.com" in stmt["Principal"]["Service"]
    assert set(stmt["Action"]) == {"logs:CreateLogStream", "logs:PutLogEvents"}
    assert stmt["Resource"] == f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{group}:*"


def test_daily_export_lambda_is_scheduled_and_allowed_to_export(deployed):
    d = deployed
    lam, events, iam = client(d, "lambda"), client(d, "events"), client(d, "iam")
    fn = lam.get_function(FunctionName=d.resources["ExportFunction"])["Configuration"]
    assert fn["Runtime"].startswith("python3") and fn["Handler"] == "index.handler"
    assert fn["Environment"]["Variables"] == {"LOG_GROUP": "/clock/app", "BUCKET": d.resources["ArtifactBucket"],
                                              "PREFIX": "exports"}
    schedule = events.describe_rule(Name=d.resources["ExportSchedule"])
    assert schedule["ScheduleExpression"] == "cron(30 0 * * ? *)"
    (target,) = events.list_targets_by_rule(Rule=d.resources["ExportSchedule"])["Targets"]
    assert target["Arn"] == fn["FunctionArn"]
    (perm,) = json.loads(lam.get_policy(FunctionName=fn["FunctionName"])["Policy"])["Statement"]
    assert perm["Principal"] == {"Service": "events.amazonaws.com"} and perm["Action"] == "lambda:InvokeFunction"
    assert perm["Condition"]["ArnLike"]["AWS:SourceArn"] == schedule["Arn"]
    role = fn["Role"].rsplit("/", 1)[1]
    doc = policy_document(iam.get_role_policy(RoleName=role, PolicyName="log-export")["PolicyDocument"])
    export = next(s for s in doc["Statement"] if "logs:CreateExportTask" in s["Action"])
    assert f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/clock/app" in export["Resource"]


def test_instance_role_scoping_allows_this_stack_and_nothing_else(deployed):
    """Evaluate the deployed role policy (moto's IAM policy engine, as the harness's strict sink does) against
    the resource ARNs AWS checks for the agent's calls: this stack's bucket, log group and group, and others."""
    from moto.iam.access_control import IAMPolicy, PermissionResult

    d, iam = deployed, client(deployed, "iam")
    doc = policy_document(iam.get_role_policy(RoleName=d.resources["InstanceRole"],
                                              PolicyName="clock-agent-policy")["PolicyDocument"])
    policy = IAMPolicy(json.dumps(doc))
    bucket, logs = d.resources["ArtifactBucket"], f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group"
    asg = f"arn:aws:autoscaling:{REGION}:{ACCOUNT}:autoScalingGroup:0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
    cases = [
        ("s3:GetObject", f"arn:aws:s3:::{bucket}/clock-app.tar.gz", True),
        ("s3:GetObject", f"arn:aws:s3:::{bucket}/packages/clock-agent.x86_64.rpm", True),
        ("s3:GetObject", "arn:aws:s3:::webclock-bucket/clock-app.tar.gz", False),
        ("s3:ListBucket", f"arn:aws:s3:::{bucket}", True),
        ("s3:ListBucket", "arn:aws:s3:::webclock-bucket", False),
        ("s3:PutObject", f"arn:aws:s3:::{bucket}/clock-app.tar.gz", False),
        # Group operations are evaluated on "...:log-group:NAME:log-stream:" (as the harness sink does).
        ("logs:CreateLogGroup", f"{logs}:/clock/app:log-stream:", True),
        ("logs:PutRetentionPolicy", f"{logs}:/clock/app:log-stream:", True),
        ("logs:CreateLogStream", f"{logs}:/clock/app:log-stream:i-0123456789abcdef0/agent", True),
        ("logs:PutLogEvents", f"{logs}:/clock/app:log-stream:i-0123456789abcdef0/app", True),
        ("logs:CreateLogGroup", f"{logs}:/clock/other:log-stream:", False),
        ("logs:PutLogEvents", f"{logs}:/aws/events/{STACK}-asg-activity:log-stream:x", False),
        ("logs:DeleteLogGroup", f"{logs}:/clock/app:log-stream:", False),
        ("autoscaling:CompleteLifecycleAction", f"{asg}:autoScalingGroupName/{STACK}-asg", True),
        ("autoscaling:RecordLifecycleActionHeartbeat", f"{asg}:autoScalingGroupName/{STACK}-asg", True),
        ("autoscaling:SetInstanceHealth", f"{asg}:autoScalingGroupName/{STACK}-asg", True),
        ("autoscaling:SetInstanceHealth", f"{asg}:autoScalingGroupName/clock-other-asg", False),
        ("autoscaling:DescribeAutoScalingInstances", "*", True),
        ("autoscaling:DescribeLifecycleHooks", "*", True),
        # DescribeLogGroups is authorized on the account's "no group" ARN, as AWS names it in its denials.
        ("logs:DescribeLogGroups", f"{logs}::log-stream:", True),
        ("logs:DescribeLogStreams", f"{logs}:/clock/app:log-stream:", False),
        ("autoscaling:UpdateAutoScalingGroup", f"{asg}:autoScalingGroupName/{STACK}-asg", False),
    ]
    wrong = [(action, resource, allowed) for action, resource, allowed in cases
             if (policy.is_action_permitted(action, resource) == PermissionResult.PERMITTED) != allowed]
    assert not wrong, f"(action, resource, expected allowed) the role policy gets wrong: {wrong}"
