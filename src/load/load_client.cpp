#include "load/load_client.h"

#include <curl/curl.h>
#include <fmt/format.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <deque>
#include <memory>
#include <mutex>
#include <random>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "load/clock.h"
#include "load/sse_parser.h"

namespace qg::load {

const char* fault_name(FaultKind kind) {
  switch (kind) {
    case FaultKind::kNone: return "none";
    case FaultKind::kConnect: return "connect";
    case FaultKind::kHttp4xx: return "http_4xx";
    case FaultKind::kHttp5xx: return "http_5xx";
    case FaultKind::kTransfer: return "connection_reset";
    case FaultKind::kMalformedJson: return "malformed_json";
    case FaultKind::kErrorEvent: return "error_event";
    case FaultKind::kStall: return "stall_timeout";
    case FaultKind::kNoDone: return "closed_without_done";
    case FaultKind::kNoTokens: return "no_tokens";
    case FaultKind::kOther: return "other";
  }
  return "other";
}

namespace {

void global_init() {
  static std::once_flag once;  // curl_global_init is not thread-safe; once per process
  std::call_once(once, [] {
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) throw Error("libcurl global initialisation failed");
  });
}

struct CurlMultiDeleter {
  void operator()(CURLM* m) const { curl_multi_cleanup(m); }
};
struct FdCloser {
  int fd = -1;
  ~FdCloser() {
    if (fd >= 0) ::close(fd);
  }
};
struct SlistDeleter {
  void operator()(curl_slist* s) const { curl_slist_free_all(s); }
};

constexpr std::size_t kMaxErrorBody = 2048;

// One request in flight.
struct Transfer {
  RequestRecord rec;
  CURL* easy = nullptr;
  std::unique_ptr<curl_slist, SlistDeleter> headers;
  const std::string* body = nullptr;
  SseParser parser;
  double last_activity = 0;
  bool status_checked = false;
  bool error_status = false;
  bool keep_text = false;
  std::string error_body;
  char curl_error[CURL_ERROR_SIZE] = {};

  void set_fault(FaultKind kind, std::string message) {
    if (rec.fault != FaultKind::kNone) return;
    rec.fault = kind;
    rec.error = std::move(message);
  }

