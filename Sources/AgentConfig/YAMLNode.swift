import CYAML

/// A node of a YAML document, with the tag YAML 1.1's resolution rules give its plain scalars and where it starts.
struct YAMLNode: Sendable {
    enum Content: Sendable {
        case scalar(String, plain: Bool)
        case sequence([YAMLNode])
        /// Pairs in file order; a key given twice stays twice, so the reader can name it.
        case mapping([(key: YAMLNode, value: YAMLNode)])
    }

    /// The resolved tag: `!!str`, `!!int`, … from an explicit tag or, for plain scalars, from the text.
    enum Tag: Equatable, Sendable {
        case str, int, float, bool, null
        case other(String)
    }

    var content: Content
    var tag: Tag
    /// 1-based, as editors count.
    var line: Int
    var column: Int

    /// The text of a scalar.
    var string: String? {
        if case .scalar(let text, _) = content { return text }
        return nil
    }

    /// The value of an integer scalar (decimal, `0x`, `0o`/leading-0 octal, `0b`, `_` separators, base 60 `1:30`);
    /// nil when it isn't one or doesn't fit in an `Int`.
    var int: Int? {
        guard tag == .int, let text = string else { return nil }
        return YAMLScalar.intValue(text)
    }

    var bool: Bool? {
        guard tag == .bool, let text = string else { return nil }
        if YAMLScalar.trueWords.contains(text) { return true }
        if YAMLScalar.falseWords.contains(text) { return false }
        return nil  // `!!bool maybe`
    }
}

/// A document libyaml could not read: its problem and where.
struct YAMLError: Error, CustomStringConvertible {
    let problem: String
    let line: Int
    let column: Int

    var description: String { "\(problem) at line \(line), column \(column)" }
}

/// Reads one YAML document into `YAMLNode`s with libyaml's event parser. Anchors and aliases are expanded (within
/// `nodeLimit`, so an alias bomb is an error, not an out-of-memory); nesting, aliased nodes included, is bounded by
/// `depthLimit`.
enum YAMLDocument {
    static let depthLimit = 64
    static let nodeLimit = 100_000

    /// The document's root, or nil when the text holds no document (empty, or comments only).
    static func compose(_ text: String) throws(YAMLError) -> YAMLNode? {
        var bytes = Array(text.utf8)
        bytes.append(0)  // never empty, so there is a base address; libyaml reads `count - 1` bytes
        var parser = yaml_parser_t()
        guard yaml_parser_initialize(&parser) == 1 else {
            throw YAMLError(problem: "out of memory", line: 1, column: 1)
        }
        defer { yaml_parser_delete(&parser) }
        let result: Result<YAMLNode?, YAMLError> = bytes.withUnsafeBufferPointer { buffer in
            withUnsafeMutablePointer(to: &parser) { parser in
                yaml_parser_set_input_string(parser, buffer.baseAddress, buffer.count - 1)
                var composer = Composer(parser: parser, input: UnsafeBufferPointer(rebasing: buffer.dropLast()))
                return Result { () throws(YAMLError) in try composer.document() }
            }
        }
        return try result.get()
    }

    /// One libyaml event, copied out of the parser's memory.
    private struct Event {
        enum Kind {
            case streamStart, streamEnd, documentStart, documentEnd, sequenceEnd, mappingEnd
            case alias(anchor: String)
            case scalar(String, tag: String?, anchor: String?, plain: Bool)
            case sequenceStart(anchor: String?)
            case mappingStart(anchor: String?)
        }
        let kind: Kind
        let line: Int
        let column: Int
    }

    private struct Composer {
        let parser: UnsafeMutablePointer<yaml_parser_t>
        let input: UnsafeBufferPointer<UInt8>
        var anchors: [String: (node: YAMLNode, size: Int, height: Int)] = [:]
        var nodes = 0

