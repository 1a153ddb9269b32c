import Testing

@testable import AgentConfig

/// The config's YAML reader (libyaml's parser, YAML 1.1 implicit types): what operators write must mean what
/// YAML says, and what it can't read must be named with its line and column.
@Suite struct YAMLDocumentTests {
    static func root(_ text: String) throws -> YAMLNode {
        try #require(try YAMLDocument.compose(text))
    }

    static func value(_ scalar: String) throws -> YAMLNode {
        let node = try root("k: \(scalar)\n")
        guard case .mapping(let pairs) = node.content else {
            throw YAMLError(problem: "no mapping", line: 0, column: 0)
        }
        return try #require(pairs.first?.value)
    }

    @Test(arguments: [
        ("5", YAMLNode.Tag.int), ("-12", .int), ("+7", .int), ("1_000", .int), ("0x1F", .int), ("0o17", .int),
        ("017", .int), ("0b101", .int), ("1:30", .int), ("0", .int),
        ("1.5", .float), ("1e3", .float), (".5", .float), ("-.inf", .float), (".NaN", .float), ("08", .float),
        ("1:30.5", .float),
        ("true", .bool), ("False", .bool), ("yes", .bool), ("OFF", .bool), ("on", .bool),
        ("~", .null), ("null", .null), ("", .null), ("NULL", .null),
        ("5s", .str), ("hello", .str), ("'5'", .str), ("\"true\"", .str), ("!!str 5", .str), ("!!int '7'", .int),
        ("0x", .str), ("_1", .str), ("1.2.3", .str), ("2024-01-01", .str), ("nulls", .str), ("0:30", .str),
        ("trueish", .str), ("[x]", .other("seq")), ("{a: 1}", .other("map")),
    ])
    func plainScalarsGetYAML11Types(text: String, tag: YAMLNode.Tag) throws {
        #expect(try Self.value(text).tag == tag, "\(text)")
    }

    @Test(arguments: [
        ("5", 5), ("-12", -12), ("1_000", 1000), ("0x1F", 31), ("0o17", 15), ("017", 15), ("0b101", 5),
        ("1:30", 90), ("1:00:00", 3600), ("-9223372036854775808", Int.min), ("9223372036854775807", Int.max),
    ])
    func integerValues(text: String, value: Int) throws {
        #expect(try Self.value(text).int == value, "\(text)")
    }

