import CCurl

/// Owns one libcurl easy handle. Used by the transport thread only; reset and reused between transfers.
final class CurlEasy {
    let handle: UnsafeMutableRawPointer

    init() {
        guard let handle = curl_easy_init() else { fatalError("curl_easy_init returned NULL (out of memory)") }
        self.handle = handle
    }

    func close() { curl_easy_cleanup(handle) }

    /// Clears every option so the handle can serve the next transfer; the connection cache lives in the multi
    /// handle and survives (https://curl.se/libcurl/c/curl_easy_reset.html).
    func reset() { curl_easy_reset(handle) }

    /// Sets every option the transfer needs.
    func configure(for transfer: CurlTransfer, caBundle: String?, userAgent: String) throws {
        let request = transfer.request
        try set(CURLOPT_URL, request.url)
        try set(CURLOPT_NOSIGNAL, 1)
        try set(CURLOPT_HTTP_VERSION, Int(CURL_HTTP_VERSION_1_1))
        try set(CURLOPT_FOLLOWLOCATION, 0)
        // S3 keys may contain `/./`, `/../` and `//`: send the path exactly as built
        // (https://curl.se/libcurl/c/CURLOPT_PATH_AS_IS.html).
        try set(CURLOPT_PATH_AS_IS, 1)
        try set(CURLOPT_USERAGENT, userAgent)
        // TLS verification always on (https://curl.se/libcurl/c/CURLOPT_SSL_VERIFYPEER.html).
        try set(CURLOPT_SSL_VERIFYPEER, 1)
        try set(CURLOPT_SSL_VERIFYHOST, 2)
        if let caBundle { try set(CURLOPT_CAINFO, caBundle) }
        if !request.useProxy { try set(CURLOPT_NOPROXY, "*") }
        try set(CURLOPT_TCP_KEEPALIVE, 1)
        try set(CURLOPT_CONNECTTIMEOUT_MS, request.timeouts.connectMilliseconds)
        try set(CURLOPT_TIMEOUT_MS, request.timeouts.totalMilliseconds)
        if let lowSpeed = request.timeouts.lowSpeed {
            try set(CURLOPT_LOW_SPEED_LIMIT, lowSpeed.bytesPerSecond)
            try set(CURLOPT_LOW_SPEED_TIME, lowSpeed.seconds)
        }
        try set(CURLOPT_ERRORBUFFER, UnsafeRawPointer(transfer.errorBuffer))
        let context = UnsafeRawPointer(Unmanaged.passUnretained(transfer).toOpaque())

        switch request.method {
        case "GET":
            try set(CURLOPT_HTTPGET, 1)
        case "HEAD":
            try set(CURLOPT_NOBODY, 1)
        case "POST":
            try setBody(request.body, context: context)
        default:
            try set(CURLOPT_CUSTOMREQUEST, request.method)
            if !request.body.isEmpty || request.method == "PUT" { try setBody(request.body, context: context) }
        }

        // Our own headers, plus blanks that stop curl adding `Expect: 100-continue` and a default Content-Type.
        var list: UnsafeMutablePointer<curl_slist>?
        for field in request.headers { list = curl_slist_append(list, "\(field.name): \(field.value)") }
        list = curl_slist_append(list, "Expect:")
        if !request.headers.contains("content-type") { list = curl_slist_append(list, "Content-Type:") }
        transfer.headerList = list
        try set(CURLOPT_HTTPHEADER, UnsafeRawPointer(list))

        try setCallback(CURLOPT_HEADERFUNCTION, curlHeaderCallback)
        try set(CURLOPT_HEADERDATA, context)
        try setCallback(CURLOPT_WRITEFUNCTION, curlWriteCallback)
        try set(CURLOPT_WRITEDATA, context)
    }

