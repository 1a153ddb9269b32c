import AWSCore
import AgentConfig
import Bootstrap

/// What the early AWS checks established, for the later ones: where to call, who we are, what the group says.
struct AWSFacts: Sendable {
    /// The bounded, no-retry AWS caller.
    var probe: ProbeClient
    /// The validated configuration, if the file was valid.
    var configuration: Configuration?
    /// Instance id, region, AZ and group, when known.
    var identity: InstanceIdentity?
    /// The instance as `DescribeAutoScalingInstances` showed it.
    var describe: DescribeOutcome
    /// ARNs for hints.
    var names: ResourceNames
    /// Who gets the missing permissions: `the instance role clock-agent-role`, or the principal's ARN.
    var grantee: String
}

/// The answer of `DescribeAutoScalingInstances` for this instance.
enum DescribeOutcome: Sendable {
    /// The instance is in a group.
    case instance(AutoScalingClient.Instance)
    /// The answer was empty: the instance is in no group.
    case notInGroup
    /// The call failed.
    case failed(AWSError)
    /// The call was not made (why).
    case notTried(String)

    /// The instance, when it is in a group.
    var instance: AutoScalingClient.Instance? {
        if case .instance(let instance) = self { return instance }
        return nil
    }
}

/// A lifecycle hook as `DescribeLifecycleHooks` shows it.
struct LifecycleHookInfo: Sendable, Equatable {
    /// The hook name.
    var name: String
    /// `autoscaling:EC2_INSTANCE_LAUNCHING` or `autoscaling:EC2_INSTANCE_TERMINATING`.
    var transition: String
    /// Seconds before `DefaultResult` applies without a heartbeat.
    var heartbeatTimeout: Int?
    /// `GlobalTimeout` as reported.
    var globalTimeout: Int?
    /// `CONTINUE` or `ABANDON`.
    var defaultResult: String?

    /// The longest an action of this hook can be kept open with heartbeats: `GlobalTimeout`, else
    /// min(172800, 100 × HeartbeatTimeout) (Auto Scaling User Guide, "Amazon EC2 Auto Scaling lifecycle hooks").
    /// The smaller of the reported `GlobalTimeout` and the documented rule, so an emulator (or an older answer)
    /// reporting the 48 h maximum regardless of the heartbeat timeout doesn't hide a too-long drain.
    var effectiveGlobalTimeout: Int? {
        let rule = heartbeatTimeout.map { min(172_800, 100 * $0) }
        switch (globalTimeout, rule) {
        case (let reported?, let rule?): return min(reported, rule)
        case (let reported?, nil): return reported
        case (nil, let rule): return rule
        }
    }

    /// Whether it is a launch hook.
    var isLaunching: Bool { transition.hasSuffix("EC2_INSTANCE_LAUNCHING") }
    /// Whether it is a terminate hook.
    var isTerminating: Bool { transition.hasSuffix("EC2_INSTANCE_TERMINATING") }
}

/// The Auto Scaling Query calls the doctor reads (parsed here because the agent's client retries and hides the
/// hook list's raw fields).
enum AutoScalingProbe {
    /// The Auto Scaling API version.
    static let version = "2011-01-01"

    /// `DescribeAutoScalingInstances` of one instance; nil when it is in no group.
    static func describeInstance(_ probe: ProbeClient, id: String) async throws -> AutoScalingClient.Instance? {
        let result = try await probe.query(
            .autoscaling, version: version, action: "DescribeAutoScalingInstances", [("InstanceIds.member.1", id)])
        let members = result.child("AutoScalingInstances")?.children(named: "member") ?? []
        for member in members {
            guard let instanceID = member.child("InstanceId")?.text, instanceID == id,
                let group = member.child("AutoScalingGroupName")?.text,
                let state = member.child("LifecycleState")?.text
            else { continue }
            return AutoScalingClient.Instance(
                instanceID: instanceID, groupName: group, availabilityZone: member.child("AvailabilityZone")?.text,
                lifecycleState: state, healthStatus: member.child("HealthStatus")?.text,
                protectedFromScaleIn: member.child("ProtectedFromScaleIn").map { $0.text == "true" })
        }
        return nil
    }

    /// `DescribeLifecycleHooks` of a group.
    static func describeHooks(_ probe: ProbeClient, group: String) async throws -> [LifecycleHookInfo] {
        let result = try await probe.query(
            .autoscaling, version: version, action: "DescribeLifecycleHooks", [("AutoScalingGroupName", group)])
        let members = result.child("LifecycleHooks")?.children(named: "member") ?? []
        return members.compactMap { member in
            guard let name = member.child("LifecycleHookName")?.text,
                let transition = member.child("LifecycleTransition")?.text
            else { return nil }
            return LifecycleHookInfo(
                name: name, transition: transition,
                heartbeatTimeout: member.child("HeartbeatTimeout").flatMap { Int($0.text) },
                globalTimeout: member.child("GlobalTimeout").flatMap { Int($0.text) },
                defaultResult: member.child("DefaultResult")?.text)
        }
    }

    /// `RecordLifecycleActionHeartbeat` for this instance.
    static func recordHeartbeat(_ probe: ProbeClient, group: String, hook: String, instanceID: String) async throws {
        _ = try await probe.query(
            .autoscaling, version: version, action: "RecordLifecycleActionHeartbeat",
            [("LifecycleHookName", hook), ("AutoScalingGroupName", group), ("InstanceId", instanceID)])
    }

    /// `CompleteLifecycleAction CONTINUE` for this instance (only ever on a hook with no pending action).
    static func completeContinue(_ probe: ProbeClient, group: String, hook: String, instanceID: String) async throws {
        _ = try await probe.query(
            .autoscaling, version: version, action: "CompleteLifecycleAction",
            [
                ("LifecycleHookName", hook), ("AutoScalingGroupName", group), ("LifecycleActionResult", "CONTINUE"),
                ("InstanceId", instanceID),
            ])
    }

    /// `SetInstanceHealth Healthy`, respecting the grace period.
    static func setHealthy(_ probe: ProbeClient, instanceID: String) async throws {
        _ = try await probe.query(
            .autoscaling, version: version, action: "SetInstanceHealth",
            [("InstanceId", instanceID), ("HealthStatus", "Healthy"), ("ShouldRespectGracePeriod", "true")])
    }
}
