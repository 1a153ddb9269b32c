/// Metadata headers read since the last entry, applying to the next one.
struct TarPendingMetadata {
    /// The last `x` header's keywords.
    var pax: TarPaxRecords?
    /// The last `L` header's name.
    var longName: [UInt8]?
    /// The last `K` header's link name.
    var longLink: [UInt8]?
    /// How many metadata headers were read in a row.
    var headers = 0
    /// The last metadata header's own name, for errors.
    var headerName: String?
}
