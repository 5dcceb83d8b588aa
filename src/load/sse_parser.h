#pragma once
// qg::load::SseParser: incremental Server-Sent Events framing (WHATWG rules, as the OpenAI-compatible servers
// emit them). Bytes go in as they arrive from the socket, in any split; each complete event (its `data:` lines
// joined with '\n') comes out once its terminating blank line has arrived.
// Handles: events split across reads, several events per read, LF / CRLF / CR line ends (also a CRLF split
// between two reads), comment lines (":" keep-alive pings), event:/id:/retry: fields (ignored), one optional
// space after "data:", `data: [DONE]` (reported as done, nothing after it is parsed), events without data
// (dropped, as the spec says). A cap on the buffered line length guards against a peer that never sends a
// newline.
#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

namespace qg::load {

class SseParser {
 public:
  // Called once per complete event with its joined data. Not called for [DONE].
  using EventFn = std::function<void(std::string_view data)>;

  explicit SseParser(std::size_t max_event_bytes = 64u << 20) : max_event_bytes_(max_event_bytes) {}

  // Feeds bytes; calls `on_event` for every event completed by them. Returns false once the stream is
  // unusable (an event over max_event_bytes): the caller treats it as a protocol fault.
  bool feed(std::string_view bytes, const EventFn& on_event);

  bool done() const { return done_; }          // `data: [DONE]` seen
  bool overflowed() const { return overflow_; }
  std::size_t events() const { return events_; }
  std::size_t comments() const { return comments_; }  // ":" lines (keep-alive pings)
  // True when bytes of an unfinished event are buffered (a stream that ended here was cut mid-event).
  bool has_partial_event() const { return !line_.empty() || has_data_; }

 private:
  void end_line(const EventFn& on_event);

  std::size_t max_event_bytes_;
  std::string line_;  // the current, unterminated line
  std::string data_;  // data of the current event
  bool has_data_ = false;
  bool last_was_cr_ = false;  // a '\r' ended the previous line: a following '\n' is part of that line end
  bool done_ = false;
  bool overflow_ = false;
  std::size_t events_ = 0;
  std::size_t comments_ = 0;
};

}  // namespace qg::load
