// The epoll scripted server over raw sockets: keep-alive with pipelined requests, emission on the
// script's schedule, a request split across writes, discovery and error paths. (The load client tests
// exercise it through libcurl, faults and concurrency included.)
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>

#include "catch.h"
#include "load/clock.h"
#include "load/scripted_server.h"

using qg::test::ScriptedServer;
using qg::test::ServerScript;

namespace {

int connect_to(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
  timeval tv{5, 0};  // a hung server fails the test instead of hanging it
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  return fd;
}

void send_all(int fd, const std::string& s) {
  REQUIRE(::send(fd, s.data(), s.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(s.size()));
}

std::string read_to_eof(int fd) {
  std::string out;
  char buf[4096];
  while (true) {
    const ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  return out;
}

std::size_t count(const std::string& hay, const std::string& needle) {
  std::size_t n = 0;
  for (std::size_t p = hay.find(needle); p != std::string::npos; p = hay.find(needle, p + 1)) ++n;
  return n;
}

std::string post(const std::string& id, const std::string& body, bool close) {
  return "POST /v1/completions HTTP/1.1\r\nHost: x\r\nx-request-id: " + id + "\r\nContent-Type: application/json\r\n" +
         (close ? "Connection: close\r\n" : "") + "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

}  // namespace

TEST_CASE("scripted server: pipelined keep-alive requests stream one after the other on schedule", "[load]") {
  ServerScript script;
  script.ttft_ms = 10;
  script.itl_ms = 5;
  ScriptedServer server(script);
  const int fd = connect_to(server.port());
  const std::string body = R"({"prompt":"a b c","max_tokens":3,"stream":true})";
  send_all(fd, post("r1", body, false) + post("r2", body, true));  // both in one write
  const std::string resp = read_to_eof(fd);  // the second asks to close: EOF ends the read
  ::close(fd);
  CHECK(count(resp, "HTTP/1.1 200 OK\r\n") == 2);
  CHECK(count(resp, "Transfer-Encoding: chunked\r\n") == 2);
  CHECK(count(resp, "data: [DONE]\n\n\r\n") == 2);
  CHECK(count(resp, "\"text\":\" tok\"") == 6);
  CHECK(count(resp, "\"usage\":{\"prompt_tokens\":3,\"total_tokens\":6,\"completion_tokens\":3}") == 2);
  CHECK(resp.size() >= 5);
  CHECK(resp.substr(resp.size() - 5) == "0\r\n\r\n");
  const auto served = server.served();
  REQUIRE(served.size() == 2);
  CHECK(served[0].request_id == "r1");
  CHECK(served[1].request_id == "r2");
  for (const auto& s : served) {
    REQUIRE(s.event_times.size() == 3);
    CHECK(s.prompt_tokens == 3);
    // Each chunk is written at or after received + ttft + i*itl (timers never fire early) and, on an idle
    // machine, within ~0.1 ms of it; 50 ms only catches a schedule that is wrong, not a slow CI box.
    for (std::size_t i = 0; i < 3; ++i) {
      const double due = s.received + (10 + 5 * static_cast<double>(i)) / 1e3;
      CHECK(s.event_times[i] >= due);
      CHECK(s.event_times[i] < due + 0.050);
    }
  }
  // The second request is served only after the first stream ended (HTTP/1.1 responses are in order).
  CHECK(served[1].received >= served[0].event_times.back());
}

TEST_CASE("scripted server: a request split across writes, discovery, 404 and a malformed request", "[load]") {
  ServerScript script;
  script.ttft_ms = 1;
  script.itl_ms = 1;
  script.model = "m-x";
  ScriptedServer server(script);
  {
    const int fd = connect_to(server.port());
    const std::string req = post("split", R"({"prompt":"x","max_tokens":2})", true);
    send_all(fd, req.substr(0, 40));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    send_all(fd, req.substr(40));
    const std::string resp = read_to_eof(fd);
    ::close(fd);
    CHECK(count(resp, "data: [DONE]") == 1);
    CHECK(count(resp, "\"text\":\" tok\"") == 2);
  }
  {
    const int fd = connect_to(server.port());
    send_all(fd, "GET /v1/models HTTP/1.1\r\n\r\nGET /nope HTTP/1.1\r\nConnection: close\r\n\r\n");
    const std::string resp = read_to_eof(fd);
    ::close(fd);
    CHECK(resp.find("\"id\":\"m-x\"") != std::string::npos);
    CHECK(resp.find("HTTP/1.1 404 Not Found") != std::string::npos);
  }
  {
    const int fd = connect_to(server.port());
    send_all(fd, "NONSENSE\r\n\r\n");
    const std::string resp = read_to_eof(fd);  // answered, then closed
    ::close(fd);
    CHECK(resp.rfind("HTTP/1.1 400 Bad Request", 0) == 0);
  }
  CHECK(server.served().size() == 1);  // only the POST is a served stream
}
