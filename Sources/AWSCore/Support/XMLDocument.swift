/// A small, strict-enough XML reader for AWS Query and REST-XML answers.
///
/// AWS answers are simple element trees; this parser keeps elements and their text, skips the declaration,
/// comments and processing instructions, reads CDATA, decodes the predefined and numeric entities, and ignores
/// attributes and namespaces (names keep their prefix, which AWS answers don't use).
public struct XMLElement: Sendable {
    /// The element name.
    public var name: String
    /// Child elements, in order.
    public var children: [XMLElement]
    /// The concatenated text directly inside this element.
    public var text: String

    /// The first child of this name.
    public func child(_ name: String) -> XMLElement? { children.first { $0.name == name } }

    /// All children of this name.
    public func children(named name: String) -> [XMLElement] { children.filter { $0.name == name } }

    /// The element at a path of child names, e.g. `["Error", "Code"]`.
    public func element(at path: [String]) -> XMLElement? {
        var current = self
        for name in path {
            guard let next = current.child(name) else { return nil }
            current = next
        }
        return current
    }

    /// The text at a path of child names.
    public func text(at path: String...) -> String? { element(at: path)?.text }

    /// The first element of this name anywhere below (depth first), including self.
    public func first(named name: String) -> XMLElement? {
        if self.name == name { return self }
        for child in children {
            if let found = child.first(named: name) { return found }
        }
        return nil
    }

    /// Parses a document and returns its root element; nil when the bytes are not well-formed enough to read.
    public static func parse(_ bytes: [UInt8]) -> XMLElement? {
        var parser = XMLParserState(bytes: bytes)
        return parser.parseDocument()
    }
}

private struct XMLParserState {
    let bytes: [UInt8]
    var index = 0

    init(bytes: [UInt8]) { self.bytes = bytes }

    mutating func parseDocument() -> XMLElement? {
        skipMisc()
        guard index < bytes.count, bytes[index] == 0x3C else { return nil }
        return parseElement(depth: 0)
    }

    private func starts(with text: String) -> Bool {
        let pattern = Array(text.utf8)
        guard index + pattern.count <= bytes.count else { return false }
        return bytes[index..<index + pattern.count].elementsEqual(pattern)
    }

    private mutating func skip(past text: String) -> Bool {
        let pattern = Array(text.utf8)
        while index + pattern.count <= bytes.count {
            if bytes[index..<index + pattern.count].elementsEqual(pattern) {
                index += pattern.count
                return true
            }
            index += 1
        }
        index = bytes.count
        return false
    }

    private mutating func skipMisc() {
        while index < bytes.count {
            if isSpace(bytes[index]) {
                index += 1
            } else if starts(with: "<?") {
                _ = skip(past: "?>")
            } else if starts(with: "<!--") {
                _ = skip(past: "-->")
            } else if starts(with: "<!") {
                _ = skip(past: ">")
            } else {
                return
            }
        }
    }

    private func isSpace(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D }

    private mutating func parseElement(depth: Int) -> XMLElement? {
        guard depth < 64, index < bytes.count, bytes[index] == 0x3C else { return nil }
        index += 1
        let nameStart = index
        while index < bytes.count, !isSpace(bytes[index]), bytes[index] != 0x3E, bytes[index] != 0x2F { index += 1 }
        let name = String(decoding: bytes[nameStart..<index], as: UTF8.self)
        guard !name.isEmpty else { return nil }
        // Attributes: skip to the end of the tag, honouring quotes.
        var quote: UInt8 = 0
        var selfClosing = false
        while index < bytes.count {
            let byte = bytes[index]
            if quote != 0 {
                if byte == quote { quote = 0 }
            } else if byte == 0x22 || byte == 0x27 {
                quote = byte
            } else if byte == 0x3E {
                selfClosing = index > 0 && bytes[index - 1] == 0x2F
                break
            }
            index += 1
        }
        guard index < bytes.count else { return nil }
        index += 1
        var element = XMLElement(name: name, children: [], text: "")
        if selfClosing { return element }
        var text: [UInt8] = []
        while index < bytes.count {
            if starts(with: "</") {
                guard skip(past: ">") else { return nil }
                element.text = decodeEntities(text)
                return element
            } else if starts(with: "<![CDATA[") {
                index += 9
                let start = index
                guard skip(past: "]]>") else { return nil }
                text.append(contentsOf: bytes[start..<index - 3])
            } else if starts(with: "<!--") {
                _ = skip(past: "-->")
            } else if starts(with: "<?") {
                _ = skip(past: "?>")
            } else if bytes[index] == 0x3C {
                guard let child = parseElement(depth: depth + 1) else { return nil }
                element.children.append(child)
            } else {
                text.append(bytes[index])
                index += 1
            }
        }
        return nil
    }

    private func decodeEntities(_ raw: [UInt8]) -> String {
        guard raw.contains(0x26) else { return String(decoding: raw, as: UTF8.self) }
        var out: [UInt8] = []
        var i = 0
        while i < raw.count {
            if raw[i] == 0x26, let semicolon = raw[i...].firstIndex(of: 0x3B), semicolon - i <= 10 {
                let entity = String(decoding: raw[(i + 1)..<semicolon], as: UTF8.self)
                var replacement: [UInt8]?
                switch entity {
                case "amp": replacement = [0x26]
                case "lt": replacement = [0x3C]
                case "gt": replacement = [0x3E]
                case "quot": replacement = [0x22]
                case "apos": replacement = [0x27]
                default:
                    if entity.hasPrefix("#x") || entity.hasPrefix("#X"),
                        let value = UInt32(entity.dropFirst(2), radix: 16),
                        let scalar = Unicode.Scalar(value)
                    {
                        replacement = Array(String(Character(scalar)).utf8)
                    } else if entity.hasPrefix("#"), let value = UInt32(entity.dropFirst()),
                        let scalar = Unicode.Scalar(value)
                    {
                        replacement = Array(String(Character(scalar)).utf8)
                    }
                }
                if let replacement {
                    out.append(contentsOf: replacement)
                    i = semicolon + 1
                    continue
                }
            }
            out.append(raw[i])
            i += 1
        }
        return String(decoding: out, as: UTF8.self)
    }
}

extension String {
    /// Escapes text for inclusion in XML.
    public var xmlEscaped: String {
        var out = ""
        for character in self {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            default: out.append(character)
            }
        }
        return out
    }
}
