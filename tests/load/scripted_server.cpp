#include "load/scripted_server.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <optional>
#include <queue>
#include <stdexcept>
#include <thread>
#include <unordered_map>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "load/clock.h"
#include "load/http_wire.h"

namespace qg::test {

namespace {

[[noreturn]] void sys_fail(const char* what) {
  throw std::runtime_error(fmt::format("scripted server: {} failed: {}", what, std::strerror(errno)));
}

// What every loop shares: the script, the arrival counter (fault plan index) and the record of requests.
struct Shared {
  ServerScript script;
  std::atomic<std::size_t> arrivals{0};
  std::mutex mu;
  std::vector<ServedRequest> served;
};

int count_words(const std::string& s) {
  int words = 0;
  bool in_word = false;
  for (char c : s) {
    const bool space = c == ' ' || c == '\n' || c == '\t';
    if (!space && !in_word) ++words;
    in_word = !space;
  }
  return words;
}

// One streaming response in progress on a connection.
struct Stream {
  std::size_t slot = 0;  // index into Shared::served
  bool chat = false;
  int n_out = 0;
  int n_chunks = 0;
  int next_chunk = 0;
  int sent_tokens = 0;
  ScriptFault fault = ScriptFault::kNone;
  double received = 0;
  std::string id;
  bool stalled = false;  // kStall reached: the next timer closes the connection
};

struct Conn {
  int fd = -1;
  std::uint64_t serial = 0;  // timers carry it, so a timer of a closed (and reused) fd is ignored
  std::string in;
  std::string out;
  std::size_t out_off = 0;
  bool epollout = false;
  bool close_after_flush = false;
  bool keep_alive = true;
  std::optional<Stream> stream;
};

struct Timer {
  double due;
  int fd;
  std::uint64_t serial;
  bool operator>(const Timer& o) const { return due > o.due; }
};

class EventLoop {
 public:
  EventLoop(Shared& shared, int listen_fd) : shared_(shared), script_(shared.script) {
    epfd_ = epoll_create1(EPOLL_CLOEXEC);
    timerfd_ = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    stopfd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (epfd_ < 0 || timerfd_ < 0 || stopfd_ < 0) sys_fail("epoll/timerfd/eventfd");
    listen_fd_ = listen_fd;
    add(listen_fd_, EPOLLIN | EPOLLEXCLUSIVE);  // several loops: one of them wakes per connection
    add(timerfd_, EPOLLIN);
    add(stopfd_, EPOLLIN);
  }
  ~EventLoop() {
    for (auto& [fd, c] : conns_) ::close(fd);
    ::close(epfd_);
    ::close(timerfd_);
    ::close(stopfd_);
  }
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  void request_stop() {
    const std::uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(stopfd_, &one, sizeof(one));
  }

  void run() {
    epoll_event events[256];
    while (true) {
      const int n = epoll_wait(epfd_, events, 256, -1);
      if (n < 0) {
        if (errno == EINTR) continue;
        return;
      }
      for (int i = 0; i < n; ++i) {
        const int fd = events[i].data.fd;
        if (fd == stopfd_) return;
        if (fd == listen_fd_) accept_all();
        else if (fd == timerfd_) on_timer();
        else on_conn_event(fd, events[i].events);
      }
      arm_timer();
    }
  }

 private:
  void add(int fd, std::uint32_t ev) {
    epoll_event e{};
    e.events = ev;
    e.data.fd = fd;
    if (epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &e) != 0) sys_fail("epoll_ctl ADD");
  }
  void set_epollout(Conn& c, bool on) {
    if (c.epollout == on) return;
    epoll_event e{};
    e.events = EPOLLIN | (on ? EPOLLOUT : 0u);
    e.data.fd = c.fd;
    epoll_ctl(epfd_, EPOLL_CTL_MOD, c.fd, &e);
    c.epollout = on;
  }

