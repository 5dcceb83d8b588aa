#include "load/http_wire.h"

#include <algorithm>
#include <cctype>
#include <charconv>

#include <fmt/format.h>

namespace qg::test {

namespace {

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) { return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y)); });
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

ParseResult bad(int status, std::string why) {
  ParseResult r;
  r.status = ParseStatus::kBad;
  r.error_status = status;
  r.error = std::move(why);
  return r;
}

const char* reason(int status) {
  switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 411: return "Length Required";
    case 413: return "Payload Too Large";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
  }
  return "Unknown";
}

}  // namespace

ParseResult parse_http_request(std::string_view buf, HttpRequest* out) {
  const std::size_t head_end = buf.find("\r\n\r\n");
  if (head_end == std::string_view::npos) {
    if (buf.size() > kMaxHeaderBytes) return bad(431, "request head larger than 64 KiB");
    return {};
  }
  const std::string_view head = buf.substr(0, head_end);
  std::size_t line_end = head.find("\r\n");
  const std::string_view request_line = head.substr(0, line_end);
  const std::size_t sp1 = request_line.find(' ');
  const std::size_t sp2 = sp1 == std::string_view::npos ? sp1 : request_line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos) return bad(400, "malformed request line");
  const std::string_view version = request_line.substr(sp2 + 1);
  if (version != "HTTP/1.1" && version != "HTTP/1.0") return bad(400, "not HTTP/1.0 or HTTP/1.1");
  HttpRequest req;
  req.method = std::string(request_line.substr(0, sp1));
  std::string_view target = request_line.substr(sp1 + 1, sp2 - sp1 - 1);
  req.path = std::string(target.substr(0, target.find('?')));
  req.keep_alive = version == "HTTP/1.1";

  std::size_t content_length = 0;
  while (line_end != std::string_view::npos) {
    const std::size_t next = head.find("\r\n", line_end + 2);
    const std::string_view line = head.substr(line_end + 2, next == std::string_view::npos ? std::string_view::npos : next - line_end - 2);
    line_end = next;
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) return bad(400, "header line without ':'");
    const std::string_view name = line.substr(0, colon);
    const std::string_view value = trim(line.substr(colon + 1));
    if (iequals(name, "content-length")) {
      const auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), content_length);
      if (ec != std::errc() || p != value.data() + value.size()) return bad(400, "bad Content-Length");
      if (content_length > kMaxBodyBytes) return bad(413, "body larger than 64 MiB");
    } else if (iequals(name, "transfer-encoding")) {
      return bad(411, "chunked request bodies are not supported: send Content-Length");
    } else if (iequals(name, "connection")) {
      if (iequals(value, "close")) req.keep_alive = false;
      else if (iequals(value, "keep-alive")) req.keep_alive = true;
    } else if (iequals(name, "x-request-id")) {
      req.request_id = std::string(value);
    }
  }
  const std::size_t body_begin = head_end + 4;
  if (buf.size() - body_begin < content_length) return {};
  req.body = std::string(buf.substr(body_begin, content_length));
  *out = std::move(req);
  ParseResult r;
  r.status = ParseStatus::kComplete;
  r.consumed = body_begin + content_length;
  return r;
}

std::string http_response(int status, std::string_view content_type, std::string_view body, bool keep_alive) {
  return fmt::format("HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: {}\r\n\r\n{}", status,
                     reason(status), content_type, body.size(), keep_alive ? "keep-alive" : "close", body);
}

std::string sse_response_head(bool keep_alive) {
  return fmt::format("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
                     "Transfer-Encoding: chunked\r\nConnection: {}\r\n\r\n",
                     keep_alive ? "keep-alive" : "close");
}

std::string sse_chunk(std::string_view data) {
  // "data: " + data + "\n\n" is 8 bytes more than data.
  return fmt::format("{:x}\r\ndata: {}\n\n\r\n", data.size() + 8, data);
}

}  // namespace qg::test
