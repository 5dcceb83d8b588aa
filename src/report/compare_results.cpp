#include "report/compare_results.h"
#include "report/results_file.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <set>
#include <sstream>

#include "common/error.h"
#include "report/format.h"

namespace qg::report {

namespace {

using nlohmann::json;

// Schema strings written today by each command, and the shared envelope another change introduces.

// A JSON value at a dotted path, or a qg::Error naming the file and the key that is missing or mistyped.
const json& at(const json& j, const std::string& dotted, const std::string& file) {
  const json* cur = &j;
  std::size_t start = 0;
  while (start <= dotted.size()) {
    const std::size_t dot = dotted.find('.', start);
    const std::string key = dotted.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (!cur->is_object() || !cur->contains(key))
      throw Error(fmt::format("results file has no '{}'", dotted), {.file = file});
    cur = &(*cur)[key];
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return *cur;
}
double num_at(const json& j, const std::string& dotted, const std::string& file) {
  const json& v = at(j, dotted, file);
  if (v.is_null()) return std::nan("");  // the writers store non-finite numbers as null
  if (!v.is_number()) throw Error(fmt::format("'{}' must be a number", dotted), {.file = file});
  return v.get<double>();
}
std::string str_at(const json& j, const std::string& dotted, const std::string& file) {
  const json& v = at(j, dotted, file);
  if (!v.is_string()) throw Error(fmt::format("'{}' must be a string", dotted), {.file = file});
  return v.get<std::string>();
}
bool bool_or(const json& j, const char* key, bool fallback) {
  return j.is_object() && j.contains(key) && j[key].is_boolean() ? j[key].get<bool>() : fallback;
}

// Checkpoint paths from different writers name one model alike once normalized ("dir/", "./dir" -> "dir").
std::string normalize_key(const std::string& s) {
  std::string n = std::filesystem::path(s).lexically_normal().string();
  while (n.size() > 1 && n.back() == '/') n.pop_back();
  return n.empty() ? s : n;
}

// The .safetensors bytes of a checkpoint_identity_json object (what inspect calls file_bytes).
std::optional<std::uint64_t> identity_weight_bytes(const json& id) {
  if (!id.is_object() || !id.contains("files") || !id["files"].is_array()) return std::nullopt;
  std::uint64_t total = 0;
  bool any = false;
  for (const auto& f : id["files"])
    if (f.is_object() && f.value("name", "").ends_with(".safetensors") && f.contains("bytes") && f["bytes"].is_number()) {
      total += f["bytes"].get<std::uint64_t>();
      any = true;
    }
  return any ? std::optional<std::uint64_t>(total) : std::nullopt;
}

class RowTable {
 public:
  explicit RowTable(const CompareOptions& o) {
    for (const auto& [key, name] : o.labels) {
      labels_[normalize_key(key)] = name;
      row_of(name);  // --label order fixes the row order
    }
  }
  // The row of a checkpoint path or model id (created on first sight).
  CompareRow& row_for_key(const std::string& raw_key) {
    const std::string key = normalize_key(raw_key);
    const auto it = labels_.find(key);
    CompareRow& r = row_of(it == labels_.end() ? key : it->second);
    if (std::find(r.keys.begin(), r.keys.end(), key) == r.keys.end()) r.keys.push_back(key);
    return r;
  }
  std::vector<CompareRow> take() {
    std::vector<CompareRow> out;
    for (auto& r : rows_)
      if (!r.keys.empty()) out.push_back(std::move(r));  // a --label that matched nothing makes no row
    return out;
  }
  std::vector<std::string> unused_labels() const {
    std::vector<std::string> out;
    for (const auto& r : rows_)
      if (r.keys.empty()) out.push_back(r.label);
    return out;
  }

 private:
  CompareRow& row_of(const std::string& label) {
    for (auto& r : rows_)
      if (r.label == label) return r;
    rows_.push_back(CompareRow{.label = label});
    return rows_.back();
  }
  std::map<std::string, std::string> labels_;
  std::vector<CompareRow> rows_;  // a vector keeps first-seen order; rows are few
};

// Stores a metric group into a row; the same group from two files must agree.
template <class T>
void put(CompareRow& row, std::optional<T>& slot, T value, const std::string& group, const std::string& file) {
  if (slot && !(*slot == value))
    throw Error(fmt::format("'{}' has two different {} results: {} and {}", row.label, group, row.source[group], file),
                {.file = file, .hint = "pass one result per model and metric (or --label the runs apart)"});
  if (!slot) {
    slot = std::move(value);
    row.source[group] = file;
  }
}

void put_disk(CompareRow& row, std::uint64_t bytes, const std::string& file) {
  if (row.disk_bytes && *row.disk_bytes != bytes)
    throw Error(fmt::format("'{}': {} of .safetensors files here but {} in {} (was the checkpoint rewritten?)", row.label,
                            group_digits(static_cast<std::int64_t>(bytes)),
                            group_digits(static_cast<std::int64_t>(*row.disk_bytes)), row.source["disk"]),
                {.file = file});
  if (!row.disk_bytes) {
    row.disk_bytes = bytes;
    row.source["disk"] = file;
  }
}

std::string short_sha(const json& j) {
  if (!j.is_object() || !j.contains("sha256") || !j["sha256"].is_string()) return "";
  return j["sha256"].get<std::string>().substr(0, 12);
}

std::string file_name(const std::string& path) { return std::filesystem::path(path).filename().string(); }

void add_kl(const ResultFile& f, RowTable& table, Comparison& c, std::set<std::string>& settings) {
  const json& b = f.body;
  const std::string ref_key = str_at(b, "reference.dir", f.path), cand_key = str_at(b, "candidate.dir", f.path);
  CompareRow& ref = table.row_for_key(ref_key);
  ref.kl_reference = true;
  if (auto bytes = identity_weight_bytes(b["reference"])) put_disk(ref, *bytes, f.path);
  const std::string ref_label = ref.label;
  CompareRow& cand = table.row_for_key(cand_key);
  if (auto bytes = identity_weight_bytes(b["candidate"])) put_disk(cand, *bytes, f.path);
  KlMetrics m;
  m.mean = num_at(b, "results.kl_mean.value", f.path);
  m.mean_stderr = num_at(b, "results.kl_mean.stderr", f.path);
  m.ci_lo = num_at(b, "results.kl_mean_ci.lo", f.path);
  m.ci_hi = num_at(b, "results.kl_mean_ci.hi", f.path);
  m.ci_confidence = num_at(b, "results.kl_mean_ci.confidence", f.path);
  m.p99 = num_at(b, "results.kl_p99", f.path);
  m.same_top1 = num_at(b, "results.same_top1.value", f.path);
  m.same_top1_stderr = num_at(b, "results.same_top1.stderr", f.path);
  m.n_tokens = static_cast<std::int64_t>(num_at(b, "results.n_tokens", f.path));
  m.partial = bool_or(b, "partial", false);
  m.reference = ref_label;
  // The histogram only feeds the chart: a result without one (hand-written) still fills the table.
  const json& hist = b["results"].contains("kl_histogram") ? b["results"]["kl_histogram"] : json::array();
  if (!hist.is_array()) throw Error("'results.kl_histogram' must be an array", {.file = f.path});
  for (const auto& bin : hist) {
    KlBin kb;
    if (!bin.is_object() || !bin.contains("count") || !bin["count"].is_number_integer())
      throw Error("'results.kl_histogram' bins need lo, hi and an integer count", {.file = f.path});
    if (bin.contains("lo") && bin["lo"].is_number()) kb.lo = bin["lo"].get<double>();
    if (bin.contains("hi") && bin["hi"].is_number()) kb.hi = bin["hi"].get<double>();
    kb.count = bin["count"].get<std::int64_t>();
    m.histogram.push_back(kb);
  }
  put(cand, cand.kl, std::move(m), "kl", f.path);
  const json& corpus = b.contains("corpus") ? b["corpus"] : json();
  const std::string corpus_name = corpus.is_object() ? corpus.value("path", "?") : "?";
  const std::int64_t ctx = b.contains("chunking") ? b["chunking"].value("ctx", std::int64_t{0}) : 0;
  settings.insert(fmt::format("reference {}, corpus {} {}, ctx {}", ref_label, file_name(corpus_name), short_sha(corpus), ctx));
  c.sources.push_back(fmt::format("`{}` (kl): {} vs reference {}; corpus `{}`{}, ctx {}, {} scored tokens{}", file_name(f.path),
                                  cand.label, ref_label, file_name(corpus_name),
                                  short_sha(corpus).empty() ? "" : " sha256 " + short_sha(corpus) + "…", ctx,
                                  group_digits(cand.kl->n_tokens), cand.kl->partial ? " (PARTIAL: interrupted)" : ""));
}

MmluMetrics mmlu_run(const json& run, const std::string& where, const std::string& file, bool partial) {
  MmluMetrics m;
  m.acc = num_at(run, "acc", file);
  m.acc_stderr = num_at(run, "acc_stderr", file);
  m.n = static_cast<std::int64_t>(num_at(run, "overall.n", file));
  m.partial = partial;
  const json& groups = at(run, "groups", file);
  if (!groups.is_object()) throw Error(fmt::format("'{}.groups' must be an object", where), {.file = file});
  for (const auto& [name, g] : groups.items())
    m.groups[name] = {num_at(g, "acc", file), num_at(g, "acc_stderr", file)};
  return m;
}

void add_mmlu(const ResultFile& f, RowTable& table, Comparison& c, std::set<std::string>& settings) {
  const json& b = f.body;
  const bool partial = bool_or(b, "partial", false);
  std::string ref_label;
  if (b.contains("reference")) {
    CompareRow& ref = table.row_for_key(str_at(b, "reference.model", f.path));
    ref.mmlu_reference = true;
    put(ref, ref.mmlu, mmlu_run(at(b, "reference", f.path), "reference", f.path, partial), "mmlu", f.path);
    ref_label = ref.label;
  }
  CompareRow& cand = table.row_for_key(str_at(b, "candidate.model", f.path));
  put(cand, cand.mmlu, mmlu_run(at(b, "candidate", f.path), "candidate", f.path, partial), "mmlu", f.path);
  if (b.contains("recovery") && !ref_label.empty()) {
    RecoveryMetrics r{.recovery = num_at(b, "recovery.recovery", f.path),
                      .ci_lo = num_at(b, "recovery.ci_low", f.path),
                      .ci_hi = num_at(b, "recovery.ci_high", f.path),
                      .ci_level = num_at(b, "recovery.ci_level", f.path),
                      .reference = ref_label};
    put(cand, cand.recovery, std::move(r), "recovery", f.path);
  }
  const json& s = b.contains("settings") ? b["settings"] : json::object();
  const std::string shots = s.contains("shots") ? s["shots"].dump() : "?";
  const std::string limit = s.contains("limit") ? s["limit"].dump() : "?";
  const bool chat = bool_or(s, "chat", false);
  settings.insert(fmt::format("{}-shot{}, limit {}, subjects {}", shots, chat ? " chat" : "", limit,
                              s.contains("subjects") ? s["subjects"].dump() : "?"));
  c.sources.push_back(fmt::format("`{}` (mmlu): {}{}; {}-shot{}, {} questions{}", file_name(f.path), cand.label,
                                  ref_label.empty() ? "" : " vs reference " + ref_label, shots, chat ? " chat" : "",
                                  group_digits(cand.mmlu->n), partial ? " (PARTIAL: interrupted)" : ""));
}

// Percentile keys of quantgate.ttft_ms ("p50", "p99.9") as (fraction, ms), in increasing order.
std::vector<CdfPoint> cdf_from_percentiles(const json& summary) {
  std::vector<CdfPoint> pts;
  if (!summary.is_object()) return pts;
  for (const auto& [k, v] : summary.items()) {
    if (k.size() < 2 || k[0] != 'p' || !v.is_number()) continue;
    try {
      std::size_t used = 0;
      const double p = std::stod(k.substr(1), &used);
      if (used == k.size() - 1 && p > 0 && p < 100) pts.push_back({v.get<double>(), p / 100});
    } catch (const std::exception&) {
    }
  }
  // min and max close the curve at 0 and 1 so it spans the observed range
  if (summary.contains("min") && summary["min"].is_number()) pts.push_back({summary["min"].get<double>(), 0.0});
  if (summary.contains("max") && summary["max"].is_number()) pts.push_back({summary["max"].get<double>(), 1.0});
  std::sort(pts.begin(), pts.end(), [](const CdfPoint& a, const CdfPoint& b) { return a.fraction < b.fraction; });
  return pts;
}

std::vector<std::int64_t> bench_levels(const ResultFile& f) {
  const json& levels = at(f.body, "levels", f.path);
  if (!levels.is_array() || levels.empty()) throw Error("'levels' must be a non-empty array", {.file = f.path});
  std::vector<std::int64_t> out;
  for (const auto& l : levels) out.push_back(static_cast<std::int64_t>(num_at(l, "max_concurrency", f.path)));
  return out;
}

void add_bench(const ResultFile& f, std::int64_t concurrency, RowTable& table, Comparison& c, std::set<std::string>& settings) {
  const json& b = f.body;
  const std::string model = str_at(b, "model_id", f.path);
  const json* level = nullptr;
  for (const auto& l : at(b, "levels", f.path))
    if (static_cast<std::int64_t>(num_at(l, "max_concurrency", f.path)) == concurrency) level = &l;
  std::string have;
  for (auto n : bench_levels(f)) have += (have.empty() ? "" : ", ") + std::to_string(n);
  if (!level)
    throw Error(fmt::format("no level with max_concurrency {} (the file has {})", concurrency, have),
                {.file = f.path, .hint = "pick a level every bench result has with --concurrency"});
  const json& l = *level;
  BenchMetrics m;
  m.concurrency = concurrency;
  m.output_tok_s = num_at(l, "output_throughput", f.path);
  m.ttft_p50_ms = num_at(l, "median_ttft_ms", f.path);
  if (l.contains("p99_ttft_ms") && l["p99_ttft_ms"].is_number()) m.ttft_p99_ms = l["p99_ttft_ms"].get<double>();
  const json& vram = l.contains("quantgate") && l["quantgate"].contains("vram") ? l["quantgate"]["vram"] : json();
  if (bool_or(vram, "measured", false) && vram.contains("gpus") && vram["gpus"].is_array()) {
    // As the card: the serving process's peak when NVML reports it for every GPU, else the device's used memory.
    std::uint64_t device = 0, process = 0;
    bool all_process = !vram["gpus"].empty();
    for (const auto& g : vram["gpus"]) {
      device += static_cast<std::uint64_t>(num_at(g, "peak_used_bytes", f.path));
      if (g.contains("process_peak_bytes") && g["process_peak_bytes"].is_number() && g["process_peak_bytes"].get<double>() >= 0)
        process += g["process_peak_bytes"].get<std::uint64_t>();
      else
        all_process = false;
    }
    m.vram_peak = all_process ? process : device;
    m.vram_is_process = all_process;
  } else {
    m.vram_reason = vram.is_object() ? vram.value("reason", "not measured") : "not recorded";
  }
  // Per-request TTFTs (seconds, --save-detailed) of the requests that succeeded, else the percentiles.
  if (l.contains("detailed") && l["detailed"].contains("ttfts") && l["detailed"]["ttfts"].is_array()) {
    const json& t = l["detailed"]["ttfts"];
    const json& errors = l["detailed"].contains("errors") ? l["detailed"]["errors"] : json::array();
    std::vector<double> ms;
    for (std::size_t i = 0; i < t.size(); ++i)
      if (t[i].is_number() && (i >= errors.size() || errors[i] == "")) ms.push_back(1000 * t[i].get<double>());
    std::sort(ms.begin(), ms.end());
    for (std::size_t i = 0; i < ms.size(); ++i)
      m.ttft_cdf.push_back({ms[i], static_cast<double>(i + 1) / static_cast<double>(ms.size())});
  } else {
    m.ttft_cdf = cdf_from_percentiles(l.contains("quantgate") ? l["quantgate"].value("ttft_ms", json()) : json());
    m.cdf_from_percentiles = true;
  }
  // bench --checkpoint DIR records the served checkpoint: the row is that directory's, else the served model id.
  const json& served = b.contains("served_checkpoint") ? b["served_checkpoint"] : json();
  const bool has_dir = served.is_object() && served.contains("identity") && served["identity"].contains("dir") &&
                       served["identity"]["dir"].is_string();
  CompareRow& row = table.row_for_key(has_dir ? served["identity"]["dir"].get<std::string>() : model);
  if (has_dir)
    if (auto bytes = identity_weight_bytes(served["identity"])) put_disk(row, *bytes, f.path);
  put(row, row.bench, std::move(m), "bench", f.path);
  const json& w = b.contains("workload") ? b["workload"] : json::object();
  const std::string in_len = w.contains("input_len") ? w["input_len"].dump() : "?";
  const std::string out_len = w.contains("output_len") ? w["output_len"].dump() : "?";
  const std::string engine =
      b.contains("server") && b["server"].contains("engine") && b["server"]["engine"].is_string()
          ? b["server"]["engine"].get<std::string>()
          : "engine unknown";
  settings.insert(fmt::format("input {} / output {} tokens", in_len, out_len));
  c.sources.push_back(fmt::format("`{}` (bench): {} served by {} ({}); input {} / output {} tokens; levels {}; shown: concurrency {}",
                                  file_name(f.path), row.label, engine, b.value("backend", "?"), in_len, out_len, have,
                                  concurrency));
}

void add_inspect(const ResultFile& f, RowTable& table, Comparison& c) {
  const json& b = f.body;
  const std::string path = str_at(b, "source.path", f.path);
  if (!bool_or(at(b, "source", f.path), "has_weights", false)) {
    c.warnings.push_back(fmt::format("`{}`: inspect of a bare config (no weights read): its size estimate is not used",
                                     file_name(f.path)));
    return;
  }
  CompareRow& row = table.row_for_key(path);
  put_disk(row, static_cast<std::uint64_t>(num_at(b, "source.file_bytes", f.path)), f.path);
  c.sources.push_back(fmt::format("`{}` (inspect): {}, {} of .safetensors files", file_name(f.path), row.label,
                                  human_bytes(*row.disk_bytes)));
}

}  // namespace

const char* result_kind_name(ResultKind kind) {
  switch (kind) {
    case ResultKind::kKl: return "kl";
    case ResultKind::kMmlu: return "mmlu";
    case ResultKind::kBench: return "bench";
    case ResultKind::kInspect: return "inspect";
    case ResultKind::kQuantize: return "quantize";
  }
  return "?";
}

ResultFile load_result_file(const std::filesystem::path& path) {
  // The one loader of results files (report/results_file.h): another schema or version is a clear error.
  ResultsFile rf = load_results_file(path);
  const std::string& k = rf.kind;
  const ResultKind kind = k == "kl"        ? ResultKind::kKl
                          : k == "mmlu"    ? ResultKind::kMmlu
                          : k == "bench"   ? ResultKind::kBench
                          : k == "inspect" ? ResultKind::kInspect
                                           : ResultKind::kQuantize;
  return {rf.path, kind, std::move(rf.json)};
}

std::pair<std::string, std::string> parse_label(const std::string& spec) {
  const auto eq = spec.rfind('=');
  if (eq == std::string::npos || eq == 0 || eq + 1 == spec.size())
    throw Error(fmt::format("--label '{}': expected KEY=NAME (KEY: a checkpoint path or served model id)", spec));
  return {spec.substr(0, eq), spec.substr(eq + 1)};
}

Comparison build_comparison(const std::vector<ResultFile>& files, const CompareOptions& options) {
  Comparison c;
  RowTable table(options);
  // The bench level: the one asked for, else the smallest concurrency every bench result measured.
  std::optional<std::int64_t> concurrency = options.concurrency;
  if (!concurrency) {
    std::optional<std::set<std::int64_t>> common;
    for (const auto& f : files)
      if (f.kind == ResultKind::kBench) {
        const auto lv = bench_levels(f);
        std::set<std::int64_t> s(lv.begin(), lv.end());
        if (!common) common = s;
        else {
          std::set<std::int64_t> both;
          std::set_intersection(common->begin(), common->end(), s.begin(), s.end(), std::inserter(both, both.begin()));
          common = both;
        }
        if (common->empty())
          throw Error("the bench results share no concurrency level", {.file = f.path, .hint = "pass --concurrency N"});
      }
    if (common) concurrency = *common->begin();
  }
  c.concurrency = concurrency;
  std::set<std::string> kl_settings, mmlu_settings, bench_settings;
  for (const auto& f : files) try {
    switch (f.kind) {
      case ResultKind::kKl: add_kl(f, table, c, kl_settings); break;
      case ResultKind::kMmlu: add_mmlu(f, table, c, mmlu_settings); break;
      case ResultKind::kBench: add_bench(f, *concurrency, table, c, bench_settings); break;
      case ResultKind::kInspect: add_inspect(f, table, c); break;
      case ResultKind::kQuantize:
        c.warnings.push_back(fmt::format("`{}`: a quantize result measures nothing compared here; ignored", file_name(f.path)));
        break;
    }
  } catch (const json::exception& e) {  // a value of an unexpected type deep inside: still name the file
    throw Error(fmt::format("unexpected results layout: {}", e.what()), {.file = f.path});
  }
  auto differ = [&](const std::set<std::string>& s, const char* what) {
    if (s.size() < 2) return;
    std::string list;
    for (const auto& x : s) list += (list.empty() ? "" : "; ") + x;
    c.warnings.push_back(fmt::format("{} rows were measured under different settings ({}): compare them with care", what, list));
  };
  differ(kl_settings, "KL");
  differ(mmlu_settings, "MMLU");
  differ(bench_settings, "bench");
  for (const auto& l : table.unused_labels()) c.warnings.push_back(fmt::format("--label {}: no result names this model", l));
  c.rows = table.take();
  return c;
}

}  // namespace qg::report
