import AWSCore

/// `imds`: the instance metadata service answers and IMDSv2 tokens work.
///
/// One token `PUT` and one `GET`, each with a single attempt and a 1 s limit. When the `PUT` times out, a `GET`
/// without a token tells the two causes apart: if IMDS answers it (401 for IMDSv2-only), the service is reachable
/// and only the `PUT`'s answer is lost on the way back — the hop-limit symptom
/// (`HttpPutResponseHopLimit`, e.g. from a container); if that times out too, nothing answers at all.
/// See "Use the Instance Metadata Service to access instance metadata" in the EC2 User Guide.
struct MetadataCheck {
    /// The check's name in the report.
    static let name = "imds"

    /// The metadata service.
    let endpoint: Endpoint
    /// Sends the requests.
    let transport: any HTTPTransport
    /// The limit of each request.
    let timeoutMilliseconds: Int

    /// The verdict, and whether metadata can be read (a session token was obtained).
    func run() async -> (result: CheckResult, usable: Bool) {
        let seconds = Self.seconds(timeoutMilliseconds)
        var put = request("PUT", "/latest/api/token")
        put.headers.add("X-aws-ec2-metadata-token-ttl-seconds", "60")
        let token: String
        do {
            let response = try await transport.send(put, sink: .memory(limit: 64 * 1024))
            switch response.status {
            case 200 where !response.body.isEmpty:
                token = response.bodyText
            case 403:
                return (
                    fail(
                        "token request (PUT /latest/api/token) refused with HTTP 403: the metadata service is disabled for this instance",
                        hint:
                            "enable it: aws ec2 modify-instance-metadata-options --instance-id <id> --http-endpoint enabled --http-tokens required"
                    ), false
                )
            case 404, 405:
                return (
                    fail(
                        "no IMDSv2 token endpoint at \(endpoint.base) (HTTP \(response.status)); clock-agent uses IMDSv2 only",
                        hint:
                            "on EC2 enable IMDSv2 (aws ec2 modify-instance-metadata-options --http-tokens required); elsewhere point AWS_EC2_METADATA_SERVICE_ENDPOINT at an IMDSv2 endpoint or set AWS_EC2_METADATA_DISABLED=true"
                    ), false
                )
            default:
                return (
                    fail(
                        "token request (PUT /latest/api/token) answered HTTP \(response.status)",
                        hint: "check AWS_EC2_METADATA_SERVICE_ENDPOINT and any proxy in front of the metadata service"),
                    false
                )
            }
        } catch let error as AWSError where error.isTimeout {
            return (await explainTokenTimeout(seconds: seconds), false)
        } catch {
            return (unreachable(error), false)
        }
        var get = request("GET", "/latest/meta-data/instance-id")
        get.headers.add("X-aws-ec2-metadata-token", token)
        do {
            let response = try await transport.send(get, sink: .memory(limit: 64 * 1024))
            guard response.status == 200 else {
                return (
                    fail(
                        "IMDSv2 token obtained, but GET meta-data/instance-id answered HTTP \(response.status)",
                        hint:
                            "check AWS_EC2_METADATA_SERVICE_ENDPOINT; on EC2 this points at a broken metadata service: stop and start the instance"
                    ), false
                )
            }
            let id = response.bodyText.trimmingASCIIWhitespace()
            return (
                CheckResult(
                    name: Self.name, status: .ok,
                    detail: "IMDSv2 token and metadata work at \(endpoint.base) (instance \(id))"), true
            )
        } catch let error as AWSError where error.isTimeout {
            return (
                fail(
                    "IMDSv2 token obtained, but GET meta-data/instance-id timed out after \(seconds) s",
                    hint:
                        "link-local traffic is throttled (ethtool -S <interface> | grep linklocal_allowance_exceeded): reduce metadata, DNS and NTP request rates"
                ), false
            )
        } catch {
            return (unreachable(error), false)
        }
    }

    /// The `PUT` timed out: a token-less `GET` shows whether IMDS is reachable at all.
    private func explainTokenTimeout(seconds: String) async -> CheckResult {
        let probe = request("GET", "/latest/meta-data/")
        do {
            let response = try await transport.send(probe, sink: .memory(limit: 64 * 1024))
            return fail(
                "token request (PUT /latest/api/token) timed out after \(seconds) s, while a GET without a token was answered (HTTP \(response.status))",
                hint:
                    "the instance metadata hop limit is too low for this network path (HttpPutResponseHopLimit, e.g. the agent runs in a container); raise it to 2 (aws ec2 modify-instance-metadata-options --instance-id <id> --http-put-response-hop-limit 2) or run the agent on the host"
            )
        } catch {
            return fail(
                "token request (PUT /latest/api/token) timed out after \(seconds) s and \(endpoint.base) answers nothing",
                hint:
                    "on EC2: the instance metadata hop limit may be too low (HttpPutResponseHopLimit: raise it to 2 when the agent runs in a container) or link-local traffic is throttled (ethtool -S <interface> | grep linklocal_allowance_exceeded); off EC2: set AWS_EC2_METADATA_DISABLED=true and AWS_REGION"
            )
        }
    }

    private func unreachable(_ error: any Error) -> CheckResult {
        let message = (error as? AWSError)?.message ?? "\(error)"
        return fail(
            "cannot reach the instance metadata service at \(endpoint.base): \(message)",
            hint:
                "off EC2 set AWS_EC2_METADATA_DISABLED=true and AWS_REGION; on EC2 check that no firewall rule (iptables, a container network) blocks \(MetadataClient.defaultIPv4.host)"
        )
    }

    private func fail(_ detail: String, hint: String) -> CheckResult {
        CheckResult(name: Self.name, status: .fail, detail: detail, hint: hint)
    }

    private func request(_ method: String, _ path: String) -> HTTPRequest {
        HTTPRequest(
            method: method, endpoint: endpoint, path: endpoint.basePath + path,
            timeouts: HTTPTimeouts(connectMilliseconds: timeoutMilliseconds, totalMilliseconds: timeoutMilliseconds),
            useProxy: false)
    }

    /// `1` for 1000 ms, `1.5` for 1500 ms.
    static func seconds(_ milliseconds: Int) -> String {
        milliseconds % 1000 == 0 ? "\(milliseconds / 1000)" : "\(Double(milliseconds) / 1000)"
    }
}
