#pragma once
// `quantgate compare`: results files of kl, mmlu, bench and inspect grouped into one row per model. This file
// reads the files and extracts the numbers; compare_markdown renders them, compare_charts plots them.
#include <cstdint>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace qg::report {

enum class ResultKind { kKl, kMmlu, kBench, kInspect, kQuantize };  // quantize results are ignored
const char* result_kind_name(ResultKind kind);

struct ResultFile {
  std::string path;  // as given on the command line
  ResultKind kind;
  nlohmann::json body;
};

// Reads one results file through report/results_file.h (the "quantgate.results/1" envelope, its kind and the keys
// each kind must have). Unreadable, non-JSON, another schema or version, unknown kind: qg::Error naming the file.
ResultFile load_result_file(const std::filesystem::path& path);

// One histogram bin of per-token KL; lo/hi absent for the open-ended bins (-inf, 0) and [10, inf).
struct KlBin {
  std::optional<double> lo, hi;
  std::int64_t count = 0;
  bool operator==(const KlBin&) const = default;
};

struct KlMetrics {
  double mean = 0, mean_stderr = 0, ci_lo = 0, ci_hi = 0, ci_confidence = 0, p99 = 0, same_top1 = 0,
         same_top1_stderr = 0;
  std::int64_t n_tokens = 0;
  bool partial = false;
  std::string reference;  // row label of the model it was measured against
  std::vector<KlBin> histogram;
  bool operator==(const KlMetrics&) const = default;
};

struct MmluMetrics {
  double acc = 0, acc_stderr = 0;
  std::int64_t n = 0;
  bool partial = false;
  std::map<std::string, std::pair<double, double>> groups;  // group -> (acc, stderr); NaN when not finite
  bool operator==(const MmluMetrics&) const = default;
};

struct RecoveryMetrics {
  double recovery = 0, ci_lo = 0, ci_hi = 0, ci_level = 0;
  std::string reference;  // row label
  bool operator==(const RecoveryMetrics&) const = default;
};

struct CdfPoint {
  double ms = 0, fraction = 0;
  bool operator==(const CdfPoint&) const = default;
};

struct BenchMetrics {
  std::int64_t concurrency = 0;
  double output_tok_s = 0, ttft_p50_ms = 0;
  std::optional<double> ttft_p99_ms;       // absent when --percentiles did not include 99
  std::optional<std::uint64_t> vram_peak;  // summed over GPUs: the server process's peak, else device used (NVML)
  bool vram_is_process = false;            // true: every GPU reported the serving process's own peak
  std::string vram_reason;                 // why VRAM was not measured
  std::vector<CdfPoint> ttft_cdf;          // per request (--save-detailed) or from the percentiles
  bool cdf_from_percentiles = false;
  bool operator==(const BenchMetrics&) const = default;
};

struct CompareRow {
  std::string label;               // --label NAME, else the checkpoint path / served model id
  std::vector<std::string> keys;   // normalized checkpoint paths / model ids merged into this row
  std::optional<std::uint64_t> disk_bytes;  // sum of the .safetensors files
  std::optional<KlMetrics> kl;
  std::optional<MmluMetrics> mmlu;
  std::optional<RecoveryMetrics> recovery;
  std::optional<BenchMetrics> bench;
  bool kl_reference = false, mmlu_reference = false;  // served as the reference of a kl / mmlu run
  std::map<std::string, std::string> source;          // metric group -> file it came from
};

struct CompareOptions {
  std::vector<std::pair<std::string, std::string>> labels;  // KEY=NAME (KEY: checkpoint path or served model id)
  std::optional<std::int64_t> concurrency;                  // bench level; default: smallest common to all
};

struct Comparison {
  std::vector<CompareRow> rows;
  std::optional<std::int64_t> concurrency;  // the bench level shown
  std::vector<std::string> sources;         // one line per results file
  std::vector<std::string> warnings;        // settings that differ between results of one kind, skipped inputs
};

// Parses "KEY=NAME" (--label); bad syntax throws qg::Error.
std::pair<std::string, std::string> parse_label(const std::string& spec);

// Groups the results into rows. The same metric measured twice for one model with different values (e.g. two
// MMLU runs with different --limit naming the same reference) is a qg::Error naming both files.
Comparison build_comparison(const std::vector<ResultFile>& files, const CompareOptions& options);

}  // namespace qg::report