    /// The HTTP status of the last response (`CURLINFO_RESPONSE_CODE`).
    var responseCode: Int {
        var code = 0
        _ = CCurl_easy_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &code)
        return code
    }

    /// Bodies up to this size are copied into curl (sent with the headers in one write); larger ones are read by
    /// curl from the request itself, piece by piece, without a copy of the whole body.
    static let copiedBodyLimit = 64 * 1024

    private func setBody(_ body: [UInt8], context: UnsafeRawPointer) throws {
        // The size first: curl sends it as Content-Length (https://curl.se/libcurl/c/CURLOPT_POSTFIELDSIZE_LARGE.html).
        try check(CCurl_easy_setopt_off_t(handle, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(body.count)), "POSTFIELDSIZE")
        guard body.count > Self.copiedBodyLimit else {
            // COPYPOSTFIELDS makes curl own a copy, so the Swift array need not outlive the call
            // (https://curl.se/libcurl/c/CURLOPT_COPYPOSTFIELDS.html).
            try body.withUnsafeBytes { bytes in
                let empty: StaticString = ""
                let pointer = bytes.baseAddress ?? UnsafeRawPointer(empty.utf8Start)
                try check(CCurl_easy_setopt_ptr(handle, CURLOPT_COPYPOSTFIELDS, pointer), "COPYPOSTFIELDS")
            }
            return
        }
        // A POST without POSTFIELDS reads its body through the read callback
        // (https://curl.se/libcurl/c/CURLOPT_POST.html, https://curl.se/libcurl/c/CURLOPT_READFUNCTION.html); the
        // transfer keeps the request, and so the body, alive until curl is done with it. The seek callback lets curl
        // rewind when it resends on a fresh connection (https://curl.se/libcurl/c/CURLOPT_SEEKFUNCTION.html).
        try set(CURLOPT_POST, 1)
        try check(CCurl_easy_setopt_read_callback(handle, CURLOPT_READFUNCTION, curlReadCallback), "READFUNCTION")
        try set(CURLOPT_READDATA, context)
        try check(CCurl_easy_setopt_seek_callback(handle, CURLOPT_SEEKFUNCTION, curlSeekCallback), "SEEKFUNCTION")
        try set(CURLOPT_SEEKDATA, context)
    }

    private func set(_ option: CURLoption, _ value: Int) throws {
        try check(CCurl_easy_setopt_long(handle, option, value), "option \(option.rawValue)")
    }

    private func set(_ option: CURLoption, _ value: String) throws {
        // libcurl copies string options (https://curl.se/libcurl/c/curl_easy_setopt.html, "Strings").
        try value.withCString { try check(CCurl_easy_setopt_ptr(handle, option, $0), "option \(option.rawValue)") }
    }

    private func set(_ option: CURLoption, _ value: UnsafeRawPointer?) throws {
        try check(CCurl_easy_setopt_ptr(handle, option, value), "option \(option.rawValue)")
    }

    private func setCallback(_ option: CURLoption, _ callback: curl_write_callback) throws {
        try check(CCurl_easy_setopt_write_callback(handle, option, callback), "callback \(option.rawValue)")
    }

    private func check(_ code: CURLcode, _ what: String) throws {
        guard code == CURLE_OK else {
            throw AWSError(
                kind: .transport, service: "http", operation: "configure", code: "curl \(code.rawValue)",
                message: "curl_easy_setopt \(what): \(String(cString: curl_easy_strerror(code)))")
        }
    }
}

/// `CURLOPT_HEADERFUNCTION`: one header line per call (https://curl.se/libcurl/c/CURLOPT_HEADERFUNCTION.html).
private let curlHeaderCallback: curl_write_callback = { buffer, size, count, context in
    guard let buffer, let context else { return 0 }
    let transfer = Unmanaged<CurlTransfer>.fromOpaque(context).takeUnretainedValue()
    let length = size * count
    transfer.receiveHeaderLine(UnsafeRawBufferPointer(start: buffer, count: length))
    return length
}

/// `CURLOPT_WRITEFUNCTION`: body bytes (https://curl.se/libcurl/c/CURLOPT_WRITEFUNCTION.html). Returning less
/// than given aborts the transfer with `CURLE_WRITE_ERROR`.
private let curlWriteCallback: curl_write_callback = { buffer, size, count, context in
    guard let buffer, let context else { return 0 }
    let transfer = Unmanaged<CurlTransfer>.fromOpaque(context).takeUnretainedValue()
    let length = size * count
    return transfer.receiveBody(UnsafeRawBufferPointer(start: buffer, count: length)) ? length : 0
}

/// `CURLOPT_READFUNCTION`: the next piece of the request body (https://curl.se/libcurl/c/CURLOPT_READFUNCTION.html).
private let curlReadCallback: curl_read_callback = { buffer, size, count, context in
    guard let buffer, let context else { return Int(CURL_READFUNC_ABORT) }
    let transfer = Unmanaged<CurlTransfer>.fromOpaque(context).takeUnretainedValue()
    return transfer.readBody(into: UnsafeMutableRawBufferPointer(start: buffer, count: size * count))
}

/// `CURLOPT_SEEKFUNCTION`: back to an offset of the request body (https://curl.se/libcurl/c/CURLOPT_SEEKFUNCTION.html).
private let curlSeekCallback: curl_seek_callback = { context, offset, origin in
    guard let context, origin == SEEK_SET else { return Int32(CURL_SEEKFUNC_CANTSEEK) }
    let transfer = Unmanaged<CurlTransfer>.fromOpaque(context).takeUnretainedValue()
    return transfer.seekBody(to: Int(offset)) ? Int32(CURL_SEEKFUNC_OK) : Int32(CURL_SEEKFUNC_FAIL)
}
