// --http flag -> libcurl option, the negotiated version's name, and the per-level version counts and table line.
// The wire itself (h2 by ALPN, h2c prior knowledge, multiplexing) is checked against a real HTTP/2 server in
// tests/load/bench_cli_test.sh (hypercorn); here the mapping, which decides what curl offers.
#include <curl/curl.h>

#include <string>
#include <vector>

#include "catch.h"
#include "common/error.h"
#include "load/bench_metrics.h"
#include "load/bench_report.h"
#include "load/http_version.h"

using namespace qg::load;

TEST_CASE("http version: --http spellings, and anything else refused", "[load]") {
  CHECK(parse_http_version("auto") == HttpVersion::kAuto);
  CHECK(parse_http_version("1.1") == HttpVersion::kHttp1_1);
  CHECK(parse_http_version("2") == HttpVersion::kHttp2);
  for (const char* bad : {"", "1", "2.0", "h2", "HTTP/2", "3", "AUTO"}) {
    INFO(bad);
    CHECK_THROWS_AS(parse_http_version(bad), qg::Error);
  }
  for (auto v : {HttpVersion::kAuto, HttpVersion::kHttp1_1, HttpVersion::kHttp2})
    CHECK(parse_http_version(http_version_name(v)) == v);  // the name round-trips (provenance prints it)
}

TEST_CASE("http version: what curl is asked for, by flag and scheme", "[load]") {
  CHECK(is_https_url("https://127.0.0.1:8443"));
  CHECK(is_https_url("HTTPS://host"));
  CHECK_FALSE(is_https_url("http://127.0.0.1:8000"));
  CHECK_FALSE(is_https_url("https:/x"));
  CHECK_FALSE(is_https_url(""));
  // auto: ALPN decides over TLS; plain http stays HTTP/1.1 (2TLS never upgrades cleartext).
  CHECK(curl_http_version_option(HttpVersion::kAuto, true) == CURL_HTTP_VERSION_2TLS);
  CHECK(curl_http_version_option(HttpVersion::kAuto, false) == CURL_HTTP_VERSION_2TLS);
  CHECK(curl_http_version_option(HttpVersion::kHttp1_1, true) == CURL_HTTP_VERSION_1_1);
  CHECK(curl_http_version_option(HttpVersion::kHttp1_1, false) == CURL_HTTP_VERSION_1_1);
  // 2 on cleartext: prior knowledge (no Upgrade round trip); over TLS: h2 by ALPN.
  CHECK(curl_http_version_option(HttpVersion::kHttp2, false) == CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE);
  CHECK(curl_http_version_option(HttpVersion::kHttp2, true) == CURL_HTTP_VERSION_2_0);
  // Waiting to multiplex only where h2 can happen: a forced HTTP/1.1 or cleartext auto opens connections at once.
  CHECK(may_multiplex(HttpVersion::kAuto, true));
  CHECK_FALSE(may_multiplex(HttpVersion::kAuto, false));
  CHECK_FALSE(may_multiplex(HttpVersion::kHttp1_1, true));
  CHECK(may_multiplex(HttpVersion::kHttp2, false));
  CHECK(may_multiplex(HttpVersion::kHttp2, true));
}

TEST_CASE("http version: negotiated names and counts per level in the JSON and the table", "[load]") {
  CHECK(negotiated_version_name(CURL_HTTP_VERSION_1_0) == "1.0");
  CHECK(negotiated_version_name(CURL_HTTP_VERSION_1_1) == "1.1");
  CHECK(negotiated_version_name(CURL_HTTP_VERSION_2_0) == "2");
  CHECK(negotiated_version_name(CURL_HTTP_VERSION_3) == "3");
  CHECK(negotiated_version_name(0).empty());

  LoadRun run;
  auto add = [&](const char* version, bool ok) {
    RequestRecord r;
    r.http_version = version;
    r.start = 0;
    r.end = 0.1;
    r.events = {{0.01, 4, -1}, {0.02, 4, -1}};
    r.saw_done = true;
    r.http_status = ok ? 200 : 500;
    if (!ok) r.fault = FaultKind::kHttp5xx;
    run.records.push_back(r);
  };
  for (int i = 0; i < 5; ++i) add("2", true);
  add("2", false);    // a failed request still used h2: counted
  add("1.1", true);
  add("", false);     // no response (connect failure): no version, not counted
  run.begin = 0;
  run.finish = 1;
  run.connections_opened = 2;
  const auto counts = count_http_versions(run.records);
  CHECK(counts.size() == 2);
  CHECK(counts.at("2") == 6);
  CHECK(counts.at("1.1") == 1);

  LoadPlan plan;
  plan.max_concurrency = 8;
  const auto m = compute_level_metrics(run, plan, {50, 99}, {});
  CHECK(m.http_versions == counts);
  CHECK(m.connections_opened == 2);
  const auto j = level_json(m);
  CHECK(j["quantgate"]["http_versions"]["2"] == 6);
  CHECK(j["quantgate"]["http_versions"]["1.1"] == 1);
  CHECK(j["quantgate"]["http_versions"].size() == 2);
  CHECK(j["quantgate"]["connections_opened"] == 2);
  const std::string table = levels_table({m});
  INFO(table);
  CHECK(table.find("concurrency 8: HTTP/1.1 x1, HTTP/2 x6; 2 connections opened\n") != std::string::npos);

  LevelMetrics none;
  none.max_concurrency = 1;
  none.connections_opened = 1;
  CHECK(levels_table({none}).find("concurrency 1: no response; 1 connection opened\n") != std::string::npos);
}
