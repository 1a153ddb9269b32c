/// The AWS services the agent calls, with the names the SDK conventions use for them.
public enum AWSService: String, Sendable, CaseIterable {
    case s3
    case logs
    case autoscaling
    case sts

    /// The SigV4 signing name.
    public var signingName: String { rawValue }

    /// The serviceId used in `AWS_ENDPOINT_URL_<SERVICE>` (upper-cased, spaces as `_`).
    public var endpointVariableSuffix: String {
        switch self {
        case .s3: return "S3"
        case .logs: return "CLOUDWATCH_LOGS"
        case .autoscaling: return "AUTO_SCALING"
        case .sts: return "STS"
        }
    }

    /// The host prefix of the regional endpoint.
    var hostPrefix: String { rawValue }
}

/// Where each service's requests go: `AWS_ENDPOINT_URL_<SERVICE>`, then `AWS_ENDPOINT_URL`, then the regional
/// AWS endpoint — the rules of the AWS SDKs' "Service-specific endpoints"
/// (https://docs.aws.amazon.com/sdkref/latest/guide/feature-ss-endpoints.html).
public struct EndpointResolver: Sendable {
    private let environment: Environment

    /// Creates a resolver reading the given environment.
    public init(environment: Environment) { self.environment = environment }

    /// An endpoint override for the service, if the environment sets one.
    public func override(for service: AWSService) throws -> Endpoint? {
        let specific = "AWS_ENDPOINT_URL_" + service.endpointVariableSuffix
        for name in [specific, "AWS_ENDPOINT_URL"] {
            guard let value = environment[name] else { continue }
            guard let endpoint = Endpoint(url: value) else {
                throw AWSError(
                    kind: .invalidInput, service: service.rawValue, operation: "resolve endpoint",
                    message: "\(name)=\(value) is not an http(s)://host[:port] URL")
            }
            return endpoint
        }
        return nil
    }

    /// The endpoint for the service in the region (override or AWS default).
    public func endpoint(for service: AWSService, region: String) throws -> Endpoint {
        if let override = try override(for: service) { return override }
        return Endpoint(scheme: "https", host: "\(service.hostPrefix).\(region).\(Self.dnsSuffix(region: region))")
    }

    /// `amazonaws.com`, or `amazonaws.com.cn` in the China regions.
    public static func dnsSuffix(region: String) -> String {
        region.hasPrefix("cn-") ? "amazonaws.com.cn" : "amazonaws.com"
    }
}
