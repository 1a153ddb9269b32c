/// The AWS Query protocol: form-encoded `Action=…&Version=…` in, XML out (Auto Scaling, STS).
struct QueryProtocol {
    let client: AWSClient
    let service: AWSService
    let version: String
    let region: String

    /// Sends an action and returns the `<Action>Result` element (or the root when there is none).
    func call(_ action: String, _ parameters: [(String, String)]) async throws -> XMLElement {
        let endpoint = try client.endpoints.endpoint(for: service, region: region)
        var request = HTTPRequest(method: "POST", endpoint: endpoint, path: endpoint.basePath + "/")
        request.headers.add("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
        request.body = Array(Self.formBody(action: action, version: version, parameters).utf8)
        let signer = SigV4Signer(service: service.signingName, region: region)
        let response = try await client.execute(request, signer: signer, operation: action)
        guard let root = XMLElement.parse(response.body) else {
            throw AWSError(
                kind: .invalidResponse, service: service.rawValue, operation: action,
                message: "the answer is not XML: \(response.bodyText.prefix(200))")
        }
        return root.child("\(action)Result") ?? root
    }

    /// `Action=…&Version=…&Name=value…`, values percent-encoded with the unreserved set kept.
    static func formBody(action: String, version: String, _ parameters: [(String, String)]) -> String {
        var parts = ["Action=\(PercentEncoding.encode(action))", "Version=\(PercentEncoding.encode(version))"]
        for (name, value) in parameters {
            parts.append("\(PercentEncoding.encode(name))=\(PercentEncoding.encode(value))")
        }
        return parts.joined(separator: "&")
    }
}