    @Test func anIntegerTooLargeIsAnIntegerWithoutAValue() throws {
        let node = try Self.value("99999999999999999999")
        #expect(node.tag == .int)
        #expect(node.int == nil)
        #expect(throws: ConfigurationError.self) {
            try Configuration.parse(
                yaml: "app: {source: s3://b-1/k, command: [a]}\nlogs: {retention_days: 99999999999999999999}")
        }
    }

    @Test func quotedAndBlockScalarsKeepTheirText() throws {
        #expect(try Self.value(#""a\tb\n\u00e9""#).string == "a\tb\né")
        #expect(try Self.value("'it''s'").string == "it's")
        let block = try Self.root("k: |\n  line one\n  line two\nf: >-\n  folded\n  text\n")
        guard case .mapping(let pairs) = block.content else {
            Issue.record("not a mapping")
            return
        }
        #expect(pairs.map { $0.value.string } == ["line one\nline two\n", "folded text"])
        #expect(pairs.allSatisfy { $0.value.tag == .str })
    }

    @Test func linesAndColumnsAreOneBased() throws {
        let node = try Self.root("# comment\napp:\n  source: x\n  command: [a, b]\n")
        guard case .mapping(let top) = node.content, case .mapping(let app) = top[0].value.content else {
            Issue.record("not a mapping")
            return
        }
        #expect((top[0].key.line, top[0].key.column) == (2, 1))
        #expect((app[1].key.line, app[1].key.column) == (4, 3))
        #expect((app[1].value.line, app[1].value.column) == (4, 12))
    }

    @Test func duplicateKeysStayForTheReaderToName() throws {
        let node = try Self.root("a: 1\na: 2\n")
        guard case .mapping(let pairs) = node.content else {
            Issue.record("not a mapping")
            return
        }
        #expect(pairs.count == 2)
        let error = #expect(throws: ConfigurationError.self) {
            try Configuration.parse(
                yaml: "app: {source: s3://b-1/k, command: [a]}\napp: {source: s3://b-1/k, command: [a]}")
        }
        #expect(error?.keyPath == "app")
        #expect(error?.line == 2)
    }

    @Test func aliasesAreExpanded() throws {
        let config = try Configuration.parse(
            yaml: """
                app:
                  source: s3://b-1/k
                  command: &cmd [python3, app.py]
                  prepare: [*cmd]
                """)
        #expect(config.app.prepare == [["python3", "app.py"]])
    }

    @Test(
        arguments: [
            ("", nil), ("# only a comment\n", nil),
            ("a: [1, 2\n", "line 2"),
            ("a: b: c\n", "mapping values are not allowed in this context at line 1, column 5"),
            ("a: *missing\n", "unknown alias *missing at line 1, column 4"),
            ("a: 1\n---\nb: 2\n", "a second document (---) in the file; a config is one document at line 2, column 1"),
            ("a: \"\\q\"\n", "found unknown escape character at line 1, column 5"),
            ("\t a: 1\n", "line 1"),
            ("a: 1\nb: 2\nc: \u{7}x\n", "control characters are not allowed (byte 0x7) at line 3, column 4"),
            ("a: 1\nb: é\u{1}\n", "at line 2, column 5"),
        ] as [(String, String?)])
    func unreadableDocumentsNameWhereAndWhy(text: String, fragment: String?) throws {
        guard let fragment else {
            #expect(try YAMLDocument.compose(text) == nil)
            return
        }
        let error = #expect(throws: YAMLError.self) { try YAMLDocument.compose(text) }
        #expect(error.map { "\($0)" }?.contains(fragment) == true, "\(String(describing: error))")
    }

    @Test func nestingIsBounded() throws {
        let deep = String(repeating: "[", count: 200) + String(repeating: "]", count: 200)
        let error = #expect(throws: YAMLError.self) { try YAMLDocument.compose("a: \(deep)\n") }
        #expect(error?.problem == "nested deeper than 64 levels")
        #expect(
            try YAMLDocument.compose("a: " + String(repeating: "[", count: 60) + String(repeating: "]", count: 60))
                != nil)
    }

    @Test func aliasesCountTowardsTheNestingBound() throws {
        let sixty = String(repeating: "[", count: 60) + String(repeating: "]", count: 60)
        // 60 levels anchored at depth 1 fit; pasted at depth 5 they don't.
        #expect(try YAMLDocument.compose("a: &deep \(sixty)\nb: *deep\n") != nil)
        let error = #expect(throws: YAMLError.self) {
            try YAMLDocument.compose("a: &deep \(sixty)\nb: [[[[*deep]]]]\n")
        }
        #expect(error?.problem == "nested deeper than 64 levels")
    }

    @Test func anExplicitBoolMustBeABooleanWord() throws {
        #expect(try Self.value("!!bool yes").bool == true)
        #expect(try Self.value("!!bool 'off'").bool == false)
        #expect(try Self.value("!!bool enabled").bool == nil)
        let error = #expect(throws: ConfigurationError.self) {
            try Configuration.parse(yaml: "app: {source: s3://b-1/k, command: [a]}\nlogs: {gzip: !!bool enabled}")
        }
        #expect(error?.keyPath == "logs.gzip")
    }

    @Test func anAliasBombIsRefusedNotExpanded() throws {
        var text = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n"
        for level in 1..<9 {
            let items = Array(repeating: "*a\(level - 1)", count: 10).joined(separator: ", ")
            text += "a\(level): &a\(level) [\(items)]\n"
        }
        let error = #expect(throws: YAMLError.self) { try YAMLDocument.compose(text) }
        #expect(error?.problem.hasPrefix("more than 100000 nodes") == true, "\(String(describing: error))")
    }

    @Test func theConfigsOwnErrorCarriesTheYAMLLocation() {
        let error = #expect(throws: ConfigurationError.self) {
            try Configuration.parse(yaml: "app:\n  source: [unclosed\n", file: "c.yaml")
        }
        #expect(error?.description.hasPrefix("c.yaml") == true)
        #expect(error?.message.hasPrefix("not valid YAML: ") == true)
        #expect(error?.message.contains("line 3") == true, "\(String(describing: error))")
    }
}
