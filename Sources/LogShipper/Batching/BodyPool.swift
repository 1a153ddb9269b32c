/// Request bodies given back after delivery, kept for the next batches.
///
/// A sealed body travels to the sender and comes back once CloudWatch answered; building the next batch in it
/// needs no allocation and touches no fresh pages, and memory stays at (batches in flight + 1) bodies whatever the
/// throughput. Bodies are kept as they come back and only written to when `BatchBuilder` reuses them, by which time
/// the sender has let go of them.
public struct BodyPool: Sendable {
    /// Spare bodies, in the order they came back.
    private var spare: [[UInt8]] = []
    /// The most spare bodies kept.
    public let limit: Int
    /// Bodies with a capacity outside `BatchBuilder.standardCapacity ... maxCapacity` are not kept (a batch of
    /// escape-heavy or very long lines may have grown its body; such memory is given back at once).
    public let maxCapacity: Int

    /// Creates an empty pool.
    public init(limit: Int, maxCapacity: Int = 2 * BatchBuilder.standardCapacity) {
        self.limit = limit
        self.maxCapacity = maxCapacity
    }

    /// Spare bodies held.
    public var count: Int { spare.count }

    /// A spare body, if there is one: the one given back longest ago, so that whoever sent it has long let go.
    public mutating func take() -> [UInt8]? { spare.isEmpty ? nil : spare.removeFirst() }

    /// Gives a delivered body back.
    public mutating func recycle(_ body: consuming [UInt8]) {
        guard spare.count < limit, body.capacity >= BatchBuilder.standardCapacity, body.capacity <= maxCapacity else {
            return
        }
        spare.append(body)
    }

    /// Lets go of spare bodies beyond `keep` (when shipping has gone quiet).
    public mutating func trim(keeping keep: Int) {
        if spare.count > keep { spare.removeLast(spare.count - keep) }
    }
}
