import AWSCore
import Testing
import TestSupport

/// How the 200 answers of PutLogEvents are read: the common `{}` without a decoder, the rest as documented.
@Suite struct PutLogEventsAnswerTests {
    static func logs(answering body: String) -> (CloudWatchLogsClient, FakeTransport) {
        let transport = FakeTransport(fallback: { _ in FakeTransport.response(200, body) })
        return (CloudWatchLogsClient(client: .testing(over: transport), region: "us-east-1"), transport)
    }

    @Test(
        arguments: [
            ("{}", nil),
            ("", nil),
            (" {\n} \r\n", nil),
            (#"{"nextSequenceToken":"4959"}"#, nil),
            (#"{"rejectedLogEventsInfo":{}}"#, CloudWatchLogsClient.RejectedEvents()),
            (
                #"{"rejectedLogEventsInfo":{"tooOldLogEventEndIndex":2}}"#,
                CloudWatchLogsClient.RejectedEvents(tooOldLogEventEndIndex: 2)
            ),
            (
                #"{ "rejectedLogEventsInfo": {"expiredLogEventEndIndex": 1, "tooNewLogEventStartIndex": 3} }"#,
                CloudWatchLogsClient.RejectedEvents(tooNewLogEventStartIndex: 3, expiredLogEventEndIndex: 1)
            ),
        ] as [(String, CloudWatchLogsClient.RejectedEvents?)])
    func answers(body: String, rejected: CloudWatchLogsClient.RejectedEvents?) async throws {
        let (logs, transport) = Self.logs(answering: body)
        #expect(
            try await logs.putLogEvents(group: "/g", stream: "s", events: [.init(timestamp: 1, message: "m")])
                == rejected)
        #expect(transport.sent.count == 1)
    }

    @Test(arguments: ["{", "}", "{}}", "{{}", "[]", "{} x", "null"])
    func malformedAnswersAreErrors(body: String) async throws {
        let (logs, _) = Self.logs(answering: body)
        let error = await #expect(throws: AWSError.self) {
            _ = try await logs.putLogEvents(group: "/g", stream: "s", events: [.init(timestamp: 1, message: "m")])
        }
        #expect(error?.kind == .invalidResponse)
    }
}
