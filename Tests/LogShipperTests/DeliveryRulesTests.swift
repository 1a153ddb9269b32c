import Testing

@testable import LogShipper

/// The shared backoff of a source's batches, driven directly.
@Suite struct SharedBackoffTests {
    typealias Backoff = LogSender.Backoff
    let start = ContinuousClock.now

    func backoff() -> Backoff { Backoff(steady: LogSender.steadyBackoff, boot: LogSender.bootBackoff) }

    func permit(_ decision: Backoff.Decision) throws -> Backoff.Ticket {
        guard case .send(let ticket) = decision else {
            Issue.record("expected to send, got \(decision)")
            throw CancellationError()
        }
        return ticket
    }

    /// A backoff that has seen an acceptance (steady state).
    func proven() throws -> Backoff {
        var backoff = backoff()
        backoff.accepted(try permit(backoff.admit(now: start)))
        return backoff
    }

    /// A source refused for the rate `rounds` times before any acceptance, each retry sent the moment its wait
    /// ended, every wait `random` × the boot ceiling; `notBefore` is the last wait's end.
    func throttledAtBoot(_ rounds: Int, random: Double, from start: ContinuousClock.Instant) throws -> Backoff {
        var backoff = backoff()
        var now = start
        for _ in 1...rounds {
            backoff.failed(try permit(backoff.admit(now: now)), now: now, random: random, throttled: true)
            now = backoff.notBefore!
        }
        return backoff
    }

