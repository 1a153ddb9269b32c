/// The Auto Scaling calls the agent makes (Query protocol, version 2011-01-01).
///
/// See the Amazon EC2 Auto Scaling API Reference; error handling for "No active Lifecycle Action found" lives
/// with the lifecycle reporter, which knows the instance's state.
public struct AutoScalingClient: Sendable {
    /// A lifecycle action result.
    public enum LifecycleActionResult: String, Sendable {
        case `continue` = "CONTINUE"
        case abandon = "ABANDON"
    }

    /// An instance as `DescribeAutoScalingInstances` shows it.
    public struct Instance: Sendable, Equatable {
        /// The instance id.
        public var instanceID: String
        /// The group it belongs to.
        public var groupName: String
        /// The availability zone.
        public var availabilityZone: String?
        /// e.g. `Pending:Wait`, `InService`, `Terminating:Wait`.
        public var lifecycleState: String
        /// `HEALTHY` or `UNHEALTHY` (compare case-insensitively).
        public var healthStatus: String?
        /// Whether scale-in protection is on.
        public var protectedFromScaleIn: Bool?

        /// Creates a value.
        public init(
            instanceID: String, groupName: String, availabilityZone: String? = nil, lifecycleState: String,
            healthStatus: String? = nil, protectedFromScaleIn: Bool? = nil
        ) {
            self.instanceID = instanceID
            self.groupName = groupName
            self.availabilityZone = availabilityZone
            self.lifecycleState = lifecycleState
            self.healthStatus = healthStatus
            self.protectedFromScaleIn = protectedFromScaleIn
        }
    }

    /// A lifecycle hook as `DescribeLifecycleHooks` shows it.
    public struct LifecycleHook: Sendable, Equatable {
        /// The hook name.
        public var name: String
        /// `autoscaling:EC2_INSTANCE_LAUNCHING` or `autoscaling:EC2_INSTANCE_TERMINATING`.
        public var transition: String
        /// Seconds the instance waits before `DefaultResult` applies, unless heartbeats arrive.
        public var heartbeatTimeout: Int?
        /// The overall limit, min(172800, 100 × heartbeat timeout).
        public var globalTimeout: Int?
        /// `CONTINUE` or `ABANDON`.
        public var defaultResult: String?
    }

    private let query: QueryProtocol

    /// Creates a client for a region.
    public init(client: AWSClient, region: String) {
        query = QueryProtocol(client: client, service: .autoscaling, version: "2011-01-01", region: region)
    }

    /// `CompleteLifecycleAction` for an instance (no token needed).
    public func completeLifecycleAction(
        group: String, hook: String, instanceID: String, result: LifecycleActionResult
    ) async throws {
        _ = try await query.call(
            "CompleteLifecycleAction",
            [
                ("LifecycleHookName", hook), ("AutoScalingGroupName", group),
                ("LifecycleActionResult", result.rawValue),
                ("InstanceId", instanceID),
            ])
    }

    /// `RecordLifecycleActionHeartbeat`: restarts the hook's heartbeat timeout.
    public func recordLifecycleActionHeartbeat(group: String, hook: String, instanceID: String) async throws {
        _ = try await query.call(
            "RecordLifecycleActionHeartbeat",
            [("LifecycleHookName", hook), ("AutoScalingGroupName", group), ("InstanceId", instanceID)])
    }

    /// `SetInstanceHealth`; `respectGracePeriod: false` makes an `Unhealthy` count even inside the grace period.
    public func setInstanceHealth(instanceID: String, healthy: Bool, respectGracePeriod: Bool) async throws {
        _ = try await query.call(
            "SetInstanceHealth",
            [
                ("InstanceId", instanceID), ("HealthStatus", healthy ? "Healthy" : "Unhealthy"),
                ("ShouldRespectGracePeriod", respectGracePeriod ? "true" : "false"),
            ])
    }

    /// `DescribeAutoScalingInstances` for up to 50 instance ids; an instance in no group is absent from the answer.
    public func describeAutoScalingInstances(_ instanceIDs: [String]) async throws -> [Instance] {
        var parameters: [(String, String)] = []
        for (index, id) in instanceIDs.enumerated() { parameters.append(("InstanceIds.member.\(index + 1)", id)) }
        let result = try await query.call("DescribeAutoScalingInstances", parameters)
        let members = result.child("AutoScalingInstances")?.children(named: "member") ?? []
        return members.compactMap { member in
            guard let id = member.child("InstanceId")?.text, let group = member.child("AutoScalingGroupName")?.text,
                let state = member.child("LifecycleState")?.text
            else { return nil }
            return Instance(
                instanceID: id, groupName: group, availabilityZone: member.child("AvailabilityZone")?.text,
                lifecycleState: state, healthStatus: member.child("HealthStatus")?.text,
                protectedFromScaleIn: member.child("ProtectedFromScaleIn").map { $0.text == "true" })
        }
    }

    /// `DescribeLifecycleHooks` of a group.
    public func describeLifecycleHooks(group: String) async throws -> [LifecycleHook] {
        let result = try await query.call("DescribeLifecycleHooks", [("AutoScalingGroupName", group)])
        let members = result.child("LifecycleHooks")?.children(named: "member") ?? []
        return members.compactMap { member in
            guard let name = member.child("LifecycleHookName")?.text,
                let transition = member.child("LifecycleTransition")?.text
            else { return nil }
            return LifecycleHook(
                name: name, transition: transition,
                heartbeatTimeout: member.child("HeartbeatTimeout").flatMap { Int($0.text) },
                globalTimeout: member.child("GlobalTimeout").flatMap { Int($0.text) },
                defaultResult: member.child("DefaultResult")?.text)
        }
    }
}