  void on_event(std::string_view data, double t) {
    StreamChunk c = parse_stream_chunk(data);
    if (!c.valid_json) {
      std::string excerpt(data.substr(0, 120));
      set_fault(FaultKind::kMalformedJson, fmt::format("malformed JSON in chunk ({}): {}", c.parse_error, excerpt));
      return;
    }
    if (c.is_error) set_fault(FaultKind::kErrorEvent, "server error event: " + c.error_message);
    if (c.usage) {
      if (c.usage->prompt_tokens >= 0) rec.usage.prompt_tokens = c.usage->prompt_tokens;
      if (c.usage->completion_tokens >= 0) rec.usage.completion_tokens = c.usage->completion_tokens;
    }
    if (!c.model.empty() && rec.model.empty()) rec.model = c.model;
    if (!c.system_fingerprint.empty()) rec.system_fingerprint = c.system_fingerprint;
    if (c.n_choices > 0) {
      TokenEvent e;
      e.t = t;
      e.text_bytes = static_cast<std::int32_t>(c.content.size() + c.reasoning.size());
      if (c.n_tokens_hint) e.tokens_hint = static_cast<std::int32_t>(*c.n_tokens_hint);
      rec.events.push_back(e);
      rec.text_bytes += e.text_bytes;
      if (keep_text) rec.generated_text += c.content;
    }
  }
};

size_t header_cb(char* ptr, size_t size, size_t nmemb, void* user) {
  auto* tr = static_cast<Transfer*>(user);
  const double t = now_seconds();
  if (tr->rec.first_byte < 0) tr->rec.first_byte = t;
  tr->last_activity = t;
  (void)ptr;
  return size * nmemb;
}

size_t write_cb(char* ptr, size_t size, size_t nmemb, void* user) {
  auto* tr = static_cast<Transfer*>(user);
  const double t = now_seconds();
  const size_t n = size * nmemb;
  tr->last_activity = t;
  if (!tr->status_checked) {
    tr->status_checked = true;
    long status = 0;
    curl_easy_getinfo(tr->easy, CURLINFO_RESPONSE_CODE, &status);
    tr->rec.http_status = status;
    tr->error_status = status != 200;
  }
  if (tr->error_status) {
    if (tr->error_body.size() < kMaxErrorBody) tr->error_body.append(ptr, std::min(n, kMaxErrorBody - tr->error_body.size()));
    return n;
  }
  if (tr->parser.done()) return n;  // bytes after [DONE] are ignored
  const bool ok = tr->parser.feed(std::string_view(ptr, n), [&](std::string_view data) { tr->on_event(data, t); });
  if (!ok) tr->set_fault(FaultKind::kMalformedJson, "SSE event larger than the parser's limit");
  if (tr->parser.done()) tr->rec.saw_done = true;
  return n;
}

std::string error_message_from_body(const std::string& body) {
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (!j.is_discarded() && j.is_object()) {
    if (j.contains("error") && j["error"].is_object() && j["error"].contains("message") && j["error"]["message"].is_string())
      return j["error"]["message"].get<std::string>();
    if (j.contains("message") && j["message"].is_string()) return j["message"].get<std::string>();
  }
  return body.substr(0, 300);
}

void classify_done(Transfer& tr, CURLcode result) {
  RequestRecord& r = tr.rec;
  if (r.http_status == 0) curl_easy_getinfo(tr.easy, CURLINFO_RESPONSE_CODE, &r.http_status);
  if (r.fault == FaultKind::kStall) return;
  const std::string curl_msg = tr.curl_error[0] ? std::string(tr.curl_error) : std::string(curl_easy_strerror(result));
  if (result == CURLE_COULDNT_CONNECT || result == CURLE_COULDNT_RESOLVE_HOST || result == CURLE_COULDNT_RESOLVE_PROXY ||
      result == CURLE_SSL_CONNECT_ERROR || result == CURLE_PEER_FAILED_VERIFICATION) {
    // Only a connect fault when nothing came back; a TLS error after headers is a transfer fault.
    if (r.first_byte < 0) {
      r.fault = FaultKind::kConnect;
      r.error = fmt::format("connect failed: {}", curl_msg);
      return;
    }
  }
  if (r.http_status >= 400 && r.http_status < 500) {
    tr.set_fault(FaultKind::kHttp4xx, fmt::format("HTTP {}: {}", r.http_status, error_message_from_body(tr.error_body)));
    return;
  }
  if (r.http_status != 200 && r.http_status != 0) {
    tr.set_fault(FaultKind::kHttp5xx, fmt::format("HTTP {}: {}", r.http_status, error_message_from_body(tr.error_body)));
    return;
  }
  if (result == CURLE_OPERATION_TIMEDOUT) {
    tr.set_fault(FaultKind::kStall, fmt::format("timed out: {}", curl_msg));
    return;
  }
  if (result != CURLE_OK) {
    if (r.first_byte < 0 && result == CURLE_COULDNT_CONNECT) tr.set_fault(FaultKind::kConnect, curl_msg);
    tr.set_fault(FaultKind::kTransfer, fmt::format("transfer failed mid-stream: {}", curl_msg));
    return;
  }
  if (r.fault != FaultKind::kNone) return;  // malformed JSON / error event seen in the stream
  if (!r.saw_done) {
    tr.set_fault(FaultKind::kNoDone, tr.parser.has_partial_event() ? "stream ended mid-event without [DONE]"
                                                                    : "stream ended without [DONE]");
    return;
  }
  if (r.events.empty()) tr.set_fault(FaultKind::kNoTokens, "HTTP 200 but no chunk with choices");
}

class Loop {
 public:
  Loop(const ClientOptions& client, const LoadPlan& plan) : client_(client), plan_(plan) {
    global_init();
    multi_.reset(curl_multi_init());
    if (!multi_) throw Error("curl_multi_init failed");
    curl_multi_setopt(multi_.get(), CURLMOPT_MAXCONNECTS, static_cast<long>(plan.max_concurrency + 16));
    curl_multi_setopt(multi_.get(), CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX);
    // The socket interface: curl tells us which sockets to watch (epoll) and when its next timeout is due,
    // and each wake-up runs only the transfers whose sockets are ready. (curl_multi_poll + perform visits
    // every handle on every wake-up, with a poll() per handle: O(concurrency) per SSE event at 2048 streams.)
    epoll_.fd = epoll_create1(EPOLL_CLOEXEC);
    if (epoll_.fd < 0) throw Error(fmt::format("epoll_create1 failed: {}", std::strerror(errno)));
    curl_multi_setopt(multi_.get(), CURLMOPT_SOCKETFUNCTION, &Loop::socket_cb);
    curl_multi_setopt(multi_.get(), CURLMOPT_SOCKETDATA, this);
    curl_multi_setopt(multi_.get(), CURLMOPT_TIMERFUNCTION, &Loop::timer_cb);
    curl_multi_setopt(multi_.get(), CURLMOPT_TIMERDATA, this);
    url_ = client.base_url;
    while (!url_.empty() && url_.back() == '/') url_.pop_back();
    url_ += client.path;
    if (!client.api_key.empty()) auth_header_ = "Authorization: Bearer " + client.api_key;
    const bool https = is_https_url(url_);
    http_version_option_ = curl_http_version_option(client.http, https);
    pipewait_ = may_multiplex(client.http, https);
    // Streams per h2 connection: curl's default (100) is also what common servers advertise (hypercorn, nginx
    // 128, Go 250); the lower of ours and the server's SETTINGS_MAX_CONCURRENT_STREAMS applies, and past it
    // curl opens another connection (no per-host connection cap is set), so concurrency N always gives N
    // requests in flight. Stated rather than left implicit, since it decides how many connections a run uses.
    curl_multi_setopt(multi_.get(), CURLMOPT_MAX_CONCURRENT_STREAMS, 100L);
  }

