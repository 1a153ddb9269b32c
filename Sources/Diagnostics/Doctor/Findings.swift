/// Collects what one check found and turns it into one result: the worst status wins, every finding is part of
/// the detail, and the hints of the problems (worst first) are the hint.
struct Findings: Sendable {
    private struct Finding: Sendable {
        var status: CheckStatus
        var detail: String
        var hint: String
    }

    /// The check's name.
    let name: String
    private var items: [Finding] = []

    /// Starts with no findings.
    init(name: String) { self.name = name }

    /// A finding that needs nothing done.
    mutating func ok(_ detail: String) { items.append(Finding(status: .ok, detail: detail, hint: "")) }

    /// A finding with a status and what to do.
    mutating func add(_ status: CheckStatus, _ detail: String, hint: String = "") {
        items.append(Finding(status: status, detail: detail, hint: hint))
    }

    /// The worst status so far (`ok` when empty).
    var status: CheckStatus { items.map(\.status).max() ?? .ok }

    /// Whether nothing was found.
    var isEmpty: Bool { items.isEmpty }

    /// The result: the worst status, the problems first, then the rest, joined with `; `.
    var result: CheckResult {
        let worst = status
        let ordered = items.enumerated().sorted { lhs, rhs in
            lhs.element.status != rhs.element.status ? lhs.element.status > rhs.element.status : lhs.offset < rhs.offset
        }.map(\.element)
        let detail = ordered.map(\.detail).filter { !$0.isEmpty }.joined(separator: "; ")
        var hints: [String] = []
        for item in ordered
        where (item.status == worst || item.status >= .warn) && !item.hint.isEmpty && !hints.contains(item.hint) {
            hints.append(item.hint)
        }
        return CheckResult(name: name, status: worst, detail: detail, hint: hints.joined(separator: "; "))
    }
}
