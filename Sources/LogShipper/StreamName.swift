/// Renders `logs.stream` for a source: `{instance_id}`, `{hostname}`, `{source}`, `{region}`, `{az}`.
public enum StreamName {
    /// The values of the placeholders.
    public struct Values: Sendable {
        public var instanceID: String
        public var hostname: String
        public var region: String
        public var availabilityZone: String

        /// Creates values.
        public init(instanceID: String, hostname: String, region: String, availabilityZone: String) {
            self.instanceID = instanceID
            self.hostname = hostname
            self.region = region
            self.availabilityZone = availabilityZone
        }
    }

    /// The stream name; `:` and `*` (not allowed in stream names) become `_`, and it is cut to 512 characters.
    public static func render(_ template: String, source: String, values: Values) -> String {
        var name = template
        for (placeholder, value) in [
            ("{instance_id}", values.instanceID), ("{hostname}", values.hostname), ("{source}", source),
            ("{region}", values.region), ("{az}", values.availabilityZone),
        ] {
            name = name.replacing(placeholder, with: value)
        }
        name = String(name.map { $0 == ":" || $0 == "*" ? "_" : $0 })
        return String(name.prefix(512))
    }
}
