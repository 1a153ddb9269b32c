/// What extraction has created so far, as a trie of raw name components.
///
/// It is the single source of truth for the refusals that depend on earlier entries: writing through a symlink,
/// replacing something already extracted, hard links to anything but an extracted regular file, and `..` in a
/// symlink target that climbs out of something other than a real directory. Names are compared as bytes, exactly
/// as the file system does (Swift `String` equality would merge Unicode-equivalent names).
struct TarTree {
    /// What a node is on disk.
    enum Kind: Equatable {
        /// A directory, listed in the archive or made as a missing parent.
        case directory
        /// A regular file or a hard link to one.
        case file
        /// A symbolic link.
        case symlink

        /// How a message names it.
        var noun: String {
            switch self {
            case .directory: "a directory"
            case .file: "a file"
            case .symlink: "a symlink"
            }
        }
    }

    /// Where following a directory path through the tree ended.
    enum Walk: Equatable {
        /// Every component is a directory; the last one is this node.
        case directory(Int)
        /// Component `depth` does not exist yet; the ones before it are directories, the last being `parent`.
        case missing(parent: Int, depth: Int)
        /// Component `depth` exists but is not a directory.
        case blocked(depth: Int, kind: Kind)
    }

    private struct Node {
        var kind: Kind
        var children: [[UInt8]: Int] = [:]
    }

    /// The extraction directory.
    static let root = 0

    private var nodes: [Node] = [Node(kind: .directory)]

    /// The child of `parent` called `name`, if extracted.
    func child(of parent: Int, named name: [UInt8]) -> Int? {
        nodes[parent].children[name]
    }

    /// What `node` is.
    func kind(_ node: Int) -> Kind {
        nodes[node].kind
    }

    /// Records a new node and returns it.
    mutating func add(_ name: [UInt8], kind: Kind, under parent: Int) -> Int {
        nodes.append(Node(kind: kind))
        nodes[parent].children[name] = nodes.count - 1
        return nodes.count - 1
    }

    /// Follows `components` from the root, requiring each to be a directory.
    func walk(_ components: ArraySlice<[UInt8]>) -> Walk {
        var node = TarTree.root
        for (depth, name) in components.enumerated() {
            guard let next = child(of: node, named: name) else { return .missing(parent: node, depth: depth) }
            guard kind(next) == .directory else { return .blocked(depth: depth, kind: kind(next)) }
            node = next
        }
        return .directory(node)
    }

    /// Why a symlink at `linkParent`/… may not point at `target`; nil when it is safe.
    ///
    /// The target is resolved lexically from the link's directory. Leading `..` components climb real directories
    /// (entries are never written through symlinks, so the link's own parents are directories) and may not climb
    /// above the extraction directory. A `..` after a name is only allowed when that name is a directory already
    /// extracted: otherwise it may be (or later become) a symlink, and the kernel's `..` would leave from wherever
    /// that symlink points (`y -> x/l/..` with `x/l -> ..` escapes although it looks harmless). Names that are
    /// symlinks are fine to descend into, because every symlink is checked the same way when it is created.
    func symlinkTargetProblem(_ target: [UInt8], linkParent: ArraySlice<[UInt8]>) -> String? {
        let quoted = TarError.quoted(target)
        guard !target.isEmpty else { return "symlink target is empty" }
        guard !target.contains(0) else { return "symlink target contains a NUL byte" }
        guard target.first != UInt8(ascii: "/") else {
            return "symlink target \(quoted) is absolute; links must stay inside the release directory"
        }
        var stack = Array(linkParent)
        var fromTarget = 0
        for component in target.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: true) {
            if component.elementsEqual([UInt8(ascii: ".")]) { continue }
            if component.elementsEqual([UInt8(ascii: "."), UInt8(ascii: ".")]) {
                guard !stack.isEmpty else {
                    return "symlink target \(quoted) resolves outside the release directory"
                }
                if fromTarget > 0 {
                    guard case .directory = walk(stack[...]) else {
                        let name = TarError.quoted(TarPath.joined(stack))
                        return "symlink target \(quoted) climbs (\"..\") out of \(name), "
                            + "which is not a directory extracted earlier"
                    }
                    fromTarget -= 1
                }
                stack.removeLast()
            } else {
                stack.append(Array(component))
                fromTarget += 1
            }
        }
        return nil
    }
}
