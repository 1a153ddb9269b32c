/// An ordered list of HTTP header fields; lookups ignore the case of names.
public struct HTTPHeaders: Sendable, Sequence, ExpressibleByDictionaryLiteral {
    /// The fields in order, names as given.
    public private(set) var fields: [(name: String, value: String)]

    /// Creates an empty list.
    public init() { fields = [] }

    /// Creates a list from name/value pairs, in order.
    public init(_ pairs: [(String, String)]) { fields = pairs.map { (name: $0.0, value: $0.1) } }

    /// Creates a list from a literal, in order.
    public init(dictionaryLiteral elements: (String, String)...) { self.init(elements) }

    /// Appends a field, keeping any existing one of the same name.
    public mutating func add(_ name: String, _ value: String) { fields.append((name: name, value: value)) }

    /// Sets a field, replacing every existing one of the same name.
    public mutating func replace(_ name: String, _ value: String) {
        remove(name)
        fields.append((name: name, value: value))
    }

    /// Removes every field of this name.
    public mutating func remove(_ name: String) {
        fields.removeAll { $0.name.lowercasedASCII() == name.lowercasedASCII() }
    }

    /// The first value of this name.
    public subscript(name: String) -> String? {
        let wanted = name.lowercasedASCII()
        return fields.first { $0.name.lowercasedASCII() == wanted }?.value
    }

    /// Whether a field of this name is present.
    public func contains(_ name: String) -> Bool { self[name] != nil }

    public func makeIterator() -> IndexingIterator<[(name: String, value: String)]> { fields.makeIterator() }
}

extension StringProtocol {
    /// Lower-cases ASCII letters only: header names and hex digits never need Unicode case mapping.
    @inlinable
    public func lowercasedASCII() -> String {
        var changed = false
        for byte in utf8 where byte >= 0x41 && byte <= 0x5A {
            changed = true
            break
        }
        guard changed else { return String(self) }
        return String(decoding: utf8.map { $0 >= 0x41 && $0 <= 0x5A ? $0 + 0x20 : $0 }, as: UTF8.self)
    }
}
