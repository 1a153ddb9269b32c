import AWSCore
import FoundationEssentials

/// `cloudwatch`: the log group exists or can be created, and a stream is writable — proven with the agent's own
/// calls: `CreateLogGroup` (already existing is fine), `CreateLogStream` of `<instance-id>/doctor`, and one
/// `PutLogEvents` of a single event clearly labelled as the doctor's write test.
///
/// Retention is only set when the doctor created the group itself (as the agent would). On an existing group it is
/// read (`DescribeLogGroups`, a doctor-only permission) and compared with `logs.retention_days`, never changed: the
/// agent sets retention only on a group it creates, so a difference is the operator's to settle.
struct CloudWatchCheck {
    /// The check's name in the report.
    static let name = "cloudwatch"
    /// The message of the one event the doctor writes.
    static let testMessage = "clock-agent doctor: write test"

    /// What the earlier checks established (client, identity, configuration).
    let facts: AWSFacts
    /// The local wall clock (event timestamps).
    let clock: any WallClock

    /// The verdict and what the check's calls showed.
    struct Outcome {
        /// The verdict.
        var result: CheckResult
        /// What the calls showed about IAM permissions.
        var permissions: [Permission] = []
    }

    /// Runs the check.
    func run() async -> Outcome {
        guard let logs = facts.configuration?.logs else {
            return Outcome(result: .skip(Self.name, "needs a valid configuration (see config)"))
        }
        guard let identity = facts.identity else {
            return Outcome(result: .skip(Self.name, "needs the instance identity for the stream name (see identity)"))
        }
        let group = logs.group
        let stream = "\(identity.instanceID)/doctor"
        let names = facts.names
        /// What the calls showed about IAM permissions.
        var permissions: [Permission] = []
        var findings = Findings(name: Self.name)
        let grant = { (action: String, resource: String) in
            "add \(action) on \(resource) to \(facts.grantee) (packaging/iam/clock-agent-policy.json)"
        }

        // The group.
        var groupExists = false
        var created = false
        do {
            _ = try await facts.probe.logs("CreateLogGroup", [("logGroupName", .string(group))])
            created = true
            groupExists = true
            permissions.append(
                Permission(
                    action: "logs:CreateLogGroup", resource: names.logGroup(group), required: true,
                    outcome: .allowed("CreateLogGroup")))
        } catch let error as AWSError where error.code == "ResourceAlreadyExistsException" {
            groupExists = true
            permissions.append(
                Permission(
                    action: "logs:CreateLogGroup", resource: names.logGroup(group), required: false,
                    outcome: .allowed(error.code!)))
        } catch let error as AWSError where Permission.isDenied(error) {
            // Not fatal by itself: the agent only creates the group when it is missing.
            permissions.append(
                Permission(
                    action: "logs:CreateLogGroup", resource: names.logGroup(group), required: false, outcome: .denied))
        } catch {
            return Outcome(result: unanswered("CreateLogGroup", error), permissions: permissions)
        }
        if created {
            if let days = logs.retentionDays {
                do {
                    _ = try await facts.probe.logs(
                        "PutRetentionPolicy",
                        [("logGroupName", .string(group)), ("retentionInDays", .int(Int64(days)))])
                    findings.ok("created log group \(group) with retention \(days) days (as the agent would)")
                    permissions.append(
                        Permission(
                            action: "logs:PutRetentionPolicy", resource: names.logGroup(group), required: true,
                            outcome: .allowed("PutRetentionPolicy")))
                } catch {
                    let outcome = Permission.outcome(of: error, success: "")
                    permissions.append(
                        Permission(
                            action: "logs:PutRetentionPolicy", resource: names.logGroup(group), required: true,
                            outcome: outcome))
                    findings.add(
                        .warn,
                        "created log group \(group), but setting its retention (\(days) days) failed: \(AWSChecks.message(error))",
                        hint: outcome == .denied
                            ? grant("logs:PutRetentionPolicy", names.logGroup(group))
                            : "set it: aws logs put-retention-policy --log-group-name \(group) --retention-in-days \(days)"
                    )
                }
            } else {
                findings.ok("created log group \(group) (logs.retention_days unset: retention left alone)")
            }
        } else if groupExists {
            findings.ok("log group \(group) exists")
            permissions.append(
                Permission(
                    action: "logs:PutRetentionPolicy", resource: names.logGroup(group), required: false,
                    outcome: .notExercised("it would change the existing group's retention")))
        }

        // The stream.
        do {
            _ = try await facts.probe.logs(
                "CreateLogStream", [("logGroupName", .string(group)), ("logStreamName", .string(stream))])
            permissions.append(
                Permission(
                    action: "logs:CreateLogStream", resource: names.logStreams(group), required: true,
                    outcome: .allowed("CreateLogStream")))
        } catch let error as AWSError where error.code == "ResourceAlreadyExistsException" {
            permissions.append(
                Permission(
                    action: "logs:CreateLogStream", resource: names.logStreams(group), required: true,
                    outcome: .allowed(error.code!)))
        } catch let error as AWSError where error.code == "ResourceNotFoundException" {
            permissions.append(
                Permission(
                    action: "logs:CreateLogStream", resource: names.logStreams(group), required: true,
                    outcome: .allowed(error.code!)))
            findings.add(
                .fail, "log group \(group) does not exist and can't be created (logs:CreateLogGroup denied)",
                hint: "create it (aws logs create-log-group --log-group-name \(group)) or "
                    + grant("logs:CreateLogGroup", names.logGroup(group)))
            return Outcome(
                result: findings.result,
                permissions: permissions + [Self.putNotTried(group, names, "the group is missing")])
        } catch let error as AWSError where Permission.isDenied(error) {
            permissions.append(
                Permission(
                    action: "logs:CreateLogStream", resource: names.logStreams(group), required: true, outcome: .denied)
            )
            findings.add(
                .fail, "cannot create log streams in \(group): \(error.code ?? "AccessDenied")",
                hint: grant("logs:CreateLogStream", names.logStreams(group)))
            return Outcome(
                result: findings.result,
                permissions: permissions + [Self.putNotTried(group, names, "no stream to write to")])
        } catch {
            return Outcome(result: unanswered("CreateLogStream", error), permissions: permissions)
        }

        if !groupExists {
            findings.add(
                .warn,
                "log group \(group) exists, but logs:CreateLogGroup is denied: the agent couldn't recreate it if it were deleted",
                hint: grant("logs:CreateLogGroup", names.logGroup(group)))
            permissions.append(
                Permission(
                    action: "logs:PutRetentionPolicy", resource: names.logGroup(group), required: false,
                    outcome: .notExercised("it would change the existing group's retention")))
        }

        // One labelled event.
        let now = clock.now()
        let event = JSONText.object([
            ("timestamp", .int(now.milliseconds)),
            ("message", .string("\(Self.testMessage) (instance \(identity.instanceID), \(now.iso8601))")),
        ])
        do {
            let response = try await facts.probe.logs(
                "PutLogEvents",
                [
                    ("logGroupName", .string(group)), ("logStreamName", .string(stream)),
                    ("logEvents", .raw([0x5B] + event + [0x5D])),
                ])
            permissions.append(
                Permission(
                    action: "logs:PutLogEvents", resource: names.logStreams(group), required: true,
                    outcome: .allowed("PutLogEvents")))
            if let rejected = Self.rejected(response.body) {
                findings.add(
                    .warn, "stream \(stream) accepted the call but rejected the test event (\(rejected))",
                    hint: "the local clock may be far off (see clock)")
            } else {
                findings.ok("stream \(stream) writable (1 test event)")
            }
        } catch let error as AWSError where Permission.isDenied(error) {
            permissions.append(
                Permission(
                    action: "logs:PutLogEvents", resource: names.logStreams(group), required: true, outcome: .denied))
            findings.add(
                .fail, "cannot write to \(group): PutLogEvents \(error.code ?? "AccessDenied")",
                hint: grant("logs:PutLogEvents", names.logStreams(group)))
        } catch {
            permissions.append(
                Permission(
                    action: "logs:PutLogEvents", resource: names.logStreams(group), required: true,
                    outcome: Permission.outcome(of: error, success: "")))
            findings.add(.fail, "PutLogEvents to \(group)/\(stream) failed: \(error)", hint: "")
        }
        // The stream exists by now, so the group does (also when CreateLogGroup was denied: a group made by the
        // operator's infrastructure code is the usual case).
        if !created {
            permissions.append(await existingRetention(group, wanted: logs.retentionDays, &findings))
        }
        return Outcome(result: findings.result, permissions: permissions)
    }