        func next() throws(YAMLError) -> Event {
            var event = yaml_event_t()
            guard yaml_parser_parse(parser, &event) == 1 else {
                let parser = parser.pointee
                var text = parser.problem.map { String(cString: $0) } ?? "unreadable YAML"
                if let context = parser.context.map({ String(cString: $0) }) { text = "\(context): \(text)" }
                guard parser.error == YAML_READER_ERROR else {
                    throw YAMLError(
                        problem: text, line: Int(parser.problem_mark.line) + 1,
                        column: Int(parser.problem_mark.column) + 1)
                }
                // The reader's checks (control characters, invalid UTF-8) give a byte offset, not a mark.
                if parser.problem_value >= 0 { text += " (byte 0x\(String(parser.problem_value, radix: 16)))" }
                let (line, column) = Self.position(ofByte: Int(parser.problem_offset), in: input)
                throw YAMLError(problem: text, line: line, column: column)
            }
            defer { yaml_event_delete(&event) }
            let line = Int(event.start_mark.line) + 1
            let column = Int(event.start_mark.column) + 1
            func text(_ pointer: UnsafeMutablePointer<yaml_char_t>?) -> String? {
                pointer.map { String(cString: UnsafePointer($0)) }
            }
            let kind: Event.Kind
            switch event.type {
            case YAML_STREAM_START_EVENT: kind = .streamStart
            case YAML_STREAM_END_EVENT: kind = .streamEnd
            case YAML_DOCUMENT_START_EVENT: kind = .documentStart
            case YAML_DOCUMENT_END_EVENT: kind = .documentEnd
            case YAML_SEQUENCE_END_EVENT: kind = .sequenceEnd
            case YAML_MAPPING_END_EVENT: kind = .mappingEnd
            case YAML_ALIAS_EVENT: kind = .alias(anchor: text(event.data.alias.anchor) ?? "")
            case YAML_SCALAR_EVENT:
                let scalar = event.data.scalar
                let value = String(
                    decoding: UnsafeBufferPointer(start: scalar.value, count: scalar.length), as: UTF8.self)
                kind = .scalar(
                    value, tag: text(scalar.tag), anchor: text(scalar.anchor),
                    plain: scalar.style == YAML_PLAIN_SCALAR_STYLE)
            case YAML_SEQUENCE_START_EVENT: kind = .sequenceStart(anchor: text(event.data.sequence_start.anchor))
            case YAML_MAPPING_START_EVENT: kind = .mappingStart(anchor: text(event.data.mapping_start.anchor))
            default:
                throw YAMLError(problem: "unexpected YAML event \(event.type.rawValue)", line: line, column: column)
            }
            return Event(kind: kind, line: line, column: column)
        }

        /// 1-based line and column (in characters, as libyaml counts them) of a byte offset.
        static func position(ofByte offset: Int, in input: UnsafeBufferPointer<UInt8>) -> (line: Int, column: Int) {
            var line = 1
            var column = 1
            for byte in input.prefix(offset) {
                if byte == 0x0A {
                    line += 1
                    column = 1
                } else if byte & 0xC0 != 0x80 {
                    column += 1
                }
            }
            return (line, column)
        }

        mutating func document() throws(YAMLError) -> YAMLNode? {
            guard case .streamStart = try next().kind else {
                throw YAMLError(problem: "no YAML stream", line: 1, column: 1)
            }
            let first = try next()
            guard case .documentStart = first.kind else { return nil }  // stream end: no document at all
            let root = try node(try next(), depth: 0).node
            _ = try next()  // document end
            let after = try next()
            if case .documentStart = after.kind {
                throw error("a second document (---) in the file; a config is one document", at: after)
            }
            return root
        }

        private func error(_ problem: String, at event: Event) -> YAMLError {
            YAMLError(problem: problem, line: event.line, column: event.column)
        }

        /// Counts `added` nodes towards `nodeLimit`.
        private mutating func count(_ added: Int, at event: Event) throws(YAMLError) {
            nodes += added
            guard nodes <= YAMLDocument.nodeLimit else {
                throw error("more than \(YAMLDocument.nodeLimit) nodes (aliases expanded)", at: event)
            }
        }

        /// Whether a node `height` levels tall fits at `depth` within `depthLimit`.
        private func checkDepth(_ depth: Int, height: Int, at event: Event) throws(YAMLError) {
            guard depth + height <= YAMLDocument.depthLimit else {
                throw error("nested deeper than \(YAMLDocument.depthLimit) levels", at: event)
            }
        }

