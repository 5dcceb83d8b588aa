// The scripted server's HTTP/1.1 request parser and response framing.
#include <string>

#include "catch.h"
#include "load/http_wire.h"

using namespace qg::test;

namespace {
const std::string kPost =
    "POST /v1/completions?x=1 HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Request-Id: qg-7\r\ncontent-length: 11\r\n"
    "Content-Type: application/json\r\n\r\n{\"a\":\"b c\"}";
}

TEST_CASE("http_wire: a request split at every byte is incomplete until its last byte", "[load]") {
  for (std::size_t cut = 0; cut < kPost.size(); ++cut) {
    HttpRequest req;
    INFO("cut at " << cut);
    CHECK(parse_http_request(std::string_view(kPost).substr(0, cut), &req).status == ParseStatus::kIncomplete);
  }
  HttpRequest req;
  const auto r = parse_http_request(kPost, &req);
  REQUIRE(r.status == ParseStatus::kComplete);
  CHECK(r.consumed == kPost.size());
  CHECK(req.method == "POST");
  CHECK(req.path == "/v1/completions");
  CHECK(req.request_id == "qg-7");
  CHECK(req.body == "{\"a\":\"b c\"}");
  CHECK(req.keep_alive);
}

TEST_CASE("http_wire: pipelined requests are consumed one at a time; Connection header rules", "[load]") {
  const std::string second = "GET /v1/models HTTP/1.1\r\nConnection: close\r\n\r\n";
  const std::string buf = kPost + second;
  HttpRequest a, b;
  const auto ra = parse_http_request(buf, &a);
  REQUIRE(ra.status == ParseStatus::kComplete);
  CHECK(ra.consumed == kPost.size());
  const auto rb = parse_http_request(std::string_view(buf).substr(ra.consumed), &b);
  REQUIRE(rb.status == ParseStatus::kComplete);
  CHECK(rb.consumed == second.size());
  CHECK(b.method == "GET");
  CHECK(b.body.empty());
  CHECK_FALSE(b.keep_alive);
  HttpRequest c;
  REQUIRE(parse_http_request("GET / HTTP/1.0\r\n\r\n", &c).status == ParseStatus::kComplete);
  CHECK_FALSE(c.keep_alive);
  REQUIRE(parse_http_request("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", &c).status == ParseStatus::kComplete);
  CHECK(c.keep_alive);
}

TEST_CASE("http_wire: malformed requests are refused with a status", "[load]") {
  HttpRequest req;
  auto status_of = [&](const std::string& s) {
    const auto r = parse_http_request(s, &req);
    return r.status == ParseStatus::kBad ? r.error_status : 0;
  };
  CHECK(status_of("GARBAGE\r\n\r\n") == 400);
  CHECK(status_of("GET / HTTP/2.0\r\n\r\n") == 400);
  CHECK(status_of("POST / HTTP/1.1\r\nContent-Length: 12x\r\n\r\n") == 400);
  CHECK(status_of("POST / HTTP/1.1\r\nno colon here\r\n\r\n") == 400);
  CHECK(status_of("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n") == 411);
  CHECK(status_of("POST / HTTP/1.1\r\nContent-Length: 999999999999\r\n\r\n") == 413);
  CHECK(status_of("GET / HTTP/1.1\r\nX: " + std::string(kMaxHeaderBytes, 'a')) == 431);
}

TEST_CASE("http_wire: an SSE event is one HTTP chunk with its exact hex length", "[load]") {
  const std::string data(300, 'x');
  const std::string c = sse_chunk(data);
  const std::size_t crlf = c.find("\r\n");
  const std::size_t len = std::stoul(c.substr(0, crlf), nullptr, 16);
  CHECK(len == 308);  // "data: " + 300 + "\n\n"
  CHECK(c.substr(crlf + 2, len) == "data: " + data + "\n\n");
  CHECK(c.substr(crlf + 2 + len) == "\r\n");
  const std::string r = http_response(429, "application/json", "{}", false);
  CHECK(r.rfind("HTTP/1.1 429 Too Many Requests\r\n", 0) == 0);
  CHECK(r.find("Content-Length: 2\r\n") != std::string::npos);
  CHECK(r.find("Connection: close\r\n") != std::string::npos);
  CHECK(r.substr(r.size() - 6) == "\r\n\r\n{}");
}
