import Foundation
import LogShipper
import Testing

/// The per-source batching state: which positions a batch covers, batches completed mid-read, clamped timestamps
/// and recycled bodies.
@Suite struct BatchAssemblerTests {
    static let now = ContinuousClock.now
    static let a = InputKey.file(device: 1, inode: 1)
    static let b = InputKey.file(device: 1, inode: 2)

    static func add(
        _ assembler: inout BatchAssembler, _ key: InputKey, _ text: String, at offset: Int64, timestamp: Int64 = 1_000
    ) {
        Array(text.utf8).withUnsafeBytes { bytes in
            assembler.add(
                key: key, message: bytes, continued: false, position: .offset(offset, generation: 0),
                timestamp: timestamp, now: now)
        }
    }

    static func seal(_ assembler: inout BatchAssembler) -> OutgoingBatch? { assembler.seal(now: now) }

    static func messages(_ batch: OutgoingBatch) throws -> [(Int64, String)] {
        let body = try BatchBuilderTests.decodeBody(batch.body)
        return body.logEvents.map { ($0.timestamp, $0.message) }
    }

    @Test func aBatchCoversTheLastPositionOfEachInput() throws {
        var assembler = BatchAssembler(source: "s", group: "g", stream: "st", poolLimit: 2)
        Self.add(&assembler, Self.a, "a1", at: 3)
        Self.add(&assembler, Self.b, "b1", at: 3)
        Self.add(&assembler, Self.a, "a2", at: 6)
        Self.add(&assembler, Self.a, "", at: 7)
        let batch = try #require(Self.seal(&assembler))
        #expect(batch.positions == [Self.a: .offset(7, generation: 0), Self.b: .offset(3, generation: 0)])
        #expect(batch.sequence == 1)
        #expect(try Self.messages(batch).map(\.1) == ["a1", "b1", "a2"])
        #expect(Self.seal(&assembler) == nil)
    }

    @Test func emptyLinesBeforeABatchAreCommittedWithTheNext() throws {
        var assembler = BatchAssembler(source: "s", group: "g", stream: "st", poolLimit: 2)
        Self.add(&assembler, Self.b, "", at: 1)
        #expect(!assembler.isBuilding)
        Self.add(&assembler, Self.a, "x", at: 2)
        let batch = try #require(Self.seal(&assembler))
        #expect(batch.positions == [Self.a: .offset(2, generation: 0), Self.b: .offset(1, generation: 0)])
    }

    @Test func aFullBatchIsCompletedWithThePositionsOfItsOwnLines() throws {
        // 100 bytes of room: three 6-byte lines (32 counted each) fit, the fourth starts the next batch.
        var assembler = BatchAssembler(source: "s", group: "g", stream: "st", poolLimit: 2, maxBytes: 100)
        for line in 1...4 { Self.add(&assembler, Self.a, "line \(line)", at: Int64(line * 7)) }
        let completed = assembler.takeCompleted()
        #expect(completed.count == 1)
        #expect(completed.first?.positions == [Self.a: .offset(21, generation: 0)])
        #expect(completed.first?.events == 3)
        #expect(completed.first?.bytes == 96)
        let next = try #require(Self.seal(&assembler))
        #expect(next.sequence == 2)
        #expect(next.positions == [Self.a: .offset(28, generation: 0)])
        #expect(try Self.messages(next).map(\.1) == ["line 4"])
        #expect(assembler.takeCompleted().isEmpty)
    }

    @Test func timestampsNeverGoBackwards() throws {
        var assembler = BatchAssembler(source: "s", group: "g", stream: "st", poolLimit: 2)
        Self.add(&assembler, Self.a, "late", at: 1, timestamp: 2_000)
        Self.add(&assembler, Self.a, "clock stepped back", at: 2, timestamp: 1_000)
        let batch = try #require(Self.seal(&assembler))
        #expect(try Self.messages(batch).map(\.0) == [2_000, 2_000])
    }

    @Test func deliveredBodiesAreReusedWithoutCopies() throws {
        var assembler = BatchAssembler(source: "s", group: "g", stream: "st", poolLimit: 2)
        Self.add(&assembler, Self.a, "one", at: 4)
        var first = Self.seal(&assembler)
        let address = try #require(first).body.withUnsafeBytes { $0.baseAddress }
        // Given back with no other reference left (as the shipper does once the sender is done with it).
        assembler.recycle(first.take()!.body)
        #expect(assembler.builder.spareBodies == 1)
        Self.add(&assembler, Self.a, "two", at: 8)
        _ = try #require(Self.seal(&assembler))
        Self.add(&assembler, Self.a, "three", at: 14)
        let third = try #require(Self.seal(&assembler))
        // The body of batch 1 came back, was built into again, and went out as batch 3.
        #expect(third.body.withUnsafeBytes { $0.baseAddress } == address)
        #expect(try Self.messages(third).map(\.1) == ["three"])
    }

    @Test func aQuietSourceHoldsNoBodyMemory() throws {
        var assembler = BatchAssembler(source: "s", group: "g", stream: "st", poolLimit: 2)
        Self.add(&assembler, Self.a, "one", at: 4)
        var first = Self.seal(&assembler)
        assembler.recycle(first.take()!.body)
        assembler.releaseMemory()
        #expect(assembler.builder.spareBodies == 0)
        #expect(assembler.builder.capacity < BatchBuilder.standardCapacity)
        // Releasing again is free, and the next event gets full-size storage back.
        assembler.releaseMemory()
        Self.add(&assembler, Self.a, "two", at: 8)
        #expect(assembler.builder.capacity >= BatchBuilder.standardCapacity)
        let second = try #require(Self.seal(&assembler))
        #expect(try Self.messages(second).map(\.1) == ["two"])
        #expect(second.positions == [Self.a: .offset(8, generation: 0)])
    }

    @Test func thePoolKeepsAtMostItsLimitAndTrims() {
        var pool = BodyPool(limit: 2)
        for _ in 0..<3 { pool.recycle([UInt8](repeating: 0, count: BatchBuilder.standardCapacity)) }
        #expect(pool.count == 2)
        // Bodies that grew past the pool's bound are let go.
        pool.trim(keeping: 0)
        pool.recycle([UInt8](repeating: 0, count: 3 * BatchBuilder.standardCapacity))
        #expect(pool.count == 0)
        pool.recycle([UInt8](repeating: 0, count: BatchBuilder.standardCapacity))
        pool.trim(keeping: 1)
        #expect(pool.count == 1)
    }
}
