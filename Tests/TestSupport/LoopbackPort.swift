import Foundation

/// Loopback ports for tests.
public enum LoopbackPort {
    /// A loopback port nothing listens on right now (port 0 bound on 127.0.0.1 or ::1, read back, closed).
    /// - Throws: `POSIXError` when the address can't be bound (IPv6 off, say).
    public static func unused(ipv6: Bool = false) throws -> UInt16 {
        let fd = socket(ipv6 ? AF_INET6 : AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        let bound: Int32
        if ipv6 {
            var any = sockaddr_in6()
            any.sin6_family = sa_family_t(AF_INET6)
            any.sin6_addr = in6addr_loopback
            bound = bindTo(fd, any)
        } else {
            var any = sockaddr_in()
            any.sin_family = sa_family_t(AF_INET)
            any.sin_addr.s_addr = inet_addr("127.0.0.1")
            bound = bindTo(fd, any)
        }
        guard bound == 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EADDRNOTAVAIL) }
        // The port sits at the same offset in sockaddr_in and sockaddr_in6.
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { UInt16(bigEndian: $0.pointee.sin_port) }
        }
    }

    private static func bindTo<Address>(_ fd: Int32, _ address: Address) -> Int32 {
        withUnsafePointer(to: address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<Address>.size)) }
        }
    }
}