    /// Reads the retention of a group the doctor did not create and compares it with `logs.retention_days`.
    private func existingRetention(_ group: String, wanted: Int?, _ findings: inout Findings) async -> Permission {
        let resource = facts.names.allLogGroups
        func permission(_ outcome: Permission.Outcome) -> Permission {
            Permission(action: "logs:DescribeLogGroups", resource: resource, required: false, outcome: outcome)
        }
        let response: HTTPResponse
        do {
            // Names sort ascending and the group's own name is the shortest with its prefix: the first entry is the
            // group, if it is there at all.
            response = try await facts.probe.logs(
                "DescribeLogGroups", [("logGroupNamePrefix", .string(group)), ("limit", .int(1))])
        } catch let error as AWSError where Permission.isDenied(error) {
            findings.add(
                .warn, "cannot read the retention of \(group) (logs:DescribeLogGroups denied)",
                hint: "add logs:DescribeLogGroups on \(resource) to \(facts.grantee) (\(PermissionsCheck.policyFile)) "
                    + "so doctor can check it")
            return permission(.denied)
        } catch {
            findings.add(.warn, "reading the retention of \(group) failed: \(AWSChecks.message(error))", hint: "")
            return permission(Permission.outcome(of: error, success: ""))
        }
        guard let listed = try? JSONDecoder().decode(DescribedGroups.self, from: Data(response.body)),
            let found = listed.logGroups.first(where: { $0.logGroupName == group })
        else {
            findings.add(.warn, "DescribeLogGroups did not list \(group): retention not checked", hint: "")
            return permission(.allowed("DescribeLogGroups"))
        }
        let kept = found.retentionInDays.map { "retention \($0) days" } ?? "retention none (events never expire)"
        switch wanted {
        case nil:
            findings.ok("\(kept) (logs.retention_days unset)")
        case let days? where days == found.retentionInDays:
            findings.ok("\(kept) as configured")
        case let days?:
            findings.add(
                .warn,
                "\(group): \(kept), but logs.retention_days is \(days) (the agent sets retention only on a group it creates)",
                hint: "aws logs put-retention-policy --log-group-name \(group) --retention-in-days \(days), "
                    + "or set logs.retention_days to match")
        }
        return permission(.allowed("DescribeLogGroups"))
    }

