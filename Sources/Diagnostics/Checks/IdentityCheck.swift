import AWSCore
import AgentConfig
import Bootstrap

/// `identity`: instance id, region, AZ and Auto Scaling group, and how the group was found.
enum IdentityCheck {
    /// The check's name in the report.
    static let name = "identity"

    /// The verdict: where the instance is and how its group was found (a group lookup failure is a warning).
    static func result(
        identity: InstanceIdentity, group: String?, source: InstanceIdentity.GroupSource, describe: DescribeOutcome,
        configuration: Configuration?
    ) -> CheckResult {
        var where_ = "\(identity.instanceID) in \(identity.availabilityZone) (\(identity.region))"
        if !identity.fromMetadata {
            where_ =
                "\(identity.instanceID) (off EC2: instance metadata disabled), region \(identity.region) from AWS_REGION"
        }
        if let group {
            return CheckResult(
                name: name, status: .ok,
                detail: "\(where_), Auto Scaling group \(group) (found by \(Self.describe(source)))")
        }
        switch describe {
        case .failed(let error):
            let denied = Permission.isDenied(error)
            return CheckResult(
                name: name, status: .warn,
                detail:
                    "\(where_); Auto Scaling group unknown: no instance tag and DescribeAutoScalingInstances failed: \(AWSChecks.message(error))",
                hint: denied
                    ? "allow autoscaling:DescribeAutoScalingInstances (see iam), enable instance metadata tags, or set lifecycle.auto_scaling_group"
                    : "enable instance metadata tags (InstanceMetadataTags=enabled) or set lifecycle.auto_scaling_group"
            )
        case .notInGroup:
            return CheckResult(
                name: name, status: .ok, detail: "\(where_), in no Auto Scaling group (DescribeAutoScalingInstances)")
        case .notTried(let reason):
            return CheckResult(
                name: name, status: .ok, detail: "\(where_), Auto Scaling group not looked up (\(reason))")
        case .instance(let instance):
            return CheckResult(
                name: name, status: .ok,
                detail: "\(where_), Auto Scaling group \(instance.groupName) (found by DescribeAutoScalingInstances)")
        }
    }

    /// `instance metadata tag`, `DescribeAutoScalingInstances`, `configuration`.
    static func describe(_ source: InstanceIdentity.GroupSource) -> String {
        switch source {
        case .configuration: return "configuration: lifecycle.auto_scaling_group"
        case .metadataTag: return "instance metadata tag aws:autoscaling:groupName"
        case .api: return "DescribeAutoScalingInstances"
        case .none: return "nothing"
        }
    }
}
