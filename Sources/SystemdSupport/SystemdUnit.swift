import CSystemd

#if canImport(Glibc)
    import Glibc
#endif

/// The systemd unit a process belongs to, from its control group (`sd_pid_get_unit`,
/// https://www.freedesktop.org/software/systemd/man/sd_pid_get_unit.html).
public enum SystemdUnit {
    /// This process's unit (`clock-agent.service`), or nil outside a systemd service.
    public static func ofThisProcess() -> String? {
        var unit: UnsafeMutablePointer<CChar>?
        guard sd_pid_get_unit(0, &unit) >= 0, let unit else { return nil }
        defer { free(unit) }
        return String(cString: unit)
    }
}