    private struct DescribedGroups: Decodable {
        struct Group: Decodable {
            var logGroupName: String
            var retentionInDays: Int?
        }
        var logGroups: [Group]
    }

    private func unanswered(_ operation: String, _ error: any Error) -> CheckResult {
        if let error = error as? AWSError, error.kind == .transport {
            return CheckResult(
                name: Self.name, status: .fail, detail: "\(operation) got no answer: \(error.message)",
                hint:
                    "check the network path to CloudWatch Logs (security groups, NAT or a logs VPC endpoint, HTTPS_PROXY/NO_PROXY)"
            )
        }
        return CheckResult(name: Self.name, status: .fail, detail: "\(operation) failed: \(error)", hint: "")
    }

    private static func putNotTried(_ group: String, _ names: ResourceNames, _ reason: String) -> Permission {
        Permission(
            action: "logs:PutLogEvents", resource: names.logStreams(group), required: true,
            outcome: .notExercised(reason))
    }

    private struct PutResponse: Decodable {
        var rejectedLogEventsInfo: CloudWatchLogsClient.RejectedEvents?
    }

    /// What `rejectedLogEventsInfo` says, if anything was rejected.
    static func rejected(_ body: [UInt8]) -> String? {
        guard !body.isEmpty, let decoded = try? JSONDecoder().decode(PutResponse.self, from: Data(body)),
            let info = decoded.rejectedLogEventsInfo
        else { return nil }
        if info.tooNewLogEventStartIndex != nil { return "too new" }
        if info.tooOldLogEventEndIndex != nil { return "too old" }
        if info.expiredLogEventEndIndex != nil { return "expired" }
        return nil
    }
}
