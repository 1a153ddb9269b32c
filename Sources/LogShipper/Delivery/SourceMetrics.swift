import Metrics

/// The counters of one source, through swift-metrics (exported in Prometheus format on the status socket).
struct SourceMetrics {
    let eventsShipped: Counter
    let bytesShipped: Counter
    let rejectedTooOld: Counter
    let rejectedTooNew: Counter
    let rejectedExpired: Counter
    let deadLettered: Counter
    let batches: Counter
    let backlog: Gauge
    let inFlight: Gauge
    let lost: Gauge

    init(source: String) {
        let dimensions = [("source", source)]
        eventsShipped = Counter(label: "clock_logs_events_shipped_total", dimensions: dimensions)
        bytesShipped = Counter(label: "clock_logs_bytes_shipped_total", dimensions: dimensions)
        rejectedTooOld = Counter(
            label: "clock_logs_events_rejected_total", dimensions: dimensions + [("reason", "too_old")])
        rejectedTooNew = Counter(
            label: "clock_logs_events_rejected_total", dimensions: dimensions + [("reason", "too_new")])
        rejectedExpired = Counter(
            label: "clock_logs_events_rejected_total", dimensions: dimensions + [("reason", "expired")])
        deadLettered = Counter(label: "clock_logs_events_dead_lettered_total", dimensions: dimensions)
        batches = Counter(label: "clock_logs_batches_sent_total", dimensions: dimensions)
        backlog = Gauge(label: "clock_logs_backlog_bytes", dimensions: dimensions)
        inFlight = Gauge(label: "clock_logs_batches_in_flight", dimensions: dimensions)
        lost = Gauge(label: "clock_logs_lost_bytes", dimensions: dimensions)
    }
}
