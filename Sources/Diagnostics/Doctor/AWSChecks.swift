import AWSCore
import AgentConfig
import Bootstrap
import Logging

/// The checks that talk to IMDS and AWS, in dependency order: `imds` → `identity` and `credentials` →
/// `s3`, `cloudwatch`, `autoscaling` (concurrently) → `iam`, and `clock` from the `Date` of the answers.
///
/// A check whose prerequisite failed reports `skip` naming that prerequisite, so one root cause shows up as one
/// `fail`. Every call has one attempt and a short time limit.
struct AWSChecks {
    /// The outside world.
    let context: DoctorContext
    /// The validated configuration, if the file was valid.
    let configuration: Configuration?
    /// Receives the AWS core's messages.
    let logger: Logger
    /// Receives each result as soon as it is final (read when the group's deadline passes).
    let partial = PartialResults()

    /// The results in report order: imds, identity, credentials, clock, s3, cloudwatch, autoscaling, iam.
    func run() async -> [CheckResult] {
        let environment = context.environment
        let metadataTimeouts = HTTPTimeouts(
            connectMilliseconds: context.limits.metadataMilliseconds,
            totalMilliseconds: context.limits.metadataMilliseconds)

        // imds
        var metadata: MetadataClient?
        let metadataDisabled = environment.isTrue("AWS_EC2_METADATA_DISABLED")
        let imds: CheckResult
        if metadataDisabled {
            imds = .skip(
                MetadataCheck.name, "AWS_EC2_METADATA_DISABLED is set: instance metadata is not used (off EC2)")
        } else {
            do {
                let endpoint = try MetadataClient.endpoint(environment: environment) ?? MetadataClient.defaultIPv4
                let check = MetadataCheck(
                    endpoint: endpoint, transport: context.transport,
                    timeoutMilliseconds: context.limits.metadataMilliseconds)
                let (result, usable) = await check.run()
                imds = result
                if usable {
                    metadata = MetadataClient(
                        endpoint: endpoint, transport: context.transport, logger: logger, attempts: 1,
                        timeouts: metadataTimeouts)
                }
            } catch {
                imds = CheckResult(
                    name: MetadataCheck.name, status: .fail, detail: "\(error)",
                    hint: "set AWS_EC2_METADATA_SERVICE_ENDPOINT to http://host[:port] or unset it")
            }
        }

        partial.record(imds)

        // identity (instance part)
        var identity: InstanceIdentity?
        var identityFailure: CheckResult?
        if metadataDisabled || metadata != nil {
            do {
                identity = try await IdentityResolver.resolveInstance(
                    metadata: metadata, regionOverride: environment.region)
            } catch {
                identityFailure = CheckResult(
                    name: IdentityCheck.name, status: .fail, detail: Self.message(error),
                    hint: metadataDisabled
                        ? "set AWS_REGION (off EC2 the region can't come from instance metadata)"
                        : "the metadata service lacks basic items: check AWS_EC2_METADATA_SERVICE_ENDPOINT")
            }
        } else {
            identityFailure = .skip(IdentityCheck.name, "needs instance metadata (see imds)")
        }
        let region = identity?.region ?? environment.region

        // credentials
        let clock = ClockCorrection(base: context.clock)
        let transport = ProbeTransport(
            base: context.transport,
            timeouts: HTTPTimeouts(
                connectMilliseconds: context.limits.awsMilliseconds, totalMilliseconds: context.limits.awsMilliseconds),
            clock: context.clock)
        let credentialsCheck = CredentialsCheck(
            environment: environment, metadata: metadata, metadataDisabled: metadataDisabled, clock: clock,
            wallClock: context.clock,
            logger: logger)
        // DescribeAutoScalingInstances needs only the client: it runs while STS answers.
        let instanceID = identity.flatMap { $0.fromMetadata ? $0.instanceID : nil }
        let (credentialsOutcome, described) = await credentialsCheck.run(transport: transport, region: region) {
            probe in
            await Self.describe(probe, instanceID: instanceID)
        }
        let credentials = credentialsOutcome.result
        partial.record(credentials)

        guard let client = credentialsOutcome.client, let region else {
            let reason =
                credentialsOutcome.client == nil
                ? "needs AWS credentials (see credentials)"
                : "needs the region: set AWS_REGION or fix instance metadata (see imds)"
            var identityResult = identityFailure
            if identityResult == nil, let identity {
                identityResult = IdentityCheck.result(
                    identity: identity, group: nil, source: .none, describe: .notTried(reason),
                    configuration: configuration)
            }
            return [
                imds, identityResult ?? .skip(IdentityCheck.name, reason), credentials,
                .skip(ClockCheck.name, "no AWS answer to compare with: \(reason)"),
                artifactSkip(reason), .skip(CloudWatchCheck.name, reason), .skip(AutoScalingCheck.name, reason),
                .skip(PermissionsCheck.name, reason),
            ]
        }
        let probe = ProbeClient(client: client, region: region)

        // identity (group part)
        let describe = (described ?? nil) ?? .notTried("not on EC2")
        var group: String?
        var source = InstanceIdentity.GroupSource.none
        let configured = configuration?.lifecycle.autoScalingGroup ?? "auto"
        if configured != "auto" {
            (group, source) = (configured, .configuration)
        } else if let metadata, let tag = try? await metadata.get("meta-data/tags/instance/aws:autoscaling:groupName"),
            !tag.trimmingASCIIWhitespace().isEmpty
        {
            (group, source) = (tag.trimmingASCIIWhitespace(), .metadataTag)
        } else if let instance = describe.instance {
            (group, source) = (instance.groupName, .api)
        }
        if var resolved = identity {
            resolved.autoScalingGroup = group
            resolved.groupSource = source
            identity = resolved
        }
        var identityResult = identityFailure ?? .skip(IdentityCheck.name, "needs instance metadata (see imds)")
        if identityFailure == nil, let identity {
            identityResult = IdentityCheck.result(
                identity: identity, group: group, source: source, describe: describe, configuration: configuration)
        }

        partial.record(identityResult)

        let account = credentialsOutcome.account ?? "*"
        let facts = AWSFacts(
            probe: probe, configuration: configuration, identity: identity, describe: describe,
            names: ResourceNames(region: region, account: account), grantee: credentialsOutcome.grantee)

        // s3, cloudwatch, autoscaling and the permission-only calls, concurrently; then iam judges them all.
        let permissions = PermissionsCheck(facts: facts)
        let partial = self.partial
        async let artifact = { () async -> ArtifactCheck.Outcome in
            let outcome = await ArtifactCheck(facts: facts).run()
            partial.record(outcome.result)
            return outcome
        }()
        async let logs = { () async -> CloudWatchCheck.Outcome in
            let outcome = await CloudWatchCheck(facts: facts, clock: context.clock).run()
            partial.record(outcome.result)
            return outcome
        }()
        async let autoscaling = { () async -> AutoScalingCheck.Outcome in
            let outcome = await AutoScalingCheck(facts: facts).run()
            partial.record(outcome.result)
            return outcome
        }()
        async let probes = permissions.probe()
        let (artifactOutcome, logsOutcome, autoscalingOutcome) = await (artifact, logs, autoscaling)
        let iam = permissions.result(
            known: artifactOutcome.permissions + logsOutcome.permissions + autoscalingOutcome.permissions,
            probes: await probes,
            objectStatus: artifactOutcome.objectStatus)

        let clockResult = ClockCheck.result(samples: transport.dateSamples)
        return [
            imds, identityResult, credentials, clockResult, artifactOutcome.result, logsOutcome.result,
            autoscalingOutcome.result, iam,
        ]
    }

    /// `DescribeAutoScalingInstances` for this instance (nil when not on EC2).
    static func describe(_ probe: ProbeClient, instanceID: String?) async -> DescribeOutcome? {
        guard let instanceID else { return nil }
        do {
            return try await AutoScalingProbe.describeInstance(probe, id: instanceID).map { .instance($0) }
                ?? .notInGroup
        } catch let error as AWSError {
            return .failed(error)
        } catch {
            return .failed(
                AWSError(
                    kind: .invalidResponse, service: "autoscaling", operation: "DescribeAutoScalingInstances",
                    message: "\(error)"))
        }
    }

    /// The s3 check without AWS: file sources are still checked.
    private func artifactSkip(_ reason: String) -> CheckResult {
        if let configuration, case .file = configuration.app.source {
            return ArtifactCheck.fileResult(configuration.app)
        }
        if configuration == nil { return .skip(ArtifactCheck.name, "needs a valid configuration (see config)") }
        return .skip(ArtifactCheck.name, reason)
    }

    /// An error's message without the `service operation failed` prefix when it is an `AWSError`.
    static func message(_ error: any Error) -> String {
        guard let error = error as? AWSError else { return "\(error)" }
        return error.message.isEmpty ? "\(error)" : error.message
    }
}
