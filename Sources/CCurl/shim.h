#ifndef CLOCK_AGENT_CCURL_SHIM_H
#define CLOCK_AGENT_CCURL_SHIM_H

#include <curl/curl.h>

/// Wraps `curl_easy_setopt` for options taking a `long`.
/// `curl_easy_setopt` is C-variadic, which Swift cannot call; one typed wrapper per argument type keeps the
/// argument passed with the type libcurl reads it as.
static inline CURLcode CCurl_easy_setopt_long(CURL *handle, CURLoption option, long value) {
    return curl_easy_setopt(handle, option, value);
}

/// Wraps `curl_easy_setopt` for options taking a pointer (strings, `curl_slist *`, callback user data).
static inline CURLcode CCurl_easy_setopt_ptr(CURL *handle, CURLoption option, const void *value) {
    return curl_easy_setopt(handle, option, value);
}

/// Wraps `curl_easy_setopt` for options taking a `curl_off_t` (the `_LARGE` size options).
static inline CURLcode CCurl_easy_setopt_off_t(CURL *handle, CURLoption option, curl_off_t value) {
    return curl_easy_setopt(handle, option, value);
}

/// Wraps `curl_easy_setopt` for `CURLOPT_WRITEFUNCTION` and `CURLOPT_HEADERFUNCTION`
/// (both take a `curl_write_callback`).
static inline CURLcode CCurl_easy_setopt_write_callback(CURL *handle, CURLoption option, curl_write_callback value) {
    return curl_easy_setopt(handle, option, value);
}

/// Wraps `curl_easy_setopt` for `CURLOPT_READFUNCTION` (takes a `curl_read_callback`): large request bodies are
/// read by curl from the caller's buffer in pieces instead of being copied whole (`CURLOPT_COPYPOSTFIELDS`).
static inline CURLcode CCurl_easy_setopt_read_callback(CURL *handle, CURLoption option, curl_read_callback value) {
    return curl_easy_setopt(handle, option, value);
}

/// Wraps `curl_easy_setopt` for `CURLOPT_SEEKFUNCTION` (takes a `curl_seek_callback`): lets curl rewind a body it
/// reads through `CURLOPT_READFUNCTION` when it sends the request again on a fresh connection.
static inline CURLcode CCurl_easy_setopt_seek_callback(CURL *handle, CURLoption option, curl_seek_callback value) {
    return curl_easy_setopt(handle, option, value);
}

/// Wraps `curl_easy_getinfo` for results of type `long` (e.g. `CURLINFO_RESPONSE_CODE`).
/// `curl_easy_getinfo` is C-variadic too.
static inline CURLcode CCurl_easy_getinfo_long(CURL *handle, CURLINFO info, long *value) {
    return curl_easy_getinfo(handle, info, value);
}

/// Wraps `curl_easy_getinfo` for results of type `curl_off_t` (e.g. `CURLINFO_SIZE_UPLOAD_T`).
static inline CURLcode CCurl_easy_getinfo_off_t(CURL *handle, CURLINFO info, curl_off_t *value) {
    return curl_easy_getinfo(handle, info, value);
}

/// Wraps `curl_multi_setopt` for options taking a `long` (e.g. `CURLMOPT_MAX_HOST_CONNECTIONS`).
/// `curl_multi_setopt` is C-variadic.
static inline CURLMcode CCurl_multi_setopt_long(CURLM *handle, CURLMoption option, long value) {
    return curl_multi_setopt(handle, option, value);
}

#endif
