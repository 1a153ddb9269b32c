import AWSCore
import AgentConfig

/// `autoscaling`: the instance is in its group, its lifecycle state and health, the configured hooks exist
/// (`DescribeLifecycleHooks`) with the right transitions, and their timeouts leave room for the agent's launch
/// and drain bounds (the global timeout is min(172800, 100 × HeartbeatTimeout)).
struct AutoScalingCheck {
    /// The check's name in the report.
    static let name = "autoscaling"
    /// A bound above this share of a hook's global timeout is "close to it".
    static let closeShare = 0.9

    /// What the earlier checks established (client, identity, configuration).
    let facts: AWSFacts

    /// The verdict and what the check's calls showed.
    struct Outcome {
        /// The verdict.
        var result: CheckResult
        /// What the calls showed about IAM permissions.
        var permissions: [Permission] = []
        /// The group's hooks, when they could be listed.
        var hooks: [LifecycleHookInfo]?
    }

    /// Runs the check.
    func run() async -> Outcome {
        guard let configuration = facts.configuration else {
            return Outcome(result: .skip(Self.name, "needs a valid configuration (see config)"))
        }
        guard let identity = facts.identity else {
            return Outcome(result: .skip(Self.name, "needs the instance identity (see identity)"))
        }
        let lifecycle = configuration.lifecycle
        let hooksConfigured = lifecycle.launchHook != nil || lifecycle.terminateHook != nil
        /// What the calls showed about IAM permissions.
        var permissions: [Permission] = []
        let describeResource = "*"
        switch facts.describe {
        case .failed(let error):
            permissions.append(
                Permission(
                    action: "autoscaling:DescribeAutoScalingInstances", resource: describeResource, required: true,
                    outcome: Permission.outcome(of: error, success: "")))
        case .instance, .notInGroup:
            permissions.append(
                Permission(
                    action: "autoscaling:DescribeAutoScalingInstances", resource: describeResource, required: true,
                    outcome: .allowed("DescribeAutoScalingInstances")))
        case .notTried:
            break
        }
        guard identity.fromMetadata else {
            return Outcome(
                result: .skip(Self.name, "not on EC2 (instance metadata disabled)"), permissions: permissions)
        }
        var findings = Findings(name: Self.name)
        let instance: AutoScalingClient.Instance
        switch facts.describe {
        case .instance(let found):
            instance = found
        case .notInGroup:
            if let group = identity.autoScalingGroup {
                findings.add(
                    .fail,
                    "\(identity.instanceID) is not in Auto Scaling group \(group) (DescribeAutoScalingInstances is empty)",
                    hint: "attach the instance to the group, or fix lifecycle.auto_scaling_group")
            } else if hooksConfigured {
                findings.add(
                    .warn,
                    "\(identity.instanceID) is in no Auto Scaling group, but lifecycle hooks are configured: they are not used",
                    hint:
                        "launch the instance from the group's launch template, or unset lifecycle.launch_hook/terminate_hook"
                )
            } else {
                return Outcome(
                    result: .skip(Self.name, "\(identity.instanceID) is in no Auto Scaling group"),
                    permissions: permissions)
            }
            return Outcome(result: findings.result, permissions: permissions)
        case .failed(let error):
            let hint =
                Permission.isDenied(error)
                ? "add autoscaling:DescribeAutoScalingInstances on * to \(facts.grantee) (packaging/iam/clock-agent-policy.json)"
                : error.kind == .transport
                    ? "check the network path to Auto Scaling (security groups, NAT or an autoscaling VPC endpoint, HTTPS_PROXY/NO_PROXY)"
                    : ""
            findings.add(.fail, "DescribeAutoScalingInstances failed: \(error)", hint: hint)
            return Outcome(result: findings.result, permissions: permissions)
        case .notTried(let reason):
            return Outcome(result: .skip(Self.name, reason), permissions: permissions)
        }

        if let configured = identity.autoScalingGroup, configured != instance.groupName {
            findings.add(
                .fail,
                "the instance is in group \(instance.groupName), but lifecycle.auto_scaling_group names \(configured)",
                hint: "set lifecycle.auto_scaling_group to \(instance.groupName) or auto")
        }
        let group = instance.groupName
        findings.ok(
            "\(instance.instanceID) in \(group): \(instance.lifecycleState), \(instance.healthStatus ?? "health unknown")"
        )
        Self.stateFindings(instance, &findings)

        // Hooks.
        var hooks: [LifecycleHookInfo]?
        do {
            let listed = try await AutoScalingProbe.describeHooks(facts.probe, group: group)
            hooks = listed
            permissions.append(
                Permission(
                    action: "autoscaling:DescribeLifecycleHooks", resource: "*", required: false,
                    outcome: .allowed("DescribeLifecycleHooks")))
            Self.hookFindings(listed, lifecycle: lifecycle, app: configuration.app, group: group, &findings)
        } catch let error as AWSError where Permission.isDenied(error) {
            permissions.append(
                Permission(
                    action: "autoscaling:DescribeLifecycleHooks", resource: "*", required: false, outcome: .denied))
            if hooksConfigured {
                findings.add(
                    .warn, "cannot list the group's lifecycle hooks (autoscaling:DescribeLifecycleHooks denied)",
                    hint:
                        "add autoscaling:DescribeLifecycleHooks on * to \(facts.grantee) (packaging/iam/clock-agent-policy.json) so doctor can check the hooks"
                )
            }
        } catch {
            permissions.append(
                Permission(
                    action: "autoscaling:DescribeLifecycleHooks", resource: "*", required: false,
                    outcome: Permission.outcome(of: error, success: "")))
            findings.add(.warn, "DescribeLifecycleHooks failed: \(error)", hint: "")
        }
        return Outcome(result: findings.result, permissions: permissions, hooks: hooks)
    }

