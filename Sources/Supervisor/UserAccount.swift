#if canImport(Glibc)
    import Glibc
#endif

/// A local user account, looked up with `getpwnam_r`.
public struct UserAccount: Sendable, Equatable {
    /// The login name.
    public var name: String
    /// The user id.
    public var uid: uid_t
    /// The primary group id.
    public var gid: gid_t
    /// The home directory.
    public var home: String

    /// Looks a user up by name; nil when there is no such user.
    /// - Throws: `SupervisorError` when the lookup itself fails (e.g. NSS trouble).
    public static func lookup(_ name: String) throws -> UserAccount? {
        var entry = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 16 * 1024)
        let status = getpwnam_r(name, &entry, &buffer, buffer.count, &result)
        guard status == 0 else {
            throw SupervisorError(message: "looking up user \(name) failed", errno: status)
        }
        guard result != nil else { return nil }
        return UserAccount(name: name, uid: entry.pw_uid, gid: entry.pw_gid, home: String(cString: entry.pw_dir))
    }
}