  void accept_all() {
    while (true) {
      const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) return;  // EAGAIN (another loop took it, or none left), EMFILE: retried on the next wake-up
      const int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));  // one small write per SSE event
      auto c = std::make_unique<Conn>();
      c->fd = fd;
      c->serial = ++serial_;
      add(fd, EPOLLIN);
      conns_[fd] = std::move(c);
    }
  }

  void close_conn(int fd) {
    auto it = conns_.find(fd);
    if (it == conns_.end()) return;
    epoll_ctl(epfd_, EPOLL_CTL_DEL, fd, nullptr);
    ::close(fd);  // FIN; a response cut short is seen by the client as a connection closed mid-stream
    conns_.erase(it);
  }

  void on_conn_event(int fd, std::uint32_t ev) {
    auto it = conns_.find(fd);
    if (it == conns_.end()) return;
    Conn& c = *it->second;
    if (ev & (EPOLLERR)) return close_conn(fd);
    if (ev & EPOLLOUT) {
      if (!flush(c)) return;
    }
    if (ev & (EPOLLIN | EPOLLHUP)) {
      char buf[64 * 1024];
      while (true) {
        const ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
        if (n > 0) {
          c.in.append(buf, static_cast<std::size_t>(n));
          continue;
        }
        if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) return close_conn(fd);  // peer gone
        if (errno == EINTR) continue;
        break;
      }
      if (!c.stream) serve_requests(c);
    }
  }

  // Sends what is queued; false when the connection was closed (error, or close_after_flush done).
  bool flush(Conn& c) {
    while (c.out_off < c.out.size()) {
      const ssize_t n = ::send(c.fd, c.out.data() + c.out_off, c.out.size() - c.out_off, MSG_NOSIGNAL);
      if (n > 0) {
        c.out_off += static_cast<std::size_t>(n);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        set_epollout(c, true);
        return true;
      }
      close_conn(c.fd);
      return false;
    }
    c.out.clear();
    c.out_off = 0;
    set_epollout(c, false);
    if (c.close_after_flush) {
      close_conn(c.fd);
      return false;
    }
    return true;
  }

  // Handles the requests in the buffer one after the other (pipelining) until one opens a stream.
  void serve_requests(Conn& c) {
    while (!c.stream && !c.close_after_flush) {
      HttpRequest req;
      const ParseResult r = parse_http_request(c.in, &req);
      if (r.status == ParseStatus::kIncomplete) break;
      if (r.status == ParseStatus::kBad) {
        c.out += http_response(r.error_status, "text/plain", r.error + "\n", false);
        c.close_after_flush = true;
        break;
      }
      c.in.erase(0, r.consumed);
      c.keep_alive = req.keep_alive;
      handle(c, req);
      if (!c.stream && !c.keep_alive) c.close_after_flush = true;  // a stream closes when it ends (end_stream)
    }
    flush(c);
  }

  void handle(Conn& c, const HttpRequest& req) {
    if (req.method == "GET" && req.path == "/v1/models") {
      c.out += http_response(200, "application/json",
                             fmt::format(R"({{"object":"list","data":[{{"id":"{}","object":"model","owned_by":"scripted"}}]}})", script_.model),
                             c.keep_alive);
      return;
    }
    if (req.method == "GET" && req.path == "/metrics") {
      // vLLM-shaped: a KV gauge that grows with arrivals (capped at 1) and a prompt-token counter.
      const double arrivals = static_cast<double>(shared_.arrivals.load());
      c.out += http_response(200, "text/plain; version=0.0.4",
                             fmt::format("# HELP vllm:kv_cache_usage_perc KV-cache usage.\n# TYPE vllm:kv_cache_usage_perc gauge\n"
                                         "vllm:kv_cache_usage_perc{{engine=\"0\",model_name=\"{}\"}} {}\n"
                                         "vllm:prompt_tokens_total{{engine=\"0\",model_name=\"m\"}} {}\n",
                                         script_.model, std::min(1.0, arrivals / 1000.0), arrivals * 6),
                             c.keep_alive);
      return;
    }
    const bool chat = req.path == "/v1/chat/completions";
    if (req.method != "POST" || (!chat && req.path != "/v1/completions")) {
      c.out += http_response(404, "text/plain", "not found\n", c.keep_alive);
      return;
    }
    start_stream(c, req, chat);
  }

  void start_stream(Conn& c, const HttpRequest& req, bool chat) {
    const double received = load::now_seconds();
    const std::size_t arrival = shared_.arrivals.fetch_add(1);
    ServedRequest rec;
    rec.request_id = req.request_id;
    rec.path = req.path;
    rec.received = received;
    rec.fault = script_.fault_plan.empty() ? ScriptFault::kNone : script_.fault_plan[arrival % script_.fault_plan.size()];
    const auto body = nlohmann::json::parse(req.body, nullptr, false);
    int n_out = script_.default_output_tokens;
    std::string prompt;
    if (!body.is_discarded() && body.is_object()) {
      for (const char* k : {"max_tokens", "max_completion_tokens"})
        if (body.contains(k) && body[k].is_number_integer()) n_out = body[k].get<int>();
      if (body.contains("prompt") && body["prompt"].is_string()) prompt = body["prompt"].get<std::string>();
      if (body.contains("messages") && body["messages"].is_array() && !body["messages"].empty() &&
          body["messages"][0].contains("content") && body["messages"][0]["content"].is_string())
        prompt = body["messages"][0]["content"].get<std::string>();
    }
    rec.prompt_tokens = count_words(prompt);
    rec.completion_tokens = n_out;
    const ScriptFault fault = rec.fault;
    std::size_t slot = 0;
    {
      std::lock_guard<std::mutex> lock(shared_.mu);
      shared_.served.push_back(std::move(rec));
      slot = shared_.served.size() - 1;
    }
    if (fault == ScriptFault::kHttp500 || fault == ScriptFault::kHttp429) {
      const int status = fault == ScriptFault::kHttp500 ? 500 : 429;
      c.out += http_response(status, "application/json",
                             fmt::format(R"({{"error":{{"message":"scripted {}","type":"server_error","param":null,"code":{}}}}})", status, status),
                             c.keep_alive);
      return;
    }
    c.out += sse_response_head(c.keep_alive);  // headers at once, as a server does before the first token
    Stream s;
    s.slot = slot;
    s.chat = chat;
    s.n_out = std::max(0, n_out);
    const int per = std::max(1, script_.tokens_per_chunk);
    s.n_chunks = (s.n_out + per - 1) / per;
    s.fault = fault;
    s.received = received;
    s.id = "cmpl-" + std::to_string(arrival);
    c.stream = std::move(s);
    if (c.stream->n_chunks == 0) finish_stream(c);
    else schedule(c, received + script_.ttft_ms / 1e3);
  }

  void schedule(const Conn& c, double due) { timers_.push(Timer{due, c.fd, c.serial}); }

  void arm_timer() {
    if (timers_.empty() || timers_.top().due == armed_) return;
    armed_ = timers_.top().due;
    itimerspec spec{};
    const double due = std::max(armed_, 1e-9);  // 0 would disarm the timerfd
    spec.it_value.tv_sec = static_cast<time_t>(std::floor(due));
    spec.it_value.tv_nsec = static_cast<long>((due - std::floor(due)) * 1e9);
    timerfd_settime(timerfd_, TFD_TIMER_ABSTIME, &spec, nullptr);
  }

  void on_timer() {
    std::uint64_t expirations = 0;
    [[maybe_unused]] auto n = ::read(timerfd_, &expirations, sizeof(expirations));
    armed_ = -1;
    const double now = load::now_seconds();
    while (!timers_.empty() && timers_.top().due <= now) {
      const Timer t = timers_.top();
      timers_.pop();
      auto it = conns_.find(t.fd);
      if (it == conns_.end() || it->second->serial != t.serial || !it->second->stream) continue;
      advance(*it->second);
    }
  }

  void record(const Stream& s, int tokens) {
    const double t = load::now_seconds();
    std::lock_guard<std::mutex> lock(shared_.mu);
    shared_.served[s.slot].event_times.push_back(t);
    shared_.served[s.slot].event_tokens.push_back(tokens);
  }

  std::string content_chunk(const Stream& s, const std::string& text) const {
    if (s.chat)
      return fmt::format(R"({{"id":"{}","object":"chat.completion.chunk","created":1760000000,"model":"{}","choices":[{{"index":0,"delta":{{"content":{}}},"logprobs":null,"finish_reason":null}}]}})",
                         s.id, script_.model, nlohmann::json(text).dump());
    return fmt::format(R"({{"id":"{}","object":"text_completion","created":1760000000,"model":"{}","choices":[{{"index":0,"text":{},"logprobs":null,"finish_reason":null}}]}})",
                       s.id, script_.model, nlohmann::json(text).dump());
  }

  // The timer of the stream's next chunk fired: write it (or act out the fault due there).
  void advance(Conn& c) {
    Stream& s = *c.stream;
    if (s.stalled) return close_conn(c.fd);  // the stall is over: the connection closes
    const int chunk = s.next_chunk;
    if (chunk == script_.fault_after_chunks) {
      switch (s.fault) {
        case ScriptFault::kResetMidStream:
          if (flush(c)) close_conn(c.fd);
          return;
        case ScriptFault::kStall:
          s.stalled = true;
          schedule(c, load::now_seconds() + script_.stall_ms / 1e3);
          return;
        case ScriptFault::kErrorEvent:
          c.out += sse_chunk(R"({"error":{"message":"scripted error event","type":"server_error","param":null,"code":500}})");
          c.out += sse_chunk("[DONE]");
          c.out += kLastChunk;
          end_stream(c);
          return send_and_continue(c);
        case ScriptFault::kMalformedJson:
          c.out += sse_chunk(R"({"choices":[{"index":0,"text":"oops)");
          break;
        default: break;
      }
    }
    if (s.chat && chunk == 0) {
      record(s, 0);
      c.out += sse_chunk(fmt::format(R"({{"id":"{}","object":"chat.completion.chunk","created":1760000000,"model":"{}","choices":[{{"index":0,"delta":{{"role":"assistant","content":""}},"logprobs":null,"finish_reason":null}}]}})",
                                     s.id, script_.model));
    }
    const int k = std::min(std::max(1, script_.tokens_per_chunk), s.n_out - s.sent_tokens);
    std::string text;
    for (int t = 0; t < k; ++t) text += " tok";
    s.sent_tokens += k;
    record(s, k);
    c.out += sse_chunk(content_chunk(s, text));
    s.next_chunk += 1;
    if (s.next_chunk == s.n_chunks) {
      finish_stream(c);
      return send_and_continue(c);
    }
    // Absolute times from the arrival: no drift however late a wake-up was.
    schedule(c, s.received + (script_.ttft_ms + s.next_chunk * script_.itl_ms) / 1e3);
    flush(c);
  }

  // Usage chunk, [DONE] (unless kNoDone) and the end of the chunked body.
  void finish_stream(Conn& c) {
    const Stream& s = *c.stream;
    int prompt_tokens = 0;
    {
      std::lock_guard<std::mutex> lock(shared_.mu);
      prompt_tokens = shared_.served[s.slot].prompt_tokens;
    }
    c.out += sse_chunk(fmt::format(R"({{"id":"{}","object":"{}","created":1760000000,"model":"{}","choices":[],"usage":{{"prompt_tokens":{},"total_tokens":{},"completion_tokens":{}}}}})",
                                   s.id, s.chat ? "chat.completion.chunk" : "text_completion", script_.model, prompt_tokens,
                                   prompt_tokens + s.n_out, s.n_out));
    if (s.fault != ScriptFault::kNoDone) c.out += sse_chunk("[DONE]");
    c.out += kLastChunk;
    end_stream(c);
  }

  // The response is complete (bytes queued, not yet sent); the caller flushes.
  void end_stream(Conn& c) {
    c.stream.reset();
    if (!c.keep_alive) c.close_after_flush = true;
  }

  // After a timer wrote into the connection: send, then serve the next pipelined request, if any.
  void send_and_continue(Conn& c) {
    if (!flush(c)) return;
    if (!c.stream && !c.in.empty()) serve_requests(c);
  }

  Shared& shared_;
  const ServerScript& script_;
  int epfd_ = -1, timerfd_ = -1, stopfd_ = -1, listen_fd_ = -1;
  std::unordered_map<int, std::unique_ptr<Conn>> conns_;
  std::priority_queue<Timer, std::vector<Timer>, std::greater<Timer>> timers_;
  double armed_ = -1;
  std::uint64_t serial_ = 0;
};

}  // namespace

