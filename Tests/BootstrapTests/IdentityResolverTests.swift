import AWSCore
import Bootstrap
import Synchronization
import Testing
import TestSupport

@Suite struct IdentityResolverTests {
    struct FakeMetadata: MetadataReading {
        var items: [String: String]
        func get(_ path: String) async throws -> String? { items[path] }
    }

    static let base = [
        "meta-data/instance-id": "i-0abc", "meta-data/placement/availability-zone": "us-west-2-lax-1a",
        "meta-data/placement/region": "us-west-2",
    ]

    @Test func regionComesFromPlacementNotTheZoneName() async throws {
        let identity = try await IdentityResolver.resolveInstance(
            metadata: FakeMetadata(items: Self.base), regionOverride: nil)
        #expect(identity.instanceID == "i-0abc")
        #expect(identity.region == "us-west-2")
        #expect(identity.availabilityZone == "us-west-2-lax-1a")
        let overridden = try await IdentityResolver.resolveInstance(
            metadata: FakeMetadata(items: Self.base), regionOverride: "eu-west-1")
        #expect(overridden.region == "eu-west-1")
    }

    @Test func groupFromConfigurationThenTagThenAPI() async throws {
        let identity = try await IdentityResolver.resolveInstance(
            metadata: FakeMetadata(items: Self.base), regionOverride: nil)
        let calls = Mutex(0)
        let describe: (String) async throws -> [AutoScalingClient.Instance] = { id in
            calls.withLock { $0 += 1 }
            return [
                AutoScalingClient.Instance(
                    instanceID: id, groupName: "from-api", availabilityZone: nil, lifecycleState: "InService",
                    healthStatus: nil, protectedFromScaleIn: nil)
            ]
        }
        let logger = LogCapture().logger()
        let configured = try await IdentityResolver.resolveGroup(
            identity, configured: "named", metadata: FakeMetadata(items: Self.base), describe: describe, logger: logger)
        #expect(configured.autoScalingGroup == "named")
        #expect(configured.groupSource == .configuration)
        var tagged = Self.base
        tagged["meta-data/tags/instance/aws:autoscaling:groupName"] = "from-tag\n"
        let fromTag = try await IdentityResolver.resolveGroup(
            identity, configured: "auto", metadata: FakeMetadata(items: tagged), describe: describe, logger: logger)
        #expect(fromTag.autoScalingGroup == "from-tag")
        #expect(fromTag.groupSource == .metadataTag)
        #expect(calls.withLock { $0 } == 0)
        let fromAPI = try await IdentityResolver.resolveGroup(
            identity, configured: "auto", metadata: FakeMetadata(items: Self.base), describe: describe, logger: logger)
        #expect(fromAPI.autoScalingGroup == "from-api")
        #expect(fromAPI.groupSource == .api)
    }

    @Test func withoutMetadataTheRegionMustBeSet() async throws {
        await #expect(throws: AWSError.self) {
            _ = try await IdentityResolver.resolveInstance(metadata: nil, regionOverride: nil)
        }
        let local = try await IdentityResolver.resolveInstance(metadata: nil, regionOverride: "us-east-1")
        #expect(local.instanceID.hasPrefix("local-"))
        #expect(!local.fromMetadata)
    }
}