        /// The node that starts with `event`, and its height (1 for a scalar).
        private mutating func node(_ event: Event, depth: Int) throws(YAMLError) -> (node: YAMLNode, height: Int) {
            if case .alias(let name) = event.kind {
                guard let anchored = anchors[name] else { throw error("unknown alias *\(name)", at: event) }
                try checkDepth(depth, height: anchored.height, at: event)
                try count(anchored.size, at: event)
                var copy = anchored.node
                copy.line = event.line
                copy.column = event.column
                return (copy, anchored.height)
            }
            try checkDepth(depth, height: 1, at: event)
            let start = nodes
            try count(1, at: event)
            let anchor: String?
            let result: YAMLNode
            var height = 1
            switch event.kind {
            case .scalar(let value, let tag, let name, let plain):
                anchor = name
                result = YAMLNode(
                    content: .scalar(value, plain: plain), tag: YAMLScalar.resolve(value, tag: tag, plain: plain),
                    line: event.line, column: event.column)
            case .sequenceStart(let name):
                anchor = name
                var items: [YAMLNode] = []
                while true {
                    let item = try next()
                    if case .sequenceEnd = item.kind { break }
                    let child = try node(item, depth: depth + 1)
                    items.append(child.node)
                    height = max(height, child.height + 1)
                }
                result = YAMLNode(content: .sequence(items), tag: .other("seq"), line: event.line, column: event.column)
            case .mappingStart(let name):
                anchor = name
                var pairs: [(key: YAMLNode, value: YAMLNode)] = []
                while true {
                    let keyEvent = try next()
                    if case .mappingEnd = keyEvent.kind { break }
                    let key = try node(keyEvent, depth: depth + 1)
                    let value = try node(try next(), depth: depth + 1)
                    pairs.append((key.node, value.node))
                    height = max(height, key.height + 1, value.height + 1)
                }
                result = YAMLNode(content: .mapping(pairs), tag: .other("map"), line: event.line, column: event.column)
            default:
                throw error("unexpected YAML structure", at: event)
            }
            if let anchor { anchors[anchor] = (result, nodes - start, height) }
            return (result, height)
        }
    }
}

/// YAML 1.1's implicit types for plain scalars (the rules PyYAML and libyaml-based readers apply): null, bool, int
/// and float; everything else, and every quoted scalar, is a string.
enum YAMLScalar {
    static let trueWords: Set<String> = ["yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"]
    static let falseWords: Set<String> = ["no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"]
    static let nullWords: Set<String> = ["", "~", "null", "Null", "NULL"]

    static func resolve(_ text: String, tag: String?, plain: Bool) -> YAMLNode.Tag {
        if let tag, tag != "!" {
            let name = tag.hasPrefix("tag:yaml.org,2002:") ? String(tag.dropFirst("tag:yaml.org,2002:".count)) : tag
            switch name {
            case "str": return .str
            case "int": return .int
            case "float": return .float
            case "bool": return .bool
            case "null": return .null
            default: return .other(name)
            }
        }
        guard plain, tag == nil else { return .str }
        if trueWords.contains(text) || falseWords.contains(text) { return .bool }
        if intValue(text, shapeOnly: true) != nil { return .int }
        if isFloat(text) { return .float }
        if nullWords.contains(text) { return .null }
        return .str
    }

    /// The integer `text` spells; with `shapeOnly`, 0 for any text shaped like an integer even if it overflows.
    static func intValue(_ text: String, shapeOnly: Bool = false) -> Int? {
        var digits = Substring(text)
        var negative = false
        if let sign = digits.first, sign == "-" || sign == "+" {
            negative = sign == "-"
            digits = digits.dropFirst()
        }
        let radix: Int
        if digits.hasPrefix("0b") {
            radix = 2
            digits = digits.dropFirst(2)
        } else if digits.hasPrefix("0x") {
            radix = 16
            digits = digits.dropFirst(2)
        } else if digits.hasPrefix("0o") {
            radix = 8
            digits = digits.dropFirst(2)
        } else if digits.hasPrefix("0"), digits.count > 1, !digits.contains(":") {
            radix = 8
            digits = digits.dropFirst()
        } else if digits.contains(":") {
            return sexagesimal(digits, negative: negative, shapeOnly: shapeOnly)
        } else {
            radix = 10
            if digits.hasPrefix("_") { return nil }
        }
        let cleaned = digits.filter { $0 != "_" }
        guard !digits.isEmpty, !cleaned.isEmpty || radix == 8,
            cleaned.allSatisfy({ $0.isASCII && $0.hexDigitValue.map { $0 < radix } == true })
        else { return nil }
        if shapeOnly { return 0 }
        guard let magnitude = UInt(cleaned.isEmpty ? "0" : cleaned, radix: radix) else { return nil }
        return signed(magnitude, negative: negative)
    }

