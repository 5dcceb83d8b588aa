#include "report/card_fill.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <map>
#include <regex>

#include "common/error.h"
#include "model/kv_cache_size.h"
#include "report/card_markdown.h"
#include "report/format.h"

namespace qg::card {

namespace {

constexpr const char* kNotesMarker = "<!-- quantgate card: footnotes, generated; replaced on each run -->";
constexpr const char* kDash = "—";

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}
std::string alnum_lower(const std::string& s) {
  std::string out;
  for (char c : s)
    if (std::isalnum(static_cast<unsigned char>(c))) out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}
std::string strip_v(const std::string& s) { return !s.empty() && (s[0] == 'v' || s[0] == 'V') ? s.substr(1) : s; }

// The footnotes of one run: "—[^qgN]" cells, one label per distinct reason, in order of first use.
class Notes {
 public:
  std::string missing(const std::string& why) {
    auto it = std::find(reasons_.begin(), reasons_.end(), why);
    if (it == reasons_.end()) it = reasons_.insert(reasons_.end(), why);
    return fmt::format("{}[^qg{}]", kDash, it - reasons_.begin() + 1);
  }
  // Appended after a blank line at the end of the card (none when every value was measured).
  void append_to(Lines& l) const {
    if (reasons_.empty()) return;
    l.lines.emplace_back("");
    l.lines.emplace_back(kNotesMarker);
    for (std::size_t i = 0; i < reasons_.size(); ++i) l.lines.push_back(fmt::format("[^qg{}]: {}", i + 1, reasons_[i]));
    l.final_newline = true;
  }

