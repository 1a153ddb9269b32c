import AWSCore
import Logging

#if canImport(Glibc)
    import Glibc
#endif

/// Finds the instance's identity: instance id, region and AZ from IMDS (cached for the life of the process,
/// since they can't change while it runs), then the Auto Scaling group.
public enum IdentityResolver {
    /// Instance id, region, AZ and host name.
    /// - Parameters:
    ///   - metadata: IMDS, or nil when disabled (`AWS_EC2_METADATA_DISABLED`); then the region must come from the
    ///     environment and the instance id is `local-<hostname>`.
    ///   - regionOverride: `AWS_REGION`/`AWS_DEFAULT_REGION`, which wins over `placement/region`.
    public static func resolveInstance(
        metadata: (any MetadataReading)?, regionOverride: String?
    ) async throws
        -> InstanceIdentity
    {
        let host = hostname()
        guard let metadata else {
            guard let region = regionOverride else {
                throw AWSError(
                    kind: .metadata, service: "imds", operation: "identity",
                    message:
                        "the instance metadata service is disabled and AWS_REGION is not set: cannot tell the region")
            }
            return InstanceIdentity(
                instanceID: "local-\(host)", region: region, availabilityZone: "local", hostname: host,
                fromMetadata: false)
        }
        let instanceID = try await require(metadata, "meta-data/instance-id")
        let zone = try await require(metadata, "meta-data/placement/availability-zone")
        let region: String
        if let regionOverride {
            region = regionOverride
        } else {
            // placement/region, not the AZ minus its last letter: that is wrong for Local Zones (us-west-2-lax-1a).
            region = try await require(metadata, "meta-data/placement/region")
        }
        return InstanceIdentity(instanceID: instanceID, region: region, availabilityZone: zone, hostname: host)
    }

    /// Adds the Auto Scaling group: the configured name, else the instance tag in IMDS, else
    /// `DescribeAutoScalingInstances` (instance metadata tags may be disabled for the instance).
    public static func resolveGroup(
        _ identity: InstanceIdentity, configured: String, metadata: (any MetadataReading)?,
        describe: (String) async throws -> [AutoScalingClient.Instance], logger: Logger
    ) async throws -> InstanceIdentity {
        var identity = identity
        if configured != "auto" {
            identity.autoScalingGroup = configured
            identity.groupSource = .configuration
            return identity
        }
        guard identity.fromMetadata else { return identity }
        if let metadata, let tag = try await metadata.get("meta-data/tags/instance/aws:autoscaling:groupName") {
            let name = tag.trimmingASCIIWhitespace()
            if !name.isEmpty {
                identity.autoScalingGroup = name
                identity.groupSource = .metadataTag
                return identity
            }
        }
        let instances = try await describe(identity.instanceID)
        if let instance = instances.first(where: { $0.instanceID == identity.instanceID }) {
            identity.autoScalingGroup = instance.groupName
            identity.groupSource = .api
        } else {
            logger.notice(
                "this instance is in no Auto Scaling group; lifecycle hooks and health reports are off",
                metadata: ["ec2.instance_id": "\(identity.instanceID)"])
        }
        return identity
    }

    private static func require(_ metadata: any MetadataReading, _ path: String) async throws -> String {
        guard let value = try await metadata.get(path)?.trimmingASCIIWhitespace(), !value.isEmpty else {
            throw AWSError(
                kind: .metadata, service: "imds", operation: "GET \(path)", httpStatus: 404,
                message: "instance metadata has no \(path)")
        }
        return value
    }

    /// The host name (`gethostname`).
    public static func hostname() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "localhost" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