    /// What the lifecycle state and health mean for the operator.
    static func stateFindings(_ instance: AutoScalingClient.Instance, _ findings: inout Findings) {
        let state = instance.lifecycleState
        if instance.healthStatus?.lowercased() == "unhealthy" {
            findings.add(
                .fail, "the group marked the instance Unhealthy: it is going to be replaced",
                hint: "see why in the agent's log (journalctl -u clock-agent) and `clock-agent status`")
        }
        if state == "InService" { return }
        if state.hasPrefix("Pending") {
            findings.add(
                .warn,
                "the launch is not complete (\(state)): the agent completes the launch hook once the app is healthy",
                hint: "if it stays there, see `clock-agent status` and journalctl -u clock-agent")
        } else if state.hasPrefix("Terminating") || state == "Terminated" {
            findings.add(
                .warn, "the instance is being terminated (\(state))",
                hint: "nothing to fix unless unexpected: see the group's activity history")
        } else {
            findings.add(
                .warn, "the instance is \(state), not InService",
                hint: "see the group's activity history (aws autoscaling describe-scaling-activities)")
        }
    }

    /// Whether the configured hooks exist with the right transitions and room for the launch and drain bounds.
    static func hookFindings(
        _ hooks: [LifecycleHookInfo], lifecycle: LifecycleConfiguration, app: AppConfiguration, group: String,
        _ findings: inout Findings
    ) {
        let launchBound = app.launchTimeout + app.health.startTimeout
        let expectations: [(key: String, name: String?, launching: Bool, bound: Duration, boundName: String)] = [
            (
                "lifecycle.launch_hook", lifecycle.launchHook, true, launchBound,
                "app.launch_timeout + app.health.start_timeout"
            ),
            (
                "lifecycle.terminate_hook", lifecycle.terminateHook, false, lifecycle.drainTimeout,
                "lifecycle.drain_timeout"
            ),
        ]
        var described: [String] = []
        for expectation in expectations {
            let transition =
                expectation.launching ? "autoscaling:EC2_INSTANCE_LAUNCHING" : "autoscaling:EC2_INSTANCE_TERMINATING"
            guard let name = expectation.name else {
                // A hook the agent doesn't complete holds every launch or scale-in until its timeout.
                for hook in hooks where expectation.launching ? hook.isLaunching : hook.isTerminating {
                    findings.add(
                        .warn,
                        "the group has a \(expectation.launching ? "launch" : "terminate") hook \(hook.name) that \(expectation.key) doesn't name: each \(expectation.launching ? "launch" : "scale-in") waits \(hook.heartbeatTimeout.map { "\($0) s" } ?? "its heartbeat timeout") for it",
                        hint: "set \(expectation.key): \(hook.name)")
                }
                continue
            }
            guard let hook = hooks.first(where: { $0.name == name }) else {
                let known = hooks.map(\.name).sorted()
                let create =
                    "create it (aws autoscaling put-lifecycle-hook --auto-scaling-group-name \(group) --lifecycle-hook-name \(name) --lifecycle-transition \(transition) --heartbeat-timeout 300 --default-result ABANDON)"
                let existing = hooks.first { $0.transition == transition }
                findings.add(
                    .fail,
                    "\(expectation.key) \(name) does not exist in group \(group) (hooks: \(known.isEmpty ? "none" : known.joined(separator: ", ")))",
                    hint: existing.map {
                        "set \(expectation.key): \($0.name) (the group's \(expectation.launching ? "launch" : "terminate") hook), or \(create)"
                    }
                        ?? "\(create), or fix \(expectation.key)")
                continue
            }
            guard hook.transition == transition else {
                findings.add(
                    .fail, "\(expectation.key) \(name) is a \(hook.transition) hook, not \(transition)",
                    hint:
                        "name the group's \(expectation.launching ? "launch" : "terminate") hook in \(expectation.key)")
                continue
            }
            var text = "\(name) (heartbeat \(hook.heartbeatTimeout.map { "\($0) s" } ?? "?")"
            if let global = hook.effectiveGlobalTimeout {
                text += ", global \(global) s"
                let bound = Self.seconds(expectation.bound)
                if bound > Double(global) {
                    findings.add(
                        .warn,
                        "\(expectation.boundName) (\(Int(bound)) s) exceeds \(name)'s global timeout (\(global) s): the group decides (\(hook.defaultResult ?? "default result")) before the agent is done",
                        hint:
                            "lower \(expectation.boundName) below \(global) s or raise the hook's HeartbeatTimeout (global = min(172800, 100 × heartbeat))"
                    )
                } else if bound > Double(global) * Self.closeShare {
                    findings.add(
                        .warn,
                        "\(expectation.boundName) (\(Int(bound)) s) is close to \(name)'s global timeout (\(global) s)",
                        hint: "leave a margin: lower \(expectation.boundName) or raise the hook's HeartbeatTimeout")
                }
            }
            described.append(text + ")")
        }
        if !described.isEmpty { findings.ok("hooks " + described.joined(separator: ", ")) }
    }

    /// A duration in seconds.
    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }
}
