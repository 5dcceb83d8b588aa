#include "load/http_version.h"

#include <curl/curl.h>
#include <fmt/format.h>

#include <algorithm>
#include <cctype>

#include "common/error.h"

namespace qg::load {

HttpVersion parse_http_version(std::string_view s) {
  if (s == "auto") return HttpVersion::kAuto;
  if (s == "1.1") return HttpVersion::kHttp1_1;
  if (s == "2") return HttpVersion::kHttp2;
  throw Error(fmt::format("--http expects auto, 1.1 or 2, got '{}'", s));
}

const char* http_version_name(HttpVersion v) {
  switch (v) {
    case HttpVersion::kAuto: return "auto";
    case HttpVersion::kHttp1_1: return "1.1";
    case HttpVersion::kHttp2: return "2";
  }
  return "auto";
}

bool is_https_url(std::string_view url) {
  constexpr std::string_view kScheme = "https://";
  return url.size() >= kScheme.size() &&
         std::equal(kScheme.begin(), kScheme.end(), url.begin(),
                    [](char a, char b) { return a == std::tolower(static_cast<unsigned char>(b)); });
}

long curl_http_version_option(HttpVersion v, bool https) {
  switch (v) {
    case HttpVersion::kAuto: return CURL_HTTP_VERSION_2TLS;
    case HttpVersion::kHttp1_1: return CURL_HTTP_VERSION_1_1;
    case HttpVersion::kHttp2:
      // CURL_HTTP_VERSION_2_0 on plain http would send an `Upgrade: h2c` request, which servers refuse or ignore
      // for a POST with a body; prior knowledge starts h2 at once. Over TLS, ALPN decides either way.
      return https ? CURL_HTTP_VERSION_2_0 : CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE;
  }
  return CURL_HTTP_VERSION_2TLS;
}

bool may_multiplex(HttpVersion v, bool https) {
  switch (v) {
    case HttpVersion::kAuto: return https;
    case HttpVersion::kHttp1_1: return false;
    case HttpVersion::kHttp2: return true;
  }
  return false;
}

std::string negotiated_version_name(long curlinfo_http_version) {
  switch (curlinfo_http_version) {
    case CURL_HTTP_VERSION_1_0: return "1.0";
    case CURL_HTTP_VERSION_1_1: return "1.1";
    case CURL_HTTP_VERSION_2_0: return "2";
    case CURL_HTTP_VERSION_3: return "3";
    case 0: return "";
  }
  return fmt::format("unknown({})", curlinfo_http_version);
}

}  // namespace qg::load