    @Test func ceilingsDoubleUpToTheCap() {
        let steady = LogSender.steadyBackoff
        #expect(
            (0...9).map { steady.ceiling(afterFailures: $0) } == [
                .zero, .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2), .seconds(4), .seconds(8),
                .seconds(16), .seconds(30),
                .seconds(30),
            ])
        #expect(steady.ceiling(afterFailures: 1_000) == .seconds(30))
        let boot = LogSender.bootBackoff
        #expect(
            (1...7).map { boot.ceiling(afterFailures: $0) } == [10, 20, 40, 80, 160, 300, 300].map { .seconds($0) })
    }

    @Test func aNewSourceSendsAtOnce() {
        let backoff = backoff()
        #expect(backoff.admit(now: start) == .send(.init(round: 0)))
        #expect(!backoff.proven)
    }

    /// Four batches in flight are throttled together: one round failed, one wait for all of them and for the
    /// batches after them — not four independent backoffs.
    @Test func batchesInFlightShareOneWait() throws {
        var backoff = try proven()
        let inFlight = try (0..<4).map { _ in try permit(backoff.admit(now: start)) }
        #expect(Set(inFlight.map(\.round)) == [0])
        backoff.failed(inFlight[0], now: start, random: 0.5, throttled: true)
        #expect(backoff.failures == 1)
        #expect(backoff.round == 1)
        let resume = start + .milliseconds(125)
        #expect(backoff.notBefore == resume)
        for (n, ticket) in inFlight.dropFirst().enumerated() {
            backoff.failed(ticket, now: start + .milliseconds(10 * (n + 1)), random: 0.99, throttled: true)
        }
        #expect(backoff.failures == 1, "failures of the same round count once")
        #expect(backoff.notBefore == resume, "and do not move the wait")
        // The four retries and any new batch wait for the same instant, then go in the new round.
        #expect(backoff.admit(now: start + .milliseconds(50)) == .wait(until: resume))
        #expect(backoff.admit(now: resume) == .send(.init(round: 1)))
    }

    @Test func eachFailedRoundWidensTheWaitWithFullJitter() throws {
        var backoff = try proven()
        var now = start
        var waits: [Duration] = []
        for _ in 0..<10 {
            let ticket = try permit(backoff.admit(now: now))
            backoff.failed(ticket, now: now, random: 0.999_999, throttled: true)
            let until = try #require(backoff.notBefore)
            waits.append(until - now)
            now = until
        }
        #expect(backoff.failures == 10)
        for (n, wait) in waits.enumerated() {
            let ceiling = LogSender.steadyBackoff.ceiling(afterFailures: n + 1)
            #expect(wait <= ceiling && wait > ceiling * 0.99, "round \(n + 1): \(wait) within \(ceiling)")
        }
        // Full jitter: the wait can be anything from nothing to the ceiling.
        let ticket = try permit(backoff.admit(now: now))
        backoff.failed(ticket, now: now, random: 0, throttled: true)
        #expect(backoff.notBefore == now)
    }

    /// Refused for the rate before anything was accepted: a herd booting together. The retries spread over the
    /// boot scale, until the first acceptance; other failures at boot (a 503, a reset) keep the steady scale.
    @Test func aSourceThrottledBeforeItsFirstAcceptanceSpreadsOverTheBootScale() throws {
        var backoff = backoff()
        var now = start
        for n in 1...3 {
            backoff.failed(try permit(backoff.admit(now: now)), now: now, random: 0.5, throttled: true)
            #expect(backoff.notBefore == now + LogSender.bootBackoff.ceiling(afterFailures: n) * 0.5)
            now = backoff.notBefore!
        }
        backoff.failed(try permit(backoff.admit(now: now)), now: now, random: 0.5, throttled: false)
        #expect(backoff.notBefore == now + LogSender.steadyBackoff.ceiling(afterFailures: 4) * 0.5, "a 503 is no herd")
        now = backoff.notBefore!
        backoff.accepted(try permit(backoff.admit(now: now)))
        #expect(backoff.proven && backoff.failures == 0)
        backoff.failed(try permit(backoff.admit(now: now)), now: now, random: 0.999_999, throttled: true)
        #expect(
            backoff.notBefore! - now <= .milliseconds(250), "after the first acceptance, throttling is steady state")
    }

    /// A drain ends the boot: a wait drawn from the boot scale is cut to the steady one, and further refusals for
    /// the rate stay on the steady scale.
    @Test func aDrainCutsABootWaitToTheSteadyScale() throws {
        var backoff = try throttledAtBoot(2, random: 0.9, from: start)
        // 0.9 × 20 s drawn from the boot scale; the steady ceiling after 2 failures is 500 ms.
        let drain = backoff.notBefore! - .seconds(18)
        backoff.endBoot(now: drain, random: 0.5)
        #expect(backoff.notBefore == drain + .milliseconds(250))
        #expect(backoff.proven && backoff.failures == 2)
        backoff.failed(
            try permit(backoff.admit(now: drain + .seconds(1))), now: drain + .seconds(1), random: 0.999_999,
            throttled: true)
        #expect(backoff.notBefore! - (drain + .seconds(1)) <= .seconds(1), "the steady ceiling after 3 failures")
        // A wait shorter than the steady draw is kept, and ending the boot twice changes nothing.
        let kept = backoff.notBefore
        backoff.endBoot(now: drain + .seconds(1), random: 0.999_999)
        #expect(backoff.notBefore == kept)
    }

    /// Another source of the agent got through: a source deep in its boot backoff starts the boot scale over (its
    /// wait cut to the first ceiling's draw, failures from one), so it doesn't sleep out a wide draw alone.
    @Test func aSiblingsFirstAcceptanceStartsTheBootScaleOver() throws {
        var backoff = try throttledAtBoot(4, random: 0.9, from: start)
        // The fourth draw: 0.9 × 80 s.
        let sibling = backoff.notBefore! - .seconds(70)
        backoff.restartBoot(now: sibling, random: 0.5)
        #expect(backoff.notBefore == sibling + .seconds(5) && backoff.failures == 1 && !backoff.proven)
        // Refused again, the window widens from the start of the boot scale: 0–20 s.
        let retry = sibling + .seconds(5)
        backoff.failed(try permit(backoff.admit(now: retry)), now: retry, random: 0.999_999, throttled: true)
        #expect(backoff.notBefore! - retry <= .seconds(20) && backoff.notBefore! - retry > .seconds(19))
        // A shorter wait is kept; one failed round, a proven source: nothing to start over.
        var short = self.backoff()
        short.failed(try permit(short.admit(now: start)), now: start, random: 0.1, throttled: true)
        short.failed(
            try permit(short.admit(now: start + .seconds(1))), now: start + .seconds(1), random: 0.01, throttled: true)
        let kept = short.notBefore
        short.restartBoot(now: start + .seconds(1), random: 0.999_999)
        #expect(short.notBefore == kept && short.failures == 1)
        var once = self.backoff()
        once.failed(try permit(once.admit(now: start)), now: start, random: 0.9, throttled: true)
        once.restartBoot(now: start, random: 0)
        #expect(once.notBefore == start + .seconds(9))
        var steady = try proven()
        steady.failed(try permit(steady.admit(now: start)), now: start, random: 0.9, throttled: true)
        steady.failed(
            try permit(steady.admit(now: steady.notBefore!)), now: steady.notBefore!, random: 0.9, throttled: true)
        let unchanged = steady
        steady.restartBoot(now: start, random: 0)
        #expect(steady == unchanged)
    }

    /// The same through the state the senders share: the first acceptance of one source restarts the boot backoff of
    /// the others, once.
    @Test func theFirstAcceptanceOfOneSourceRestartsTheOthersBoot() throws {
        let shared = LogSender.SharedState(steady: LogSender.steadyBackoff, boot: LogSender.bootBackoff)
        // files: four rounds refused for the rate, the last wait drawn far ahead (the rounds driven on a clock of
        // their own, then the backoff installed as the shared state's).
        let files = try throttledAtBoot(4, random: 0.9, from: ContinuousClock.now)
        shared.state.withLock { $0.sources["files"] = .init(backoff: files, error: "ThrottlingException") }
        guard case .wait(let until) = shared.admit("files") else {
            Issue.record("files should be waiting")
            return
        }
        #expect(until - ContinuousClock.now > .seconds(100))  // 0.9 × (10 + 20 + 40 + 80) s
        shared.accepted("app", try permit(shared.admit("app")))
        guard case .wait(let restarted) = shared.admit("files") else { return }  // a zero draw sends at once
        #expect(restarted - ContinuousClock.now <= .seconds(10))
        #expect(shared.state.withLock { $0.sources["files"]?.backoff.failures } == 1)
        // A later acceptance of app (not its first) changes nothing for files.
        let failures = shared.state.withLock { $0.sources["files"]!.backoff }
        shared.accepted("app", try permit(shared.admit("app")))
        #expect(shared.state.withLock { $0.sources["files"]!.backoff } == failures)
    }

    @Test func aMinimumHoldsEvenWhenTheJitterIsSmall() throws {
        var backoff = try proven()
        let ticket = try permit(backoff.admit(now: start))
        backoff.failed(ticket, now: start, random: 0.1, throttled: false, minimum: .seconds(12))
        #expect(backoff.admit(now: start + .seconds(11)) == .wait(until: start + .seconds(12)))
    }

    /// Success ends the backoff, but only a request sent after the last failed round proves anything about the rate.
    @Test func anAcceptanceOfTheCurrentRoundResets() throws {
        var backoff = try proven()
        let old = try permit(backoff.admit(now: start))
        var now = start
        for _ in 0..<3 {
            backoff.failed(try permit(backoff.admit(now: now)), now: now, random: 0.5, throttled: true)
            now = backoff.notBefore!
        }
        #expect(backoff.failures == 3)
        backoff.accepted(old)
        #expect(backoff.failures == 3, "a request sent before the failures was accepted: no news about the rate now")
        backoff.accepted(try permit(backoff.admit(now: now)))
        #expect(backoff.failures == 0)
        let later = now + .seconds(60)
        backoff.failed(try permit(backoff.admit(now: later)), now: later, random: 0.999_999, throttled: true)
        #expect(backoff.notBefore! - later <= .milliseconds(250), "the next failure starts from the base again")
    }
}