    /// `1:30:00` = 5400: base 60 after a first group of `[1-9][0-9_]*`.
    private static func sexagesimal(_ digits: Substring, negative: Bool, shapeOnly: Bool) -> Int? {
        let groups = digits.split(separator: ":", omittingEmptySubsequences: false)
        guard let first = groups.first, let lead = first.first, lead != "0", lead.isASCII, lead.isNumber,
            first.allSatisfy({ $0 == "_" || ($0.isASCII && $0.isNumber) })
        else { return nil }
        for group in groups.dropFirst() {
            guard (1...2).contains(group.count), group.allSatisfy({ $0.isASCII && $0.isNumber }),
                Int(group)! < 60 || group.count == 1
            else { return nil }
        }
        if shapeOnly { return 0 }
        var magnitude: UInt = 0
        for group in groups {
            guard let value = UInt(group.filter { $0 != "_" }) else { return nil }
            let (shifted, overflow) = magnitude.multipliedReportingOverflow(by: 60)
            guard !overflow else { return nil }
            let (sum, overflowed) = shifted.addingReportingOverflow(value)
            guard !overflowed else { return nil }
            magnitude = sum
        }
        return signed(magnitude, negative: negative)
    }

    private static func signed(_ magnitude: UInt, negative: Bool) -> Int? {
        if negative {
            if magnitude == UInt(Int.max) + 1 { return Int.min }
            return magnitude <= UInt(Int.max) ? -Int(magnitude) : nil
        }
        return magnitude <= UInt(Int.max) ? Int(magnitude) : nil
    }

    /// `[-+]?[0-9][0-9_]*(\.[0-9_]*)?([eE][-+]?[0-9]+)?`, `\.[0-9_]+([eE][-+][0-9]+)?`, base 60 with a fraction,
    /// `[-+]?.inf` and `.nan` in their three spellings.
    static func isFloat(_ text: String) -> Bool {
        var rest = Substring(text)
        if rest == ".nan" || rest == ".NaN" || rest == ".NAN" { return true }
        if let sign = rest.first, sign == "-" || sign == "+" { rest = rest.dropFirst() }
        if rest == ".inf" || rest == ".Inf" || rest == ".INF" { return true }
        func isDigit(_ c: Character) -> Bool { c.isASCII && c.isNumber }
        if rest.contains(":") {
            // base 60: [0-9][0-9_]*(:[0-5]?[0-9])+\.[0-9_]*
            guard let dot = rest.firstIndex(of: "."), text.first.map({ $0 != "." }) == true else { return false }
            let fraction = rest[rest.index(after: dot)...]
            guard fraction.allSatisfy({ isDigit($0) || $0 == "_" }) else { return false }
            let groups = rest[..<dot].split(separator: ":", omittingEmptySubsequences: false)
            guard let first = groups.first, first.first.map(isDigit) == true,
                first.allSatisfy({ isDigit($0) || $0 == "_" })
            else { return false }
            return groups.dropFirst().allSatisfy {
                (1...2).contains($0.count) && $0.allSatisfy(isDigit) && ($0.count == 1 || $0.first! <= "5")
            }
        }
        var index = rest.startIndex
        func take(_ accept: (Character) -> Bool) -> Int {
            var taken = 0
            while index < rest.endIndex, accept(rest[index]) {
                index = rest.index(after: index)
                taken += 1
            }
            return taken
        }
        let leadsWithDot = rest.first == "."
        if leadsWithDot {
            guard text.first == "." else { return false }  // no sign before `.5`
            index = rest.index(after: index)
            guard take({ isDigit($0) || $0 == "_" }) > 0 else { return false }
        } else {
            guard take(isDigit) > 0 else { return false }
            _ = take { isDigit($0) || $0 == "_" }
            if index < rest.endIndex, rest[index] == "." {
                index = rest.index(after: index)
                _ = take { isDigit($0) || $0 == "_" }
            }
        }
        if index < rest.endIndex, rest[index] == "e" || rest[index] == "E" {
            index = rest.index(after: index)
            if index < rest.endIndex, rest[index] == "-" || rest[index] == "+" {
                index = rest.index(after: index)
            } else if leadsWithDot {
                return false
            }
            guard take(isDigit) > 0 else { return false }
        }
        return index == rest.endIndex
    }
}
