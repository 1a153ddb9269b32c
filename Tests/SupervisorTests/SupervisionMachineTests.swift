import Supervisor
import Testing

@Suite struct SupervisionMachineTests {
    static let settings = SupervisionMachine.Settings(
        initialBackoff: 0.2, maxBackoff: 30, crashLoopRestarts: 5, crashLoopWindow: 300, unhealthyThreshold: 3,
        startTimeout: 120, healthyResetAfter: 30)

    static func delay(_ actions: [SupervisionMachine.Action]) -> Double? {
        for case .restart(let after, _) in actions { return after }
        return nil
    }

    @Test func backoffDoublesIsCappedAndJittered() {
        var machine = SupervisionMachine(settings: Self.settings)
        _ = machine.handle(.started(at: 0))
        var delays: [Double] = []
        var time = 0.0
        for _ in 0..<12 {
            time += 1
            delays.append(Self.delay(machine.handle(.exited(.exited(1), at: time), random: 0.999)) ?? -1)
            _ = machine.handle(.started(at: time))
        }
        #expect(abs(delays[0] - 0.2) < 0.01)
        #expect(abs(delays[1] - 0.4) < 0.01)
        #expect(abs(delays[2] - 0.8) < 0.01)
        #expect(delays.allSatisfy { $0 <= 30 })
        #expect(abs(delays[11] - 30) < 0.1)
        // The jitter keeps every delay in the upper half of its ceiling: never a tight loop.
        var low = SupervisionMachine(settings: Self.settings)
        _ = low.handle(.started(at: 0))
        #expect(abs((Self.delay(low.handle(.exited(.exited(1), at: 1), random: 0)) ?? 0) - 0.1) < 0.001)
    }

    @Test func backoffResetsAfterAPeriodOfHealth() {
        var machine = SupervisionMachine(settings: Self.settings)
        _ = machine.handle(.started(at: 0))
        for time in [1.0, 2, 3] {
            _ = machine.handle(.exited(.exited(1), at: time), random: 0.999)
            _ = machine.handle(.started(at: time))
        }
        _ = machine.handle(.probe(healthy: true, detail: "ok", at: 4))
        _ = machine.handle(.probe(healthy: true, detail: "ok", at: 40))
        let delay = Self.delay(machine.handle(.exited(.signaled(9, coreDumped: false), at: 41), random: 0.999))
        #expect(abs((delay ?? 0) - 0.2) < 0.01)
    }

    @Test func crashLoopIsReportedOncePerEpisodeWithTheStatuses() {
        var machine = SupervisionMachine(settings: Self.settings)
        _ = machine.handle(.started(at: 0))
        var reports: [[SupervisionMachine.Restart]] = []
        for index in 1...8 {
            let actions = machine.handle(.exited(.exited(Int32(index)), at: Double(index)))
            for case .crashLoop(let restarts) in actions { reports.append(restarts) }
            _ = machine.handle(.started(at: Double(index)))
        }
        #expect(reports.count == 1)
        #expect(reports[0].map(\.reason) == (1...5).map { "exit status \($0)" })
        // Healthy for the reset period: recovered, and a new loop would be reported again.
        _ = machine.handle(.probe(healthy: true, detail: "ok", at: 10))
        #expect(machine.handle(.probe(healthy: true, detail: "ok", at: 41)).contains(.recovered))
    }

    @Test func restartsOutsideTheWindowAreNotALoop() {
        var machine = SupervisionMachine(settings: Self.settings)
        _ = machine.handle(.started(at: 0))
        for index in 1...10 {
            let actions = machine.handle(.exited(.exited(1), at: Double(index) * 100))
            #expect(!actions.contains { if case .crashLoop = $0 { return true } else { return false } })
            _ = machine.handle(.started(at: Double(index) * 100))
        }
    }

    @Test func failuresDuringStartupDontCountUntilTheStartTimeout() {
        var machine = SupervisionMachine(settings: Self.settings)
        _ = machine.handle(.started(at: 0))
        for time in stride(from: 5.0, through: 115, by: 5) {
            #expect(machine.handle(.probe(healthy: false, detail: "refused", at: time)).isEmpty)
        }
        let healthy = machine.handle(.probe(healthy: true, detail: "ok", at: 118))
        #expect(healthy == [.healthy(first: true)])
        #expect(machine.everHealthy)
    }

    @Test func consecutiveFailuresKillAfterTheThreshold() {
        var machine = SupervisionMachine(settings: Self.settings)
        _ = machine.handle(.started(at: 0))
        _ = machine.handle(.probe(healthy: true, detail: "ok", at: 1))
        #expect(machine.handle(.probe(healthy: false, detail: "HTTP 500", at: 2)) == [.unhealthy(detail: "HTTP 500")])
        #expect(machine.handle(.probe(healthy: false, detail: "HTTP 500", at: 3)).isEmpty)
        #expect(
            machine.handle(.probe(healthy: false, detail: "HTTP 500", at: 4)) == [
                .kill(reason: "3 failed health checks: HTTP 500")
            ])
        // The exit that follows is a restart with the reason.
        let actions = machine.handle(.exited(.signaled(15, coreDumped: false), at: 5), random: 0.999)
        #expect(
            actions.contains {
                if case .restart(_, let reason) = $0 { return reason.hasPrefix("unhealthy") } else { return false }
            })
        #expect(machine.restartCount == 1)
    }

    @Test func startTimeoutFiresOnceWhenNeverHealthy() {
        var machine = SupervisionMachine(settings: Self.settings)
        _ = machine.handle(.started(at: 0))
        #expect(machine.handle(.tick(at: 119)).isEmpty)
        #expect(machine.handle(.tick(at: 120)) == [.startTimedOut])
        #expect(machine.handle(.tick(at: 200)).isEmpty)
    }

    @Test func afterStopNothingRestarts() {
        var machine = SupervisionMachine(settings: Self.settings)
        _ = machine.handle(.started(at: 0))
        _ = machine.handle(.stopRequested)
        #expect(machine.handle(.exited(.signaled(15, coreDumped: false), at: 1)).isEmpty)
        #expect(machine.phase == .stopped)
    }
}
