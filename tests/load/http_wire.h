#pragma once
// The HTTP/1.1 wire format the scripted server needs, and nothing more: parse one request (request line,
// headers, Content-Length body) from the front of a connection's buffer, and format responses (fixed
// length, or the head of a chunked one plus its chunks). Kept apart from the event loop so it is tested
// on its own (split reads, pipelined requests, malformed input).
#include <cstddef>
#include <string>
#include <string_view>

namespace qg::test {

struct HttpRequest {
  std::string method;
  std::string path;        // without the query string
  std::string request_id;  // x-request-id, empty when absent
  std::string body;
  bool keep_alive = true;  // HTTP/1.1 unless "Connection: close"; HTTP/1.0 only with "Connection: keep-alive"
};

enum class ParseStatus { kIncomplete, kComplete, kBad };

struct ParseResult {
  ParseStatus status = ParseStatus::kIncomplete;
  std::size_t consumed = 0;  // bytes of the buffer this request used (kComplete)
  int error_status = 0;      // kBad: the HTTP status to answer with (400, 411, 413, 431)
  std::string error;         // kBad: why
};

inline constexpr std::size_t kMaxHeaderBytes = 64 * 1024;
inline constexpr std::size_t kMaxBodyBytes = 64 * 1024 * 1024;  // a 32k-token prompt is ~200 KB

// Parses the first request in `buf` into *out. Chunked request bodies are refused (411): every client we
// drive (libcurl with POSTFIELDS, aiohttp with json=) sends Content-Length.
ParseResult parse_http_request(std::string_view buf, HttpRequest* out);

// A complete response with Content-Length.
std::string http_response(int status, std::string_view content_type, std::string_view body, bool keep_alive);
// The head of a chunked text/event-stream response (status 200).
std::string sse_response_head(bool keep_alive);
// One SSE event ("data: ...\n\n") as one HTTP chunk.
std::string sse_chunk(std::string_view data);
// The chunked body's terminator.
inline constexpr std::string_view kLastChunk = "0\r\n\r\n";

}  // namespace qg::test