struct ScriptedServer::Impl {
  Shared shared;
  int listen_fd = -1;
  int port = 0;
  std::vector<std::unique_ptr<EventLoop>> loops;
  std::vector<std::thread> threads;
};

ScriptedServer::ScriptedServer(ServerScript script) : impl_(std::make_unique<Impl>()) {
  impl_->shared.script = std::move(script);
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) sys_fail("socket");
  impl_->listen_fd = fd;
  const int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    sys_fail("bind 127.0.0.1");
  }
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  impl_->port = ntohs(addr.sin_port);
  // The backlog (clamped by net.core.somaxconn) absorbs a client opening thousands of connections at once.
  if (::listen(fd, 65535) != 0) {
    ::close(fd);
    sys_fail("listen");
  }
  const int n_loops = std::max(1, impl_->shared.script.threads);
  for (int i = 0; i < n_loops; ++i) impl_->loops.push_back(std::make_unique<EventLoop>(impl_->shared, fd));
  for (auto& loop : impl_->loops) impl_->threads.emplace_back([l = loop.get()] { l->run(); });
}

ScriptedServer::~ScriptedServer() {
  stop();
  if (impl_->listen_fd >= 0) ::close(impl_->listen_fd);
}

void ScriptedServer::stop() {
  if (!impl_) return;
  for (auto& loop : impl_->loops) loop->request_stop();
  for (auto& t : impl_->threads)
    if (t.joinable()) t.join();
  impl_->threads.clear();
  impl_->loops.clear();  // closes every connection
}

int ScriptedServer::port() const { return impl_->port; }
std::string ScriptedServer::base_url() const { return fmt::format("http://127.0.0.1:{}", impl_->port); }
std::vector<ServedRequest> ScriptedServer::served() const {
  std::lock_guard<std::mutex> lock(impl_->shared.mu);
  return impl_->shared.served;
}

}  // namespace qg::test
