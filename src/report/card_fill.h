#pragma once
// `quantgate card`: fills a model card's measured tables in place from results files (reports/README.md).
//   At a Glance      "Disk size" row: the carded checkpoint's bytes on disk (inspect)
//   Memory           Weights (inspect of each column's checkpoint), KV cache @ Nk ctx (fp8|bf16) from the carded
//                    config (model/kv_cache_size.h), Total = weights + KV cache
//   Benchmarks       rows matched by (engine + version, format, batch = concurrency, ctx = input length) to
//                    bench levels: tok/s, TTFT p50, TTFT p99, VRAM; the "Hardware:" line from the bench GPU
//   Quality Targets  "Measured" and "Result" columns beside each target (kl mean KL with CI, mmlu recovery with CI)
// Every other byte is kept. A value not measured is "—" with a footnote saying why; the footnotes form one block
// at the end of the card, replaced on each run, so filling a filled card gives the same bytes.
#include <string>
#include <vector>

#include "report/card_sources.h"

namespace qg::card {

struct CardFill {
  std::string text;
  std::vector<std::string> warnings;  // e.g. a template section that is absent
};

CardFill fill_card(const std::string& template_text, const CardSources& sources);

// "32k" -> 32768, "4096" -> 4096; nullopt otherwise.
std::optional<std::int64_t> parse_ctx(const std::string& s);

}  // namespace qg::card
