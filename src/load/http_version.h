#pragma once
// Which HTTP version `quantgate bench` asks for (--http auto|1.1|2), what that means as a libcurl option,
// and the name of the version a transfer really used. Kept apart from the client so the mapping is testable
// without a server.
//   auto: h2 over https when the server offers it by ALPN, HTTP/1.1 on plain http (what a browser does)
//   1.1:  HTTP/1.1 only, whatever TLS could negotiate
//   2:    https: h2 by ALPN (HTTP/1.1 if the server does not offer it: the results count versions per request);
//         plain http: h2c with prior knowledge (the HTTP/2 preface at once, no Upgrade round trip)
#include <string>
#include <string_view>

namespace qg::load {

enum class HttpVersion { kAuto, kHttp1_1, kHttp2 };

// "auto", "1.1", "2" (also "1" and "2.0" are not accepted: one spelling each). Throws qg::Error otherwise.
HttpVersion parse_http_version(std::string_view s);
const char* http_version_name(HttpVersion v);  // the flag's spelling

// The URL's scheme is https (case-insensitive), so TLS with ALPN decides the version.
bool is_https_url(std::string_view url);

// Value for CURLOPT_HTTP_VERSION.
long curl_http_version_option(HttpVersion v, bool https);
// Whether transfers may share one connection as h2 streams: then CURLOPT_PIPEWAIT makes a new transfer wait
// for a connection being set up (to learn whether it multiplexes) instead of opening one more.
bool may_multiplex(HttpVersion v, bool https);

// CURLINFO_HTTP_VERSION's value as a results key: "1.0", "1.1", "2", "3"; "" for 0 (no response).
std::string negotiated_version_name(long curlinfo_http_version);

}  // namespace qg::load