  // Runs `count` requests (or until `duration_s`) starting with plan index `first_index`.
  std::vector<RequestRecord> phase(std::size_t count, bool warmup, double duration_s, double* begin, double* finish) {
    std::vector<RequestRecord> out;
    progress_counted_ = 0;
    progress_tokens_ = 0;
    const bool rate_mode = std::isfinite(plan_.request_rate) && plan_.request_rate > 0 && !warmup;
    std::mt19937_64 rng(plan_.seed ^ 0x9e3779b97f4a7c15ull);
    std::gamma_distribution<double> gamma(plan_.burstiness, 1.0 / (plan_.request_rate * plan_.burstiness));
    const double t0 = now_seconds();
    *begin = t0;
    double next_arrival = t0;
    std::size_t dispatched = 0;
    std::deque<double> queue;  // scheduled times of due requests waiting for a slot (rate mode)
    double last_progress = t0;
    std::size_t finished = 0, failed = 0;
    const bool unbounded = count == 0 && duration_s > 0;
    auto more_to_schedule = [&](double now) {
      if (duration_s > 0 && now - t0 >= duration_s) return false;
      return unbounded || dispatched + queue.size() < count;
    };

    while (true) {
      double now = now_seconds();
      // Arrivals that are due join the queue; dispatch while slots are free.
      if (rate_mode) {
        while (more_to_schedule(next_arrival) && next_arrival <= now) {
          queue.push_back(next_arrival);
          next_arrival += gamma(rng);
        }
      } else {
        while (more_to_schedule(now) && queue.size() + active_.size() < plan_.max_concurrency) queue.push_back(now);
      }
      while (!queue.empty() && active_.size() < plan_.max_concurrency) {
        start(next_index_++, warmup, queue.front());
        queue.pop_front();
        ++dispatched;
      }
      peak_ = std::max(peak_, active_.size());
      if (active_.empty() && queue.empty() && !(rate_mode && more_to_schedule(next_arrival))) break;

      // Wait for socket activity, curl's next timeout, the next arrival, or the stall check. `now` again:
      // start() above asked curl for an immediate timeout, which must not round up to a 1 ms wait.
      now = now_seconds();
      double wait = 0.05;
      if (rate_mode && more_to_schedule(next_arrival)) wait = std::min(wait, std::max(0.0, next_arrival - now));
      if (curl_deadline_ >= 0) wait = std::min(wait, std::max(0.0, curl_deadline_ - now));
      const int n_ready = epoll_wait(epoll_.fd, ready_.data(), static_cast<int>(ready_.size()),
                                     static_cast<int>(std::ceil(wait * 1000.0)));
      int running = 0;
      for (int i = 0; i < n_ready; ++i) {
        const std::uint32_t ev = ready_[static_cast<std::size_t>(i)].events;
        int mask = 0;
        if (ev & EPOLLIN) mask |= CURL_CSELECT_IN;
        if (ev & EPOLLOUT) mask |= CURL_CSELECT_OUT;
        if (ev & (EPOLLERR | EPOLLHUP)) mask |= CURL_CSELECT_ERR;
        curl_multi_socket_action(multi_.get(), ready_[static_cast<std::size_t>(i)].data.fd, mask, &running);
      }
      if (curl_deadline_ >= 0 && now_seconds() >= curl_deadline_) {
        curl_deadline_ = -1;  // the timer callback sets a new one if curl still needs it
        curl_multi_socket_action(multi_.get(), CURL_SOCKET_TIMEOUT, 0, &running);
      }
      ++iterations_;
      int left = 0;
      while (CURLMsg* msg = curl_multi_info_read(multi_.get(), &left)) {
        if (msg->msg != CURLMSG_DONE) continue;
        auto it = active_.find(msg->easy_handle);
        if (it == active_.end()) continue;
        Transfer& tr = *it->second;
        tr.rec.end = now_seconds();
        classify_done(tr, msg->data.result);
        long version = 0;
        curl_easy_getinfo(tr.easy, CURLINFO_HTTP_VERSION, &version);
        tr.rec.http_version = negotiated_version_name(version);
        if (!tr.rec.http_version.empty()) http_version_ = tr.rec.http_version;
        ++finished;
        if (!tr.rec.ok()) ++failed;
        retire(it, out);
      }
      // Stall check (every 10 ms at most: the timeout is in seconds): a transfer silent for longer than the
      // timeout is abandoned.
      now = now_seconds();
      for (auto it = active_.begin(); now - last_stall_check_ >= 0.01 && it != active_.end();) {
        Transfer& tr = *it->second;
        if (now - tr.last_activity > client_.timeout_s) {
          tr.rec.end = now;
          tr.set_fault(FaultKind::kStall, fmt::format("no data for {:.3g} s (--timeout)", client_.timeout_s));
          ++finished;
          ++failed;
          it = retire(it, out);
        } else {
          ++it;
        }
      }
      if (now - last_stall_check_ >= 0.01) last_stall_check_ = now;
      if (plan_.on_progress && now - last_progress >= plan_.progress_interval_s) {
        last_progress = now;
        plan_.on_progress(progress(warmup, finished, failed, now - t0, out));
      }
    }
    *finish = now_seconds();
    if (plan_.on_progress) {
      LoadProgress last = progress(warmup, finished, failed, *finish - t0, out);
      last.phase_done = true;
      plan_.on_progress(last);
    }
    std::sort(out.begin(), out.end(), [](const RequestRecord& a, const RequestRecord& b) { return a.start < b.start; });
    return out;
  }

