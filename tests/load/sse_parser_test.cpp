// SSE framing: splits, CRLF, comments, several events per read, [DONE].
#include <string>
#include <vector>

#include "catch.h"
#include "load/sse_parser.h"

using qg::load::SseParser;

namespace {
std::vector<std::string> feed_in_pieces(SseParser& p, const std::string& s, std::size_t piece) {
  std::vector<std::string> out;
  for (std::size_t i = 0; i < s.size(); i += piece)
    p.feed(std::string_view(s).substr(i, piece), [&](std::string_view d) { out.emplace_back(d); });
  return out;
}
}  // namespace

TEST_CASE("sse: events split at every byte boundary and several per read", "[load]") {
  const std::string stream =
      "data: {\"a\":1}\n\n"
      ": keep-alive ping\n\n"
      "data: {\"b\":2}\r\n\r\n"
      "event: message\nid: 7\nretry: 100\ndata:{\"c\":3}\n\n"
      "data: line1\ndata: line2\n\n"
      "data: [DONE]\n\n"
      "data: {\"after\":\"done\"}\n\n";
  const std::vector<std::string> want = {"{\"a\":1}", "{\"b\":2}", "{\"c\":3}", "line1\nline2"};
  for (std::size_t piece = 1; piece <= stream.size(); ++piece) {
    SseParser p;
    auto got = feed_in_pieces(p, stream, piece);
    INFO("piece size " << piece);
    CHECK(got == want);
    CHECK(p.done());
    CHECK(p.comments() == 1);
  }
}

TEST_CASE("sse: CR-only line ends and a CRLF split across reads", "[load]") {
  SseParser p;
  std::vector<std::string> got;
  auto cb = [&](std::string_view d) { got.emplace_back(d); };
  p.feed("data: x\r", cb);
  p.feed("\n\r", cb);
  p.feed("\ndata: y\r\r", cb);
  REQUIRE(got == std::vector<std::string>{"x", "y"});
  CHECK_FALSE(p.has_partial_event());
}

TEST_CASE("sse: empty data, events without data, partial tail", "[load]") {
  SseParser p;
  std::vector<std::string> got;
  auto cb = [&](std::string_view d) { got.emplace_back(d); };
  p.feed("event: ping\n\n\n\ndata:\n\n", cb);  // event without data dropped; "data:" alone is an empty event
  REQUIRE(got == std::vector<std::string>{""});
  p.feed("data: {\"half\":", cb);
  CHECK(p.has_partial_event());
  CHECK_FALSE(p.done());
}

TEST_CASE("sse: an event larger than the limit is an error", "[load]") {
  SseParser p(16);
  bool ok = p.feed("data: 0123456789abcdefghij", [](std::string_view) {});
  CHECK_FALSE(ok);
  CHECK(p.overflowed());
}
