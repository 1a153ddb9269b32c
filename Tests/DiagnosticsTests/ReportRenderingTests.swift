import Foundation
import Testing

@testable import Diagnostics

/// The text and JSON forms of a fixed report: golden output, JSON shape, exit status.
@Suite struct ReportRenderingTests {
    /// One result of each status, a long name, a multi-line detail, an ok with a hint (not shown) and a warn
    /// without one (no fix line).
    static let report = DoctorReport(checks: [
        CheckResult(name: "config", status: .ok, detail: "/etc/clock-agent/config.yaml is valid"),
        CheckResult(
            name: "imds", status: .fail, detail: "token request (PUT /latest/api/token) timed out after 1 s",
            hint:
                "the instance metadata hop limit is too low for this network path (HttpPutResponseHopLimit); raise it to 2 or run the agent on the host"
        ),
        CheckResult(name: "identity", status: .skip, detail: "needs instance metadata (see imds)"),
        CheckResult(
            name: "clock", status: .warn, detail: "the local clock is 2 min ahead of AWS", hint: "check chrony/NTP"),
        CheckResult(name: "app", status: .warn, detail: "agent not running"),
        CheckResult(name: "a-rather-long-name", status: .ok, detail: "two\nlines", hint: "not shown for ok"),
    ])

    static let goldenText = """
        ok    config        /etc/clock-agent/config.yaml is valid
        fail  imds          token request (PUT /latest/api/token) timed out after 1 s
              fix: the instance metadata hop limit is too low for this network path (HttpPutResponseHopLimit); raise it to 2 or run the agent on the host
        skip  identity      needs instance metadata (see imds)
        warn  clock         the local clock is 2 min ahead of AWS
              fix: check chrony/NTP
        warn  app           agent not running
        ok    a-rather-long-name two lines
        summary: 2 ok, 2 warn, 1 fail, 1 skip

        """

    static let goldenJSON = """
        {"checks": [
          {"name":"config","status":"ok","detail":"/etc/clock-agent/config.yaml is valid","hint":""},
          {"name":"imds","status":"fail","detail":"token request (PUT /latest/api/token) timed out after 1 s","hint":"the instance metadata hop limit is too low for this network path (HttpPutResponseHopLimit); raise it to 2 or run the agent on the host"},
          {"name":"identity","status":"skip","detail":"needs instance metadata (see imds)","hint":""},
          {"name":"clock","status":"warn","detail":"the local clock is 2 min ahead of AWS","hint":"check chrony/NTP"},
          {"name":"app","status":"warn","detail":"agent not running","hint":""},
          {"name":"a-rather-long-name","status":"ok","detail":"two lines","hint":"not shown for ok"}
        ], "summary": {"ok":2,"warn":2,"fail":1,"skip":1}}

        """

    @Test func textMatchesGolden() {
        #expect(Self.report.text == Self.goldenText)
    }

    @Test func jsonMatchesGolden() {
        #expect(Self.report.json == Self.goldenJSON)
    }

    @Test func jsonShape() throws {
        let object = try #require(JSONSerialization.jsonObject(with: Data(Self.report.json.utf8)) as? [String: Any])
        #expect(Set(object.keys) == ["checks", "summary"])
        let checks = try #require(object["checks"] as? [[String: Any]])
        #expect(checks.count == 6)
        for check in checks {
            #expect(Set(check.keys) == ["name", "status", "detail", "hint"])
            #expect(["ok", "warn", "fail", "skip"].contains(check["status"] as? String ?? ""))
            #expect(check["hint"] is String)
        }
        let summary = try #require(object["summary"] as? [String: Int])
        #expect(summary == ["ok": 2, "warn": 2, "fail": 1, "skip": 1])
        #expect(summary.values.reduce(0, +) == checks.count)
    }

    @Test func jsonEscapesControlCharactersAndQuotes() throws {
        let report = DoctorReport(checks: [CheckResult(name: "x", status: .ok, detail: "say \"hi\" \\ \u{1} ü")])
        let object = try #require(JSONSerialization.jsonObject(with: Data(report.json.utf8)) as? [String: Any])
        let checks = try #require(object["checks"] as? [[String: Any]])
        #expect(checks[0]["detail"] as? String == "say \"hi\" \\ \u{1} ü")
    }

    @Test func emptyReport() throws {
        let report = DoctorReport(checks: [])
        #expect(report.text == "summary: 0 ok, 0 warn, 0 fail, 0 skip\n")
        let object = try #require(JSONSerialization.jsonObject(with: Data(report.json.utf8)) as? [String: Any])
        #expect((object["checks"] as? [Any])?.isEmpty == true)
    }

    @Test(arguments: [
        ([CheckStatus.ok, .skip, .warn], Int32(0)),
        ([CheckStatus.ok, .fail], Int32(1)),
        ([CheckStatus.skip], Int32(0)),
    ])
    func exitCode(statuses: [CheckStatus], expected: Int32) {
        let report = DoctorReport(checks: statuses.map { CheckResult(name: "c", status: $0, detail: "d") })
        #expect(report.exitCode == expected)
    }

    @Test func findingsTakeTheWorstStatusAndListProblemsFirst() {
        var findings = Findings(name: "x")
        findings.ok("fine part")
        findings.add(.warn, "odd part", hint: "look at it")
        findings.add(.fail, "broken part", hint: "fix it")
        let result = findings.result
        #expect(result.status == .fail)
        #expect(result.detail == "broken part; odd part; fine part")
        #expect(result.hint == "fix it; look at it")
    }
}
