extension DoctorReport {
    /// Width of the status column (`fail` plus two spaces).
    static let statusWidth = 6
    /// Width of the name column.
    static let nameWidth = 14

    /// The text form: one line per check (status, name, detail), an indented `fix:` line under each `warn` and
    /// `fail` that has a hint, then the summary line.
    ///
    /// ```
    /// ok    config        /etc/clock-agent/config.yaml is valid
    /// fail  imds          token request (PUT /latest/api/token) timed out after 1 s
    ///       fix: the instance metadata hop limit is too low for this network path (HttpPutResponseHopLimit); …
    /// summary: 9 ok, 1 warn, 1 fail, 2 skip
    /// ```
    public var text: String {
        var out = ""
        for check in checks {
            out += Self.padded(check.status.rawValue, Self.statusWidth)
            out += Self.padded(check.name, Self.nameWidth)
            out += check.detail
            out += "\n"
            if check.status == .warn || check.status == .fail, !check.hint.isEmpty {
                out += String(repeating: " ", count: Self.statusWidth) + "fix: " + check.hint + "\n"
            }
        }
        out += summaryLine + "\n"
        return out
    }

    /// The text padded with spaces to `width`, or followed by one space when it is longer.
    static func padded(_ text: String, _ width: Int) -> String {
        text.count < width ? text + String(repeating: " ", count: width - text.count) : text + " "
    }
}
