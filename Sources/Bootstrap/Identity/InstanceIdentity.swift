import AWSCore

/// Who this instance is: the facts every other part needs (stream names, lifecycle calls, the app's environment).
public struct InstanceIdentity: Sendable, Equatable {
    /// How the Auto Scaling group name was found.
    public enum GroupSource: String, Sendable {
        /// `lifecycle.auto_scaling_group` names it.
        case configuration
        /// The instance tag `aws:autoscaling:groupName` in instance metadata.
        case metadataTag = "instance metadata tag"
        /// `DescribeAutoScalingInstances`.
        case api = "DescribeAutoScalingInstances"
        /// Not in a group (or not on EC2).
        case none
    }

    /// e.g. `i-0123456789abcdef0`.
    public var instanceID: String
    /// e.g. `us-east-1`.
    public var region: String
    /// e.g. `us-east-1a`.
    public var availabilityZone: String
    /// The host name (for the `{hostname}` stream placeholder).
    public var hostname: String
    /// The Auto Scaling group, when the instance is in one.
    public var autoScalingGroup: String?
    /// How the group was found.
    public var groupSource: GroupSource
    /// Whether the identity came from instance metadata (false when IMDS is disabled, e.g. off EC2).
    public var fromMetadata: Bool

    /// Creates an identity.
    public init(
        instanceID: String, region: String, availabilityZone: String, hostname: String,
        autoScalingGroup: String? = nil, groupSource: GroupSource = .none, fromMetadata: Bool = true
    ) {
        self.instanceID = instanceID
        self.region = region
        self.availabilityZone = availabilityZone
        self.hostname = hostname
        self.autoScalingGroup = autoScalingGroup
        self.groupSource = groupSource
        self.fromMetadata = fromMetadata
    }
}

/// The part of instance metadata identity resolution reads; `MetadataClient` is the real one.
public protocol MetadataReading: Sendable {
    /// `/latest/<path>`, nil on 404.
    func get(_ path: String) async throws -> String?
}

extension MetadataClient: MetadataReading {}