 private:
  std::vector<std::string> reasons_;
};

// Removes the footnote block of an earlier run (the marker, the lines after it, and the blank line before it).
void strip_notes(Lines& l) {
  for (std::size_t i = 0; i < l.lines.size(); ++i)
    if (l.lines[i] == kNotesMarker) {
      std::size_t cut = i;
      if (cut > 0 && l.lines[cut - 1].empty()) --cut;
      l.lines.resize(cut);
      l.final_newline = true;
      return;
    }
}

std::string gb(std::uint64_t bytes) { return human_bytes(bytes); }

struct Weights {
  std::optional<std::uint64_t> bytes;
  std::string why;  // when not measured
};

Weights weights_of(const std::optional<ResultsFile>& inspect, const std::string& which) {
  if (!inspect)
    return {std::nullopt, fmt::format("not measured: no inspect result of the {} checkpoint among --results", which)};
  const auto& src = inspect->json["source"];
  if (!src.value("has_weights", false))
    return {std::nullopt, fmt::format("not measured: the {} inspect result ({}) read no weight files", which, inspect->path)};
  return {src["file_bytes"].get<std::uint64_t>(), ""};
}

// ---- At a Glance ----
void fill_glance(Lines& l, const CardSources& s, Notes& notes, std::vector<std::string>& warnings) {
  const auto sec = find_section(l, "At a Glance");
  const auto t = sec ? find_table(l, *sec) : std::nullopt;
  if (!t) return warnings.push_back("no \"## At a Glance\" table: Disk size not filled");
  const Weights w = weights_of(s.inspect_quant, "carded");
  for (std::size_t i = t->first + 2; i <= t->last; ++i) {
    auto cells = split_row(l.lines[i]);
    if (cells.size() < 2 || cells[0] != "Disk size") continue;
    cells[1] = w.bytes ? gb(*w.bytes) : notes.missing(w.why);
    l.lines[i] = render_row(cells);
  }
}

// ---- Memory Requirements ----
void fill_memory(Lines& l, const CardSources& s, Notes& notes, std::vector<std::string>& warnings) {
  const auto sec = find_section(l, "Memory Requirements");
  const auto t = sec ? find_table(l, *sec) : std::nullopt;
  if (!t) return warnings.push_back("no \"## Memory Requirements\" table: not filled");
  const auto header = split_row(l.lines[t->first]);
  std::map<std::size_t, Weights> columns;  // column -> its checkpoint's weights
  for (std::size_t c = 1; c < header.size(); ++c) {
    if (header[c] == "BF16") columns[c] = weights_of(s.inspect_bf16, "BF16 reference");
    else if (header[c].rfind("This Quant", 0) == 0) columns[c] = weights_of(s.inspect_quant, "carded");
  }
  static const std::regex kv_re(R"(KV cache @ (\S+) ctx \((fp8|bf16|fp16)\))");
  static const std::regex total_re(R"(Total @ (\S+) ctx)");
  // The KV row fixes the context and cache dtype the Total row adds.
  std::optional<std::uint64_t> kv_bytes;
  std::optional<std::int64_t> kv_tokens;
  std::string kv_why = "not computed: the table has no \"KV cache @ Nk ctx (fp8)\" row";
  for (std::size_t i = t->first + 2; i <= t->last; ++i) {
    const auto cells = split_row(l.lines[i]);
    std::smatch m;
    if (!cells.empty() && std::regex_search(cells[0], m, kv_re)) {
      const auto tokens = parse_ctx(m[1]);
      if (!tokens) {
        kv_why = fmt::format("not computed: context '{}' is not a token count like 32k", m[1].str());
      } else {
        kv_bytes = kv_cache_bytes(s.config.text, *tokens, m[2] == "fp8" ? 1 : 2);
        kv_tokens = tokens;
        kv_why.clear();
      }
    }
  }
  for (std::size_t i = t->first + 2; i <= t->last; ++i) {
    auto cells = split_row(l.lines[i]);
    if (cells.empty()) continue;
    std::smatch m;
    const bool weights_row = cells[0].rfind("Weights", 0) == 0;
    const bool kv_row = std::regex_search(cells[0], m, kv_re);
    const bool total_row = std::regex_search(cells[0], m, total_re);
    if (!weights_row && !kv_row && !total_row) continue;
    std::string total_why = kv_why;
    if (total_row && kv_bytes && parse_ctx(m[1]) != kv_tokens) {
      total_why = fmt::format("not computed: the Total row's context '{}' is not the KV cache row's", m[1].str());
    }
    const bool total_ok = kv_bytes && total_why.empty();
    for (const auto& [c, w] : columns) {
      if (c >= cells.size()) continue;
      if (weights_row) cells[c] = w.bytes ? gb(*w.bytes) : notes.missing(w.why);
      if (kv_row) cells[c] = kv_bytes ? gb(*kv_bytes) : notes.missing(kv_why);
      if (total_row)
        cells[c] = w.bytes && total_ok ? gb(*w.bytes + *kv_bytes) : notes.missing(!w.bytes ? w.why : total_why);
    }
    l.lines[i] = render_row(cells);
  }
}

// ---- Benchmarks ----
struct BenchRowKey {
  std::string engine, version, scheme, method;
  std::int64_t batch = 0, ctx = 0;
};

std::optional<BenchRowKey> parse_bench_row(const std::vector<std::string>& c, const std::map<std::string, std::size_t>& col) {
  BenchRowKey k;
  const std::string engine = c[col.at("Engine")];
  const auto sp = engine.find(' ');
  k.engine = alnum_lower(engine.substr(0, sp));
  k.version = sp == std::string::npos ? "" : strip_v(engine.substr(sp + 1));
  const std::string format = c[col.at("Format")];
  const auto fs = format.find(' ');
  k.scheme = format.substr(0, fs);
  k.method = fs == std::string::npos ? "" : format.substr(fs + 1);
  try {
    k.batch = std::stoll(c[col.at("Batch")]);
  } catch (...) {
    return std::nullopt;
  }
  const auto ctx = parse_ctx(c[col.at("ctx")]);
  if (!ctx) return std::nullopt;
  k.ctx = *ctx;
  return k;
}

bool bench_matches(const nlohmann::json& b, const BenchRowKey& k) {
  const auto& server = b["server"];
  const std::string engine = server.contains("engine") && server["engine"].is_string() ? server["engine"].get<std::string>() : "";
  if (alnum_lower(engine) != k.engine) return false;
  if (!k.version.empty()) {
    if (!server.contains("engine_version") || !server["engine_version"].is_string()) return false;
    if (strip_v(server["engine_version"].get<std::string>()) != k.version) return false;
  }
  const auto& q = b["served_checkpoint"]["quantization"];
  if (!q.contains("scheme") || !q["scheme"].is_string() || lower(q["scheme"].get<std::string>()) != lower(k.scheme)) return false;
  const std::string method = q.contains("method") && q["method"].is_string() ? q["method"].get<std::string>() : "";
  if (!k.method.empty() && lower(method) != lower(k.method)) return false;
  return b["workload"].value("input_len", std::int64_t{-1}) == k.ctx;
}

std::optional<double> number(const nlohmann::json& j, const char* key) {
  if (!j.contains(key) || !j[key].is_number()) return std::nullopt;
  return j[key].get<double>();
}

struct Hardware {
  std::string name, cuda, driver;
  std::uint64_t total_bytes = 0;
  std::string from;  // the results file
};

void fill_bench(Lines& l, const CardSources& s, Notes& notes, std::vector<std::string>& warnings) {
  const auto sec = find_section(l, "Benchmarks");
  const auto t = sec ? find_table(l, *sec) : std::nullopt;
  if (!t) return warnings.push_back("no \"## Benchmarks\" table: not filled");
  const auto header = split_row(l.lines[t->first]);
  std::map<std::string, std::size_t> col;
  for (std::size_t c = 0; c < header.size(); ++c) col[header[c]] = c;
  for (const char* need : {"Engine", "Format", "Batch", "ctx", "tok/s", "TTFT p50", "TTFT p99", "VRAM"})
    if (!col.count(need)) return warnings.push_back(fmt::format("Benchmarks table has no '{}' column: not filled", need));
  std::optional<Hardware> hw;
  for (std::size_t i = t->first + 2; i <= t->last; ++i) {
    auto cells = split_row(l.lines[i]);
    if (cells.size() != header.size()) continue;
    const auto key = parse_bench_row(cells, col);
    if (!key) continue;
    const std::string what = fmt::format("{}, {}, concurrency {}, input length {}", cells[col["Engine"]],
                                         cells[col["Format"]], key->batch, key->ctx);
    const ResultsFile* file = nullptr;
    const nlohmann::json* level = nullptr;
    for (const auto& b : s.bench) {
      if (!bench_matches(b.json, *key)) continue;
      for (const auto& lv : b.json["levels"]) {
        if (lv.value("max_concurrency", std::int64_t{-1}) != key->batch || lv.value("request_rate", nlohmann::json()) != "inf")
          continue;
        if (level)
          throw Error(fmt::format("two bench results measure the row '{}': {} and {}", what, file->path, b.path),
                      {.file = b.path});
        file = &b;
        level = &lv;
      }
    }
    if (!level) {
      const std::string why = fmt::format("not measured: no bench result among --results for {}", what);
      for (const char* c : {"tok/s", "TTFT p50", "TTFT p99", "VRAM"}) cells[col[c]] = notes.missing(why);
      l.lines[i] = render_row(cells);
      continue;
    }
    const auto& lv = *level;
    if (lv.value("completed", 0) == 0) {
      const std::string why = fmt::format("not measured: every request failed in {} for {}", file->path, what);
      for (const char* c : {"tok/s", "TTFT p50", "TTFT p99", "VRAM"}) cells[col[c]] = notes.missing(why);
      l.lines[i] = render_row(cells);
      continue;
    }
    auto put = [&](const char* column, const char* key, const char* fmt_spec, const char* unit) {
      const auto v = number(lv, key);
      cells[col[column]] = v ? fmt::format(fmt::runtime(fmt_spec), *v) + unit
                             : notes.missing(fmt::format("not measured: {} has no '{}' for {}", file->path, key, what));
    };
    put("tok/s", "output_throughput", "{:.1f}", "");
    put("TTFT p50", "median_ttft_ms", "{:.0f}", " ms");
    put("TTFT p99", "p99_ttft_ms", "{:.0f}", " ms");
    // VRAM: the serving process's peak where NVML reports it, else the GPU's peak used memory.
    const auto& vram = lv["quantgate"]["vram"];
    if (vram.value("measured", false) && !vram["gpus"].empty()) {
      const auto& g = vram["gpus"][0];
      const auto bytes = g["process_peak_bytes"].is_number() ? g["process_peak_bytes"].get<std::uint64_t>()
                                                              : g["peak_used_bytes"].get<std::uint64_t>();
      cells[col["VRAM"]] = gb(bytes);
      Hardware h{g.value("name", ""), "", vram.value("driver_version", ""), g.value("total_bytes", std::uint64_t{0}), file->path};
      const auto& pg = file->json["provenance"]["gpu"];
      if (pg.is_object() && pg["cuda_version"].is_string()) h.cuda = pg["cuda_version"].get<std::string>();
      if (hw && (hw->name != h.name || hw->driver != h.driver))
        throw Error(fmt::format("the Benchmarks rows come from different GPUs: {} ({}) and {} ({})", hw->name, hw->from,
                                h.name, h.from),
                    {.file = h.from, .hint = "one table, one machine: card the results of one host"});
      hw = h;
    } else {
      cells[col["VRAM"]] = notes.missing(fmt::format("not measured: {} ({})", vram.value("reason", "VRAM not sampled"), file->path));
    }
    l.lines[i] = render_row(cells);
  }
  if (!hw) return;
  for (std::size_t i = t->last + 1; i < l.lines.size() && l.lines[i].rfind("## ", 0) != 0; ++i)
    if (l.lines[i].rfind("Hardware:", 0) == 0) {
      // GPU memory in GiB, as GPUs are sold ("48 GB" on an A6000 means 48 GiB).
      l.lines[i] = fmt::format("Hardware: {} ({:.0f} GiB), CUDA {}, driver {}.", hw->name,
                               static_cast<double>(hw->total_bytes) / (1024.0 * 1024.0 * 1024.0),
                               hw->cuda.empty() ? std::string(kDash) : hw->cuda, hw->driver.empty() ? std::string(kDash) : hw->driver);
      return;
    }
}

// ---- Quality Targets ----
struct Target {
  std::string op;
  double value = 0;
  bool percent = false;
};
std::optional<Target> parse_target(const std::string& s) {
  static const std::regex re(R"(^\s*(<=|>=|<|>|≤|≥)\s*([0-9]*\.?[0-9]+)\s*(%?)\s*$)");
  std::smatch m;
  if (!std::regex_match(s, m, re)) return std::nullopt;
  Target t{m[1], std::stod(m[2]), m[3] == "%"};
  if (t.op == "≤") t.op = "<=";
  if (t.op == "≥") t.op = ">=";
  return t;
}
bool meets(double v, const Target& t) {
  const double target = t.percent ? t.value / 100 : t.value;
  if (t.op == "<") return v < target;
  if (t.op == "<=") return v <= target;
  if (t.op == ">") return v > target;
  return v >= target;
}

void fill_quality(Lines& l, const CardSources& s, Notes& notes, std::vector<std::string>& warnings) {
  const auto sec = find_section(l, "Quality Targets");
  const auto t = sec ? find_table(l, *sec) : std::nullopt;
  if (!t) return warnings.push_back("no \"## Quality Targets\" table: not filled");
  auto header = split_row(l.lines[t->first]);
  if (header.size() < 2 || header[0] != "Metric" || header[1] != "Target")
    return warnings.push_back("Quality Targets table does not start with | Metric | Target |: not filled");
  header.resize(2);
  header.insert(header.end(), {"Measured", "Result"});
  l.lines[t->first] = render_row(header);
  l.lines[t->first + 1] = "|---|---|---|---|";
  for (std::size_t i = t->first + 2; i <= t->last; ++i) {
    auto cells = split_row(l.lines[i]);
    if (cells.size() < 2) continue;
    cells.resize(2);
    const std::string metric = lower(cells[0]);
    std::optional<double> value;
    std::string measured, why;
    if (metric.find("kl") != std::string::npos) {
      if (!s.kl) {
        why = "not measured: no kl result of the carded checkpoint among --results";
      } else {
        const auto& r = s.kl->json["results"];
        value = r["kl_mean"]["value"].get<double>();
        const auto& ci = r["kl_mean_ci"];
        measured = fmt::format("{:.4f} ({:.0f}% CI {:.4f}–{:.4f})", *value, 100 * ci.value("confidence", 0.95),
                               ci["lo"].get<double>(), ci["hi"].get<double>());
      }
    } else if (metric.find("mmlu recovery") != std::string::npos) {
      if (!s.mmlu) {
        why = "not measured: no mmlu result of the carded checkpoint among --results";
      } else if (!s.mmlu->json.contains("recovery") || !s.mmlu->json["recovery"]["recovery"].is_number()) {
        why = fmt::format("not measured: {} has no recovery (mmlu was run without --ref)", s.mmlu->path);
      } else {
        const auto& r = s.mmlu->json["recovery"];
        value = r["recovery"].get<double>();
        measured = fmt::format("{:.2f}% ({:.0f}% CI {:.2f}–{:.2f}%)", 100 * *value, 100 * r.value("ci_level", 0.95),
                               100 * r["ci_low"].get<double>(), 100 * r["ci_high"].get<double>());
      }
    } else {
      why = "not measured: quantgate has no measurement for this metric";
    }
    if (!value) {
      cells.push_back(notes.missing(why));
      cells.push_back(kDash);
    } else {
      const auto target = parse_target(cells[1]);
      cells.push_back(measured);
      cells.push_back(target ? (meets(*value, *target) ? "pass" : "fail")
                             : notes.missing(fmt::format("no verdict: target '{}' is not like '< 0.014' or '≥ 99%'", cells[1])));
    }
    l.lines[i] = render_row(cells);
  }
}

}  // namespace

std::optional<std::int64_t> parse_ctx(const std::string& s) {
  static const std::regex re(R"(^([0-9]+)([kK]?)$)");
  std::smatch m;
  if (!std::regex_match(s, m, re)) return std::nullopt;
  const std::int64_t n = std::stoll(m[1]);
  return m[2].length() ? n * 1024 : n;  // "32k" is 32768 tokens, as the serving flags (--max-model-len 32768) mean
}

CardFill fill_card(const std::string& template_text, const CardSources& sources) {
  Lines l = split_lines(template_text);
  strip_notes(l);
  Notes notes;
  CardFill out;
  out.warnings = sources.warnings;
  fill_glance(l, sources, notes, out.warnings);
  fill_memory(l, sources, notes, out.warnings);
  fill_bench(l, sources, notes, out.warnings);
  fill_quality(l, sources, notes, out.warnings);
  notes.append_to(l);
  out.text = join_lines(l);
  return out;
}

}  // namespace qg::card
