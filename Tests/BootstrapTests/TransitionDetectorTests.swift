import AWSCore
import Bootstrap
import Testing

@Suite struct TransitionDetectorTests {
    @Test func terminationIsDecidedOnce() {
        var detector = TransitionDetector()
        #expect(detector.target(nil) == nil)
        #expect(detector.target("InService") == nil)
        #expect(detector.target("Terminated") == .terminate)
        #expect(detector.target("Terminated") == nil)
        #expect(detector.spot(#"{"action":"terminate","time":"2026-11-25T12:00:00Z"}"#) == nil, "already draining")
    }

    @Test func warmPoolInAndOut() {
        var detector = TransitionDetector()
        #expect(detector.target("Warmed:Stopped") == .enterWarmPool("Warmed:Stopped"))
        #expect(detector.target("InService") == .leaveWarmPool)
        #expect(detector.target("Warmed:Terminated") == .terminate)
    }

    @Test func spotNoticeCarriesItsDeadline() {
        var detector = TransitionDetector()
        let decision = detector.spot(#"{"action": "stop", "time": "2026-11-25T12:00:00Z"}"#)
        #expect(decision == .spotInterruption(action: "stop", deadline: UTCTime(iso8601: "2026-11-25T12:00:00Z")))
        #expect(detector.spot(#"{"action":"stop"}"#) == nil)
        #expect(detector.target("Terminated") == nil, "a spot drain is already under way")
    }

    @Test func rebalanceIsReportedOnce() {
        var detector = TransitionDetector()
        #expect(
            detector.rebalance(#"{"noticeTime":"2026-11-25T11:00:00Z"}"#)
                == .rebalanceRecommended("2026-11-25T11:00:00Z"))
        #expect(detector.rebalance(#"{"noticeTime":"2026-11-25T11:00:00Z"}"#) == nil)
    }
}
