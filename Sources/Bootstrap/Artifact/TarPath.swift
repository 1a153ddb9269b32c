/// A member's name, normalised to the components below the extraction directory.
///
/// `./` prefixes, repeated slashes and `.` components disappear (so `tar -C dir -czf x.tgz .` archives work);
/// an absolute name, a `..` component, a NUL byte or an empty name is refused rather than repaired, because an
/// installer should not guess where a hostile archive meant to write.
struct TarPath: Equatable {
    /// The longest normalised path accepted, in bytes (Linux `PATH_MAX` minus the terminating NUL).
    static let maxLength = 4095

    /// Why a name was refused.
    enum Problem: Error, Equatable {
        /// The name is empty.
        case empty
        /// The name has a NUL byte (only possible through PAX or GNU long names).
        case containsNUL
        /// The name starts with `/`.
        case absolute
        /// The name has a `..` component.
        case parentComponent
        /// The normalised path is longer than `maxLength`.
        case tooLong

        /// The reason, as a message.
        var text: String {
            switch self {
            case .empty: "empty name"
            case .containsNUL: "name contains a NUL byte"
            case .absolute: "absolute path is not allowed; entries must be relative to the release directory"
            case .parentComponent: "path escapes the release directory (\"..\" component)"
            case .tooLong: "path is longer than \(TarPath.maxLength) bytes"
            }
        }
    }

    /// The components, none empty, `.` or `..`; empty for the extraction directory itself.
    var components: [[UInt8]]

    /// Whether the path names the extraction directory itself (`.` or `./`).
    var isRoot: Bool { components.isEmpty }

    /// The components of the containing directory.
    var parent: ArraySlice<[UInt8]> { components.dropLast() }

    /// Normalises a name from the archive.
    init(_ name: [UInt8]) throws(Problem) {
        guard !name.isEmpty else { throw .empty }
        guard !name.contains(0) else { throw .containsNUL }
        guard name.first != UInt8(ascii: "/") else { throw .absolute }
        var components: [[UInt8]] = []
        var length = 0
        for component in name.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: true) {
            if component.elementsEqual([UInt8(ascii: ".")]) { continue }
            if component.elementsEqual([UInt8(ascii: "."), UInt8(ascii: ".")]) { throw .parentComponent }
            length += component.count + 1
            guard length <= TarPath.maxLength + 1 else { throw .tooLong }
            components.append(Array(component))
        }
        self.components = components
    }

    /// The components joined with `/`.
    static func joined(_ components: some Sequence<[UInt8]>) -> [UInt8] {
        Array(components.joined(separator: [UInt8(ascii: "/")]))
    }
}
