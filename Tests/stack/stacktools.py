"""Paths and template helpers shared by the service-stack tests (imported by conftest and the test modules)."""

from __future__ import annotations

import os

import yaml

# Network rule: no client in this process may fall back to the real IMDS or read ~/.aws, and
# moto's EC2 backend must not spend seconds loading its AMI catalogue (set before moto loads).
os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
os.environ["AWS_CONFIG_FILE"] = os.devnull
os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
os.environ.pop("AWS_PROFILE", None)
os.environ.setdefault("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
TEMPLATE_PATH = os.path.join(REPO, "packaging", "cloudformation", "clock-stack.yaml")
POLICY_PATH = os.path.join(REPO, "packaging", "iam", "clock-agent-policy.json")
USER_DATA_PATH = os.path.join(REPO, "packaging", "cloud-init", "user-data.yaml")
HARNESS_DIR = os.path.join(REPO, "Tests", "harness")


# -- the template as data -------------------------------------------------------------------------
class CfnLoader(yaml.SafeLoader):
    """YAML loader that turns CloudFormation short forms (!Ref, !Sub, !GetAtt ...) into long forms."""


def _cfn_tag(loader: CfnLoader, suffix: str, node: yaml.Node):
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "Condition":
        return {"Condition": value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{suffix}": value}


CfnLoader.add_multi_constructor("!", _cfn_tag)


def load_template(path: str = TEMPLATE_PATH) -> dict:
    with open(path) as f:
        return yaml.load(f, Loader=CfnLoader)  # noqa: S506 - SafeLoader subclass


def user_data_sub(template: dict) -> tuple[str, dict]:
    """The launch template's user data: the Fn::Sub text and its variable map."""
    lt = template["Resources"]["LaunchTemplate"]["Properties"]["LaunchTemplateData"]
    sub = lt["UserData"]["Fn::Base64"]["Fn::Sub"]
    if isinstance(sub, str):
        return sub, {}
    return sub[0], sub[1]
