import AWSCore
import AgentConfig

/// `iam`: every permission the agent needs, proven by the agent's own harmless calls — no `iam:*` permission.
///
/// Most come from the other checks' calls (HeadObject, CreateLogGroup/Stream, PutLogEvents,
/// DescribeAutoScalingInstances, DescribeLifecycleHooks). The rest are proven by calls whose answer shows that
/// authorization passed without changing anything:
/// - `s3:ListBucket`: HeadObject of a key that surely doesn't exist answers 404 only with it (403 without).
/// - `autoscaling:RecordLifecycleActionHeartbeat` / `CompleteLifecycleAction`: on a hook with no action pending
///   for this instance, AWS answers `ValidationError: No active Lifecycle Action found` — after IAM allowed the
///   call (`AccessDenied` otherwise). The hook probed is one that can't be pending in the current state (the
///   terminate hook while `Pending…`, the launch hook otherwise), and `CompleteLifecycleAction` is never called
///   while the instance is in a `…:Wait` state, where it could decide the real action.
/// - `autoscaling:SetInstanceHealth`: `Healthy`, only for an instance the group already sees as healthy.
struct PermissionsCheck: Sendable {
    /// The check's name in the report.
    static let name = "iam"
    /// The hook name used when no configured hook is safe to probe: a hook that doesn't exist can't have an
    /// action pending.
    static let probeHook = "clock-agent-doctor-probe"
    /// Where the project keeps the policy to change.
    static let policyFile = "packaging/iam/clock-agent-policy.json"

    /// What the earlier checks established (client, identity, configuration).
    let facts: AWSFacts

    /// What the permission-only calls answered; judged once the other checks are done.
    struct Probes: Sendable {
        /// The missing-key HeadObject for `s3:ListBucket`: its resource and outcome before knowing about GetObject.
        var listBucket: (resource: String, outcome: Permission.Outcome, ambiguous403: Bool)?
        var lifecycle: [Permission] = []
    }

    /// Makes the permission-only calls (concurrently with the other checks: they need only the instance state).
    func probe() async -> Probes {
        guard let configuration = facts.configuration else { return Probes() }
        async let listBucket = listBucketProbe(configuration.app)
        async let lifecycle = lifecycleProbes(configuration.lifecycle)
        return Probes(listBucket: await listBucket, lifecycle: await lifecycle)
    }

    /// The verdict over the other checks' calls and the probes.
    func result(known: [Permission], probes: Probes, objectStatus: Int?) -> CheckResult {
        guard facts.configuration != nil else { return .skip(Self.name, "needs a valid configuration (see config)") }
        var all = known
        if let listBucket = probes.listBucket {
            var outcome = listBucket.outcome
            // 403 for a missing key also comes when s3:GetObject itself is denied: only a known-allowed
            // GetObject (200 or 404 on the artifact) makes it conclusive.
            if listBucket.ambiguous403 {
                outcome =
                    objectStatus == 200 || objectStatus == 404
                    ? .denied : .unknown("403 for a missing key while s3:GetObject is not proven")
            }
            all.append(
                Permission(action: "s3:ListBucket", resource: listBucket.resource, required: false, outcome: outcome))
        }
        return Self.result(all + probes.lifecycle, grantee: facts.grantee)
    }

    /// The verdict over every permission (shared with the tests).
    static func result(_ permissions: [Permission], grantee: String) -> CheckResult {
        guard !permissions.isEmpty else { return .skip(name, "no AWS permission applies to this configuration") }
        let deniedRequired = permissions.filter { $0.required && $0.outcome == .denied }
        let deniedOptional = permissions.filter { !$0.required && $0.outcome == .denied }
        let unknown = permissions.filter { if case .unknown = $0.outcome { return true } else { return false } }
        let proven = permissions.filter { if case .allowed = $0.outcome { return true } else { return false } }
        let skipped = permissions.compactMap { permission -> String? in
            guard case .notExercised(let why) = permission.outcome else { return nil }
            return "\(permission.action) (\(why))"
        }
        var findings = Findings(name: name)
        if !deniedRequired.isEmpty {
            findings.add(
                .fail, "denied: " + deniedRequired.map(\.action).joined(separator: ", "),
                hint: grantHint(deniedRequired, grantee: grantee))
        }
        if !deniedOptional.isEmpty {
            findings.add(
                .warn, "denied (not essential): " + deniedOptional.map(\.action).joined(separator: ", "),
                hint: grantHint(deniedOptional, grantee: grantee))
        }
        if !unknown.isEmpty {
            let texts = unknown.map { permission -> String in
                guard case .unknown(let why) = permission.outcome else { return permission.action }
                return "\(permission.action) (\(why))"
            }
            findings.add(
                .warn, "not proven: " + texts.joined(separator: ", "),
                hint: "run doctor again once the AWS endpoints answer")
        }
        findings.ok(
            "\(proven.count) permission\(proven.count == 1 ? "" : "s") proven by the agent's own harmless calls")
        if !skipped.isEmpty { findings.ok("not exercised: " + skipped.joined(separator: ", ")) }
        return findings.result
    }

