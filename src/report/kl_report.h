#pragma once
// Results of `quantgate kl`: the JSON (source of truth, with provenance) and the human table. Every number
// comes from metrics::summarize_kl; this file only formats.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "metrics/kl_stats.h"

namespace qg {

struct KlReportInput {
  metrics::KlSummary summary;
  double max_kl = 0.014;
  bool partial = false;           // interrupted: not every chunk was scored
  std::int64_t chunks_done = 0, n_chunks = 0;
  std::string chunking_rule;      // KlChunkPlan::rule
  std::int64_t ctx = 0, first_scored_row = 0, corpus_tokens = 0, tokens_unused = 0;
  double seconds = 0, forward_seconds = 0;
  std::string device;
  nlohmann::json provenance;      // provenance_json(ProvenanceInputs)
  nlohmann::json flags;           // every flag, with its value
  nlohmann::json reference, candidate;  // checkpoint_identity_json
  nlohmann::json corpus;          // path, bytes, sha256, tokenizer
  nlohmann::json approximation;   // null: every number exact; else how KL was approximated (kl_compact_approximation_json)
};

// The gate: the mean KL must not exceed max_kl (a partial run never passes).
bool kl_gate_pass(const KlReportInput& in);
nlohmann::json kl_report_json(const KlReportInput& in);
std::string kl_report_table(const KlReportInput& in);

// The per-token dump (--dump-tokens): a CSV header and one row per scored token.
std::string kl_token_csv_header();  // "chunk,row,next,kl,kl_rev,nll_ref,nll_cand,p_ref,p_cand,top1_ref,top1_cand\n"
std::string kl_token_csv_row(std::int64_t chunk, std::int64_t row, std::int32_t next, const metrics::TokenKl& t);

}  // namespace qg