  LoadProgress progress(bool warmup, std::size_t finished, std::size_t failed, double elapsed,
                        const std::vector<RequestRecord>& done) {
    LoadProgress p;
    p.warmup = warmup;
    p.finished = finished;
    p.failed = failed;
    p.in_flight = active_.size();
    p.elapsed_s = elapsed;
    auto content_chunks = [](const RequestRecord& r) {
      return static_cast<std::int64_t>(std::count_if(r.events.begin(), r.events.end(), [](const TokenEvent& e) { return e.text_bytes > 0; }));
    };
    // Finished requests are counted incrementally (the list only grows within a phase).
    for (; progress_counted_ < done.size(); ++progress_counted_) {
      const RequestRecord& r = done[progress_counted_];
      progress_tokens_ += r.usage.completion_tokens >= 0 ? r.usage.completion_tokens : content_chunks(r);
    }
    p.output_tokens = progress_tokens_;
    for (const auto& [easy, tr] : active_) p.output_tokens += content_chunks(tr->rec);
    return p;
  }

  std::size_t peak() const { return peak_; }
  std::uint64_t iterations() const { return iterations_; }
  const std::string& http_version() const { return http_version_; }
  std::size_t connections_opened() const { return connections_opened_; }

 private:
  using ActiveMap = std::unordered_map<CURL*, std::unique_ptr<Transfer>>;

