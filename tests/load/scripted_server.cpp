#include "load/scripted_server.h"

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "load/clock.h"

namespace qg::test {

bool scripted_server_available() { return true; }

struct ScriptedServer::Impl {
  ServerScript script;
  httplib::Server server;
  std::thread thread;
  int port = 0;
  mutable std::mutex mu;
  std::vector<ServedRequest> served;
  std::atomic<std::size_t> arrivals{0};
  std::atomic<bool> stopping{false};
  std::mutex stop_mu;
  std::condition_variable stop_cv;

  // Sleeps until now_seconds() >= t; returns false when the server is stopping.
  bool sleep_until(double t) {
    while (true) {
      const double now = load::now_seconds();
      if (now >= t) return !stopping;
      if (stopping) return false;
      const double left = t - now;
      if (left > 0.02) {
        std::unique_lock<std::mutex> lock(stop_mu);
        stop_cv.wait_for(lock, std::chrono::duration<double>(std::min(left - 0.01, 0.1)));
      } else {
        std::this_thread::sleep_for(std::chrono::duration<double>(left));
      }
    }
  }

  void handle(const httplib::Request& req, httplib::Response& res) {
    const double received = load::now_seconds();
    const std::size_t arrival = arrivals.fetch_add(1);
    ServedRequest rec;
    rec.request_id = req.get_header_value("x-request-id");
    rec.path = req.path;
    rec.received = received;
    rec.fault = script.fault_plan.empty() ? ScriptFault::kNone : script.fault_plan[arrival % script.fault_plan.size()];
    const bool chat = req.path == "/v1/chat/completions";
    auto body = nlohmann::json::parse(req.body, nullptr, false);
    int n_out = script.default_output_tokens;
    std::string prompt;
    if (!body.is_discarded() && body.is_object()) {
      for (const char* k : {"max_tokens", "max_completion_tokens"})
        if (body.contains(k) && body[k].is_number_integer()) n_out = body[k].get<int>();
      if (body.contains("prompt") && body["prompt"].is_string()) prompt = body["prompt"].get<std::string>();
      if (body.contains("messages") && body["messages"].is_array() && !body["messages"].empty() &&
          body["messages"][0].contains("content") && body["messages"][0]["content"].is_string())
        prompt = body["messages"][0]["content"].get<std::string>();
    }
    int words = 0;
    bool in_word = false;
    for (char c : prompt) {
      const bool space = c == ' ' || c == '\n' || c == '\t';
      if (!space && !in_word) ++words;
      in_word = !space;
    }
    rec.prompt_tokens = words;
    rec.completion_tokens = n_out;

    const std::size_t slot = [&] {
      std::lock_guard<std::mutex> lock(mu);
      served.push_back(rec);
      return served.size() - 1;
    }();

    if (rec.fault == ScriptFault::kHttp500 || rec.fault == ScriptFault::kHttp429) {
      const int status = rec.fault == ScriptFault::kHttp500 ? 500 : 429;
      res.status = status;
      res.set_content(fmt::format(R"({{"error":{{"message":"scripted {}","type":"server_error","param":null,"code":{}}}}})", status, status),
                      "application/json");
      return;
    }

    const std::string id = "cmpl-" + std::to_string(arrival);
    const std::string model = script.model;
    res.set_chunked_content_provider("text/event-stream", [this, slot, chat, n_out, id, model, received,
                                                           fault = rec.fault](std::size_t, httplib::DataSink& sink) {
      auto record = [&](int tokens) {
        std::lock_guard<std::mutex> lock(mu);
        served[slot].event_times.push_back(load::now_seconds());
        served[slot].event_tokens.push_back(tokens);
      };
      auto write_event = [&](const std::string& data) {
        const std::string ev = "data: " + data + "\n\n";
        return sink.write(ev.data(), ev.size());
      };
      auto chunk = [&](const std::string& text) {
        if (chat)
          return fmt::format(R"({{"id":"{}","object":"chat.completion.chunk","created":1760000000,"model":"{}","choices":[{{"index":0,"delta":{{"content":{}}},"logprobs":null,"finish_reason":null}}]}})",
                             id, model, nlohmann::json(text).dump());
        return fmt::format(R"({{"id":"{}","object":"text_completion","created":1760000000,"model":"{}","choices":[{{"index":0,"text":{},"logprobs":null,"finish_reason":null}}]}})",
                           id, model, nlohmann::json(text).dump());
      };
      const int per = std::max(1, script.tokens_per_chunk);
      const int n_chunks = (n_out + per - 1) / per;
      int sent_tokens = 0;
      for (int c = 0; c < n_chunks; ++c) {
        if (!sleep_until(received + (script.ttft_ms + c * script.itl_ms) / 1e3)) return false;
        if (c == script.fault_after_chunks) {
          if (fault == ScriptFault::kResetMidStream) return false;  // httplib drops the connection
          if (fault == ScriptFault::kStall) {
            sleep_until(load::now_seconds() + script.stall_ms / 1e3);
            return false;
          }
          if (fault == ScriptFault::kErrorEvent) {
            write_event(R"({"error":{"message":"scripted error event","type":"server_error","param":null,"code":500}})");
            write_event("[DONE]");
            sink.done();
            return true;
          }
          if (fault == ScriptFault::kMalformedJson && !write_event(R"({"choices":[{"index":0,"text":"oops)")) return false;
        }
        if (chat && c == 0) {
          record(0);
          if (!write_event(fmt::format(R"({{"id":"{}","object":"chat.completion.chunk","created":1760000000,"model":"{}","choices":[{{"index":0,"delta":{{"role":"assistant","content":""}},"logprobs":null,"finish_reason":null}}]}})",
                                       id, model)))
            return false;
        }
        const int k = std::min(per, n_out - sent_tokens);
        std::string text;
        for (int t = 0; t < k; ++t) text += " tok";
        sent_tokens += k;
        record(k);
        if (!write_event(chunk(text))) return false;
      }
      int prompt_tokens = 0;
      {
        std::lock_guard<std::mutex> lock(mu);
        prompt_tokens = served[slot].prompt_tokens;
      }
      write_event(fmt::format(R"({{"id":"{}","object":"{}","created":1760000000,"model":"{}","choices":[],"usage":{{"prompt_tokens":{},"total_tokens":{},"completion_tokens":{}}}}})",
                              id, chat ? "chat.completion.chunk" : "text_completion", model, prompt_tokens,
                              prompt_tokens + n_out, n_out));
      if (fault != ScriptFault::kNoDone) write_event("[DONE]");
      sink.done();
      return true;
    });
  }
};

ScriptedServer::ScriptedServer(ServerScript script) : impl_(std::make_unique<Impl>()) {
  impl_->script = std::move(script);
  auto& svr = impl_->server;
  const int threads = impl_->script.threads;
  svr.new_task_queue = [threads] { return new httplib::ThreadPool(static_cast<std::size_t>(threads)); };
  svr.set_tcp_nodelay(true);
  svr.set_keep_alive_max_count(1000000);
  svr.set_keep_alive_timeout(30);
  Impl* impl = impl_.get();
  svr.Post("/v1/completions", [impl](const httplib::Request& q, httplib::Response& r) { impl->handle(q, r); });
  svr.Post("/v1/chat/completions", [impl](const httplib::Request& q, httplib::Response& r) { impl->handle(q, r); });
  svr.Get("/v1/models", [impl](const httplib::Request&, httplib::Response& r) {
    r.set_content(fmt::format(R"({{"object":"list","data":[{{"id":"{}","object":"model","owned_by":"scripted"}}]}})", impl->script.model),
                  "application/json");
  });
  svr.Get("/metrics", [impl](const httplib::Request&, httplib::Response& r) {
    // vLLM-shaped: a KV gauge that grows with arrivals (capped at 1) and a prompt-token counter.
    const double arrivals = static_cast<double>(impl->arrivals.load());
    r.set_content(fmt::format("# HELP vllm:kv_cache_usage_perc KV-cache usage.\n# TYPE vllm:kv_cache_usage_perc gauge\n"
                              "vllm:kv_cache_usage_perc{{engine=\"0\",model_name=\"{}\"}} {}\n"
                              "vllm:prompt_tokens_total{{engine=\"0\",model_name=\"m\"}} {}\n",
                              impl->script.model, std::min(1.0, arrivals / 1000.0), arrivals * 6),
                  "text/plain; version=0.0.4");
  });
  impl_->port = svr.bind_to_any_port("127.0.0.1");
  if (impl_->port <= 0) throw std::runtime_error("scripted server: cannot bind 127.0.0.1");
  impl_->thread = std::thread([impl] { impl->server.listen_after_bind(); });
}

ScriptedServer::~ScriptedServer() { stop(); }

void ScriptedServer::stop() {
  if (!impl_ || !impl_->thread.joinable()) return;
  impl_->stopping = true;
  impl_->stop_cv.notify_all();
  impl_->server.stop();
  impl_->thread.join();
}

int ScriptedServer::port() const { return impl_->port; }
std::string ScriptedServer::base_url() const { return fmt::format("http://127.0.0.1:{}", impl_->port); }
std::vector<ServedRequest> ScriptedServer::served() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->served;
}

}  // namespace qg::test