/// Creating on demand, driven directly: once however many requests found a stream missing, and again only when
/// a request sent after the creation finds it missing.
@Suite struct ProvisioningLedgerTests {
    typealias Ledger = StreamProvisioner.Ledger

    @Test func severalRequestsFindingAStreamMissingCreateItOnce() {
        var ledger = Ledger()
        let stream = Ledger.Resource.stream("i-1/app")
        let seen = ledger.generation(of: stream)
        #expect(ledger.missing(stream, seen: seen) == .create)
        #expect(ledger.missing(stream, seen: seen) == .wait)
        #expect(ledger.missing(stream, seen: seen) == .wait)
        #expect(ledger.isCreating(stream))
        ledger.finished(stream, created: true)
        #expect(ledger.generation(of: stream) == 1)
        #expect(!ledger.isKnownMissing(stream))
        // Answers to requests sent before the creation arrive late: nothing is created again.
        #expect(ledger.missing(stream, seen: seen) == .resend)
        #expect(ledger.missing(stream, seen: seen) == .resend)
        #expect(!ledger.isCreating(stream))
    }

    @Test func aStreamDeletedAfterItsCreationIsCreatedAgain() {
        var ledger = Ledger()
        let stream = Ledger.Resource.stream("i-1/app")
        #expect(ledger.missing(stream, seen: 0) == .create)
        ledger.finished(stream, created: true)
        // A request sent after the creation says it is missing: an operator deleted it.
        #expect(ledger.missing(stream, seen: 1) == .create)
        #expect(ledger.missing(stream, seen: 1) == .wait)
        #expect(ledger.missing(stream, seen: 0) == .wait, "whatever a request saw, a creation under way is waited for")
        ledger.finished(stream, created: true)
        #expect(ledger.generation(of: stream) == 2)
        #expect(ledger.missing(stream, seen: 1) == .resend)
    }

    @Test func aFailedCreationLeavesTheStreamKnownMissing() {
        var ledger = Ledger()
        let stream = Ledger.Resource.stream("i-1/app")
        #expect(ledger.missing(stream, seen: 0) == .create)
        ledger.finished(stream, created: false)
        #expect(ledger.isKnownMissing(stream))
        #expect(ledger.generation(of: stream) == 0)
        #expect(
            ledger.missing(stream, seen: 0) == .create, "the next attempt creates it (no PutLogEvents needed first)")
        ledger.finished(stream, created: true)
        #expect(!ledger.isKnownMissing(stream))
    }

    @Test func theGroupAndEachStreamHaveTheirOwnGenerations() {
        var ledger = Ledger()
        #expect(ledger.missing(.stream("a"), seen: 0) == .create)
        #expect(ledger.missing(.stream("b"), seen: 0) == .create)
        #expect(ledger.missing(.group, seen: 0) == .create)
        #expect(ledger.missing(.group, seen: 0) == .wait)
        ledger.finished(.group, created: true)
        ledger.finished(.stream("a"), created: true)
        #expect(ledger.generation(of: .group) == 1)
        #expect(ledger.generation(of: .stream("a")) == 1)
        #expect(ledger.generation(of: .stream("b")) == 0)
        #expect(ledger.isCreating(.stream("b")))
    }
}