  // curl: watch socket s for `what` (CURL_POLL_IN/OUT/INOUT) or stop watching it (CURL_POLL_REMOVE).
  static int socket_cb(CURL*, curl_socket_t s, int what, void* user, void*) {
    auto* self = static_cast<Loop*>(user);
    if (what == CURL_POLL_REMOVE) {
      epoll_ctl(self->epoll_.fd, EPOLL_CTL_DEL, s, nullptr);  // ENOENT/EBADF when already closed: harmless
      return 0;
    }
    epoll_event e{};
    e.data.fd = s;
    if (what == CURL_POLL_IN || what == CURL_POLL_INOUT) e.events |= EPOLLIN;
    if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT) e.events |= EPOLLOUT;
    if (epoll_ctl(self->epoll_.fd, EPOLL_CTL_MOD, s, &e) != 0 && errno == ENOENT)
      epoll_ctl(self->epoll_.fd, EPOLL_CTL_ADD, s, &e);
    return 0;
  }
  // curl: call socket_action(CURL_SOCKET_TIMEOUT) in timeout_ms (-1: no timeout needed).
  static int timer_cb(CURLM*, long timeout_ms, void* user) {
    auto* self = static_cast<Loop*>(user);
    self->curl_deadline_ = timeout_ms < 0 ? -1.0 : now_seconds() + static_cast<double>(timeout_ms) / 1e3;
    return 0;
  }

  void start(std::size_t seq, bool warmup, double scheduled) {
    auto tr = std::make_unique<Transfer>();
    const std::size_t body_index = seq % plan_.bodies.size();
    tr->rec.index = body_index;
    tr->rec.id = fmt::format("{}-{}", client_.request_id_prefix, seq);
    tr->rec.warmup = warmup;
    tr->rec.scheduled = scheduled;
    tr->rec.prompt_tokens_ours = body_index < plan_.prompt_tokens.size() ? plan_.prompt_tokens[body_index] : -1;
    tr->keep_text = client_.keep_text;
    tr->body = &plan_.bodies[body_index];
    CURL* e = curl_easy_init();
    if (!e) throw Error("curl_easy_init failed");
    tr->easy = e;
    curl_slist* h = nullptr;
    h = curl_slist_append(h, "Content-Type: application/json");
    h = curl_slist_append(h, "Accept: text/event-stream");
    h = curl_slist_append(h, "Expect:");  // no 100-continue round trip for large prompts
    h = curl_slist_append(h, ("x-request-id: " + tr->rec.id).c_str());
    if (!auth_header_.empty()) h = curl_slist_append(h, auth_header_.c_str());
    tr->headers.reset(h);
    curl_easy_setopt(e, CURLOPT_URL, url_.c_str());
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, tr->body->data());
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(tr->body->size()));
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, tr.get());
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, header_cb);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, tr.get());
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, tr->curl_error);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, http_version_option_);
    // Where h2 may be used, wait for a connection being set up rather than open one more: N concurrent
    // transfers then become N streams on one connection (up to its stream limit, then curl opens another).
    curl_easy_setopt(e, CURLOPT_PIPEWAIT, pipewait_ ? 1L : 0L);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(client_.connect_timeout_s * 1000));
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, client_.verify_tls ? 1L : 0L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, client_.verify_tls ? 2L : 0L);
    if (!client_.ca_file.empty()) curl_easy_setopt(e, CURLOPT_CAINFO, client_.ca_file.c_str());
    curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "identity");
    tr->rec.start = now_seconds();
    tr->last_activity = tr->rec.start;
    curl_multi_add_handle(multi_.get(), e);
    active_.emplace(e, std::move(tr));
  }

  ActiveMap::iterator retire(ActiveMap::iterator it, std::vector<RequestRecord>& out) {
    Transfer& tr = *it->second;
    // New connections this transfer made (0 when it reused a pooled connection or joined an h2 one as a
    // stream); read here so stalled transfers, abandoned before curl finished them, count too.
    curl_easy_getinfo(tr.easy, CURLINFO_NUM_CONNECTS, &tr.rec.new_connections);
    connections_opened_ += static_cast<std::size_t>(std::max(0L, tr.rec.new_connections));
    curl_multi_remove_handle(multi_.get(), tr.easy);
    curl_easy_cleanup(tr.easy);
    out.push_back(std::move(tr.rec));
    return active_.erase(it);
  }

  const ClientOptions& client_;
  const LoadPlan& plan_;
  FdCloser epoll_;  // declared before multi_: curl's cleanup calls socket_cb while the epoll fd is open
  std::unique_ptr<CURLM, CurlMultiDeleter> multi_;
  std::vector<epoll_event> ready_ = std::vector<epoll_event>(1024);
  double curl_deadline_ = -1;
  double last_stall_check_ = 0;
  std::size_t progress_counted_ = 0;  // records of this phase already summed into progress_tokens_
  std::int64_t progress_tokens_ = 0;
  std::string url_;
  std::string auth_header_;
  ActiveMap active_;
  std::size_t next_index_ = 0;
  std::size_t peak_ = 0;
  std::uint64_t iterations_ = 0;
  std::string http_version_;
  long http_version_option_ = CURL_HTTP_VERSION_2TLS;
  bool pipewait_ = true;
  std::size_t connections_opened_ = 0;
};

}  // namespace

