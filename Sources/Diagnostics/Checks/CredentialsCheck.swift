import AWSCore
import Logging

/// `credentials`: present, where they come from, when they expire, and whether AWS accepts them
/// (`sts:GetCallerIdentity`, which needs no permission) — and whose they are.
struct CredentialsCheck {
    /// The check's name in the report.
    static let name = "credentials"
    /// Less time than this left before expiry is a warning: the agent refreshes 15 minutes ahead.
    static let expiryWarning: Double = 15 * 60

    /// The process environment.
    let environment: Environment
    /// IMDS, when the imds check found it usable.
    let metadata: MetadataClient?
    /// Whether `AWS_EC2_METADATA_DISABLED` is set.
    let metadataDisabled: Bool
    /// Signs requests (corrected by AWS's `Date`).
    let clock: ClockCorrection
    /// The uncorrected local clock, for the expiry arithmetic.
    let wallClock: any WallClock
    /// Receives the AWS core's messages.
    let logger: Logger

    /// The verdict and what the check's calls showed.
    struct Outcome {
        /// The verdict.
        var result: CheckResult
        /// What was found so far (STS adds to it).
        var findings = Findings(name: CredentialsCheck.name)
        /// A client for the later checks, when credentials were found.
        var client: AWSClient?
        /// The account from GetCallerIdentity.
        var account: String?
        /// Who gets missing permissions, for hints.
        var grantee: String
        /// The instance-profile role, if that is the source.
        var role: String?
        /// `environment` or `instance-profile`.
        var source: String?
    }

    /// Finds the credentials, then asks STS who they belong to while `alongside` makes the next calls with the
    /// same client (so a slow endpoint costs one timeout, not two in a row).
    func run<Extra: Sendable>(
        transport: ProbeTransport, region: String?, alongside: @escaping @Sendable (ProbeClient) async -> Extra
    ) async -> (Outcome, Extra?) {
        let outcome = await prepare(transport: transport)
        guard let client = outcome.client, let region else {
            var outcome = outcome
            if outcome.client != nil {
                var findings = outcome.findings
                findings.add(.warn, "sts:GetCallerIdentity not tried: region unknown", hint: "set AWS_REGION")
                outcome.result = findings.result
            }
            return (outcome, nil)
        }
        let probe = ProbeClient(client: client, region: region)
        async let extra = alongside(probe)
        let verified = await verify(outcome, probe: probe)
        return (verified, await extra)
    }

    private func prepare(transport: ProbeTransport) async -> Outcome {
        let provider: any CredentialsProvider
        if let fromEnvironment = StaticCredentialsProvider(environment: environment) {
            provider = fromEnvironment
        } else if environment["AWS_ACCESS_KEY_ID"] != nil {
            return failure("AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not", hint: "set both or neither")
        } else if let metadata {
            provider = InstanceProfileCredentialsProvider(metadata: metadata, clock: clock, logger: logger)
        } else if metadataDisabled {
            return failure(
                "no credentials: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY are not set and instance metadata is disabled",
                hint:
                    "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN), or run on EC2 with an instance profile"
            )
        } else {
            return Outcome(
                result: .skip(Self.name, "instance-profile credentials need instance metadata (see imds)"), client: nil,
                account: nil, grantee: "the instance role")
        }
        do {
            _ = try await provider.credentials()
        } catch {
            let hint =
                metadata != nil
                ? "attach an instance profile whose role has the clock-agent policy (packaging/iam/clock-agent-policy.json)"
                : "check AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY"
            return failure(AWSChecks.message(error), hint: hint)
        }
        let snapshot = await provider.snapshot()
        let grantee = snapshot.role.map { "the instance role \($0)" } ?? "the instance role"
        var description = snapshot.source
        if let role = snapshot.role {
            description += " credentials of role \(role)"
        } else {
            description += " credentials"
        }
        if let key = snapshot.maskedAccessKeyID { description += " (key \(key))" }
        var findings = Findings(name: Self.name)
        if let expiration = snapshot.expiration {
            let left = expiration.secondsSinceEpoch - wallClock.now().secondsSinceEpoch
            if left <= 0 {
                findings.add(
                    .fail, "\(description) expired \(Format.duration(-left)) ago (\(expiration.iso8601))",
                    hint: snapshot.source == "environment"
                        ? "renew AWS_SESSION_TOKEN and the keys"
                        : "the metadata service hands out stale credentials: check the instance profile (aws ec2 describe-iam-instance-profile-associations) and the clock"
                )
            } else if left < Self.expiryWarning {
                findings.add(
                    .warn, "\(description) expire in \(Format.duration(left)) (\(expiration.iso8601))",
                    hint: snapshot.source == "environment"
                        ? "renew AWS_SESSION_TOKEN and the keys before they expire"
                        : "EC2 normally rotates instance-profile credentials well before this: check the instance profile and the clock"
                )
            } else {
                findings.ok("\(description), expire in \(Format.duration(left))")
            }
        } else {
            findings.ok("\(description), no expiry")
        }
        let client = AWSClient(
            transport: transport, credentials: provider, clock: clock,
            endpoints: EndpointResolver(environment: environment),
            logger: logger)
        return Outcome(
            result: findings.result, findings: findings, client: client, account: nil, grantee: grantee,
            role: snapshot.role, source: snapshot.source)
    }

    /// `sts:GetCallerIdentity`: whether AWS accepts the credentials, and whose they are.
    private func verify(_ prepared: Outcome, probe: ProbeClient) async -> Outcome {
        var outcome = prepared
        var findings = prepared.findings
        do {
            let result = try await probe.query(.sts, version: "2011-06-15", action: "GetCallerIdentity", [])
            let arn = result.child("Arn")?.text ?? "?"
            outcome.account = result.child("Account")?.text
            findings.ok("sts:GetCallerIdentity: \(arn)")
            if prepared.role == nil { outcome.grantee = arn }
        } catch let error as AWSError {
            if error.kind == .transport || RetryPolicy.isRetryable(error) {
                findings.add(
                    .warn, "sts:GetCallerIdentity got no answer: \(error)",
                    hint:
                        "the agent itself doesn't call STS; if the other AWS checks fail too, check the network path to AWS (security groups, NAT or VPC endpoints, HTTPS_PROXY)"
                )
            } else if error.hasCode(
                "SignatureDoesNotMatch", "InvalidSignatureException", "RequestExpired", "RequestTimeTooSkewed")
            {
                findings.add(
                    .fail, "AWS refused the signature: \(error)",
                    hint: "check the clock (see clock) and the credentials")
            } else {
                findings.add(
                    .fail, "AWS refused the credentials: \(error)",
                    hint: prepared.source == "environment"
                        ? "check AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY/AWS_SESSION_TOKEN"
                        : "check that the instance profile's role still exists and may be assumed by ec2.amazonaws.com")
            }
        } catch {
            findings.add(.warn, "sts:GetCallerIdentity failed: \(error)", hint: "")
        }
        outcome.findings = findings
        outcome.result = findings.result
        return outcome
    }

    private func failure(_ detail: String, hint: String) -> Outcome {
        Outcome(
            result: CheckResult(name: Self.name, status: .fail, detail: detail, hint: hint), client: nil, account: nil,
            grantee: "the instance role")
    }
}