    /// `add A and B on R1, C on R2 to the instance role X (packaging/iam/clock-agent-policy.json)`.
    static func grantHint(_ permissions: [Permission], grantee: String) -> String {
        var resources: [String] = []
        var actions: [String: [String]] = [:]
        for permission in permissions {
            if actions[permission.resource] == nil { resources.append(permission.resource) }
            if !(actions[permission.resource] ?? []).contains(permission.action) {
                actions[permission.resource, default: []].append(permission.action)
            }
        }
        let parts = resources.map { resource -> String in
            let list = actions[resource] ?? []
            let joined =
                list.count <= 1 ? list.joined() : list.dropLast().joined(separator: ", ") + " and " + list.last!
            return "\(joined) on \(resource)"
        }
        return "add \(parts.joined(separator: "; ")) to \(grantee) (\(policyFile))"
    }

    // MARK: - Probes

    private func listBucketProbe(
        _ app: AppConfiguration
    ) async -> (
        resource: String, outcome: Permission.Outcome, ambiguous403: Bool
    )? {
        guard case .s3(let bucket, let key) = app.source else { return nil }
        let resource = ResourceNames.bucket(bucket)
        let prefix = key.lastIndex(of: "/").map { String(key[...$0]) } ?? ""
        let missing = "\(prefix)clock-agent-doctor-missing-\(UInt64.random(in: 0...UInt64.max))"
        do {
            _ = try await facts.probe.headObject(bucket: bucket, key: missing)
            return (resource, .unknown("a key that should be missing exists: s3://\(bucket)/\(missing)"), false)
        } catch let error as AWSError where error.httpStatus == 404 {
            return (resource, .allowed("404 for a missing key"), false)
        } catch let error as AWSError where error.httpStatus == 403 {
            return (resource, .denied, true)
        } catch {
            return (resource, Permission.outcome(of: error, success: ""), false)
        }
    }

    private func lifecycleProbes(_ lifecycle: LifecycleConfiguration) async -> [Permission] {
        guard let instance = facts.describe.instance else { return [] }
        let group = instance.groupName
        let resource = facts.names.autoScalingGroup(group)
        let hooksConfigured = lifecycle.launchHook != nil || lifecycle.terminateHook != nil
        let state = instance.lifecycleState
        /// What the calls showed about IAM permissions.
        var permissions: [Permission] = []
        let hook = Self.safeHook(state: state, lifecycle: lifecycle)

        if hooksConfigured {
            if let hook {
                async let heartbeat = Self.attempt {
                    try await AutoScalingProbe.recordHeartbeat(
                        facts.probe, group: group, hook: hook, instanceID: instance.instanceID)
                }
                async let complete: Permission.Outcome =
                    state.hasSuffix(":Wait")
                    ? .notExercised("the instance is \(state): a call could decide the pending action")
                    : Self.attempt {
                        try await AutoScalingProbe.completeContinue(
                            facts.probe, group: group, hook: hook, instanceID: instance.instanceID)
                    }
                permissions.append(
                    Permission(
                        action: "autoscaling:RecordLifecycleActionHeartbeat", resource: resource, required: true,
                        outcome: await heartbeat))
                permissions.append(
                    Permission(
                        action: "autoscaling:CompleteLifecycleAction", resource: resource, required: true,
                        outcome: await complete))
            } else {
                let why = "the instance is \(state): no hook is safe to probe"
                permissions.append(
                    Permission(
                        action: "autoscaling:RecordLifecycleActionHeartbeat", resource: resource, required: true,
                        outcome: .notExercised(why)))
                permissions.append(
                    Permission(
                        action: "autoscaling:CompleteLifecycleAction", resource: resource, required: true,
                        outcome: .notExercised(why)))
            }
        }
        if lifecycle.reportUnhealthy {
            let outcome: Permission.Outcome
            if instance.healthStatus?.lowercased() == "healthy" {
                outcome = await Self.attempt {
                    try await AutoScalingProbe.setHealthy(facts.probe, instanceID: instance.instanceID)
                }
            } else {
                outcome = .notExercised(
                    "the instance is \(instance.healthStatus ?? "of unknown health"); doctor only reports Healthy for a healthy instance"
                )
            }
            permissions.append(
                Permission(
                    action: "autoscaling:SetInstanceHealth", resource: resource, required: true, outcome: outcome))
        }
        return permissions
    }

    /// A hook that can't have an action pending in this state: the terminate hook while launching, the launch
    /// hook once launched; nil when neither is certain (warm pools, standby). Falls back to a hook name that
    /// doesn't exist when the safe one isn't configured.
    static func safeHook(state: String, lifecycle: LifecycleConfiguration) -> String? {
        if state.hasPrefix("Pending") { return lifecycle.terminateHook ?? probeHook }
        if state == "InService" || state.hasPrefix("Terminating") || state == "Terminated" {
            return lifecycle.launchHook ?? probeHook
        }
        return nil
    }

    /// The permission outcome of a call: success or any non-authorization error proves it.
    static func attempt(_ call: () async throws -> Void) async -> Permission.Outcome {
        do {
            try await call()
            return .allowed("call succeeded")
        } catch {
            return Permission.outcome(of: error, success: "")
        }
    }
}