LoadRun run_load(const ClientOptions& client, const LoadPlan& plan) {
  if (plan.bodies.empty()) throw Error("load plan has no request bodies");
  if (plan.max_concurrency == 0) throw Error("--max-concurrency must be at least 1");
  if (plan.num_requests == 0 && plan.duration_s <= 0) throw Error("load plan needs --num-prompts or --duration");
  Loop loop(client, plan);
  LoadRun run;
  double b = 0, f = 0;
  if (plan.warmup_requests > 0) run.warmup = loop.phase(plan.warmup_requests, true, 0, &b, &f);
  run.records = loop.phase(plan.num_requests, false, plan.duration_s, &run.begin, &run.finish);
  run.peak_in_flight = loop.peak();
  run.loop_iterations = loop.iterations();
  run.http_version = loop.http_version();
  run.connections_opened = loop.connections_opened();
  return run;
}

HttpResponse http_get(const ClientOptions& client, const std::string& path, double timeout_s) {
  global_init();
  HttpResponse r;
  CURL* e = curl_easy_init();
  if (!e) throw Error("curl_easy_init failed");
  std::string url = client.base_url;
  while (!url.empty() && url.back() == '/') url.pop_back();
  url += path;
  curl_slist* h = nullptr;
  std::string auth = "Authorization: Bearer " + client.api_key;
  if (!client.api_key.empty()) h = curl_slist_append(h, auth.c_str());
  char err[CURL_ERROR_SIZE] = {};
  curl_easy_setopt(e, CURLOPT_URL, url.c_str());
  if (h) curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout_s * 1000));
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, err);
  curl_easy_setopt(e, CURLOPT_HTTP_VERSION, curl_http_version_option(client.http, is_https_url(url)));
  curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, client.verify_tls ? 1L : 0L);
  curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, client.verify_tls ? 2L : 0L);
  if (!client.ca_file.empty()) curl_easy_setopt(e, CURLOPT_CAINFO, client.ca_file.c_str());
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, +[](char* p, size_t s, size_t n, void* u) {
    static_cast<std::string*>(u)->append(p, s * n);
    return s * n;
  });
  curl_easy_setopt(e, CURLOPT_WRITEDATA, &r.body);
  const CURLcode rc = curl_easy_perform(e);
  if (rc == CURLE_OK) curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &r.status);
  else r.error = err[0] ? err : curl_easy_strerror(rc);
  curl_slist_free_all(h);
  curl_easy_cleanup(e);
  return r;
}

}  // namespace qg::load
