#include "load/sse_parser.h"

namespace qg::load {

bool SseParser::feed(std::string_view bytes, const EventFn& on_event) {
  if (overflow_) return false;
  std::size_t i = 0;
  const std::size_t n = bytes.size();
  while (i < n && !done_) {
    if (last_was_cr_) {
      last_was_cr_ = false;
      if (bytes[i] == '\n') {
        ++i;
        continue;
      }
    }
    // Copy the run of ordinary bytes up to the next line end in one go.
    std::size_t j = i;
    while (j < n && bytes[j] != '\n' && bytes[j] != '\r') ++j;
    line_.append(bytes.data() + i, j - i);
    if (line_.size() + data_.size() > max_event_bytes_) {
      overflow_ = true;
      return false;
    }
    if (j == n) break;
    last_was_cr_ = bytes[j] == '\r';
    i = j + 1;
    end_line(on_event);
  }
  return !overflow_;
}

void SseParser::end_line(const EventFn& on_event) {
  if (line_.empty()) {  // blank line: dispatch
    if (has_data_) {
      ++events_;
      if (data_ == "[DONE]") {
        done_ = true;
      } else {
        on_event(data_);
      }
    }
    data_.clear();
    has_data_ = false;
    return;
  }
  if (line_[0] == ':') {
    ++comments_;
    line_.clear();
    return;
  }
  std::string_view line(line_);
  const std::size_t colon = line.find(':');
  std::string_view field = line.substr(0, colon);
  std::string_view value;
  if (colon != std::string_view::npos) {
    value = line.substr(colon + 1);
    if (!value.empty() && value[0] == ' ') value.remove_prefix(1);
  }
  if (field == "data") {
    if (has_data_) data_ += '\n';
    data_.append(value);
    has_data_ = true;
  }
  // event:, id:, retry: and unknown fields are ignored.
  line_.clear();
}

}  // namespace qg::load
