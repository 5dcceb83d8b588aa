#pragma once
// `quantgate kl --ref-buffer-gb X`: the exact two-pass mode for when the reference and the candidate are not to be
// resident together (an 8B BF16 reference and its W4A16 candidate on a 24 GB GPU). The chunks are cut into blocks
// whose scored reference rows (fp32, [scored_per_chunk, n_vocab] a chunk) fit X GiB of host memory; per block the
// reference is opened, run over the block into the buffer and released, then the candidate is opened, compared on
// the block and released. Models are reopened per block: cheap once their files are in the page cache. The rows
// are the reference's exact logits, so the results are bit-identical to the resident mode's (run_kl_range keeps
// the accumulation order), and Ctrl-C (should_stop, polled before every chunk of either pass) ends the run with
// the chunks compared so far, as run_kl does.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "evals/kl_eval.h"

namespace qg {

struct KlBlockPlan {
  std::int64_t chunks_per_block = 0, n_blocks = 0;
  std::uint64_t chunk_bytes = 0;   // one chunk's scored reference rows
  std::uint64_t buffer_bytes = 0;  // what the buffer actually holds: chunks_per_block * chunk_bytes
  std::string rule;                // one line, for the log and the report
};

// buffer_gib > 0; throws qg::Error naming --ref-buffer-gb when it holds less than one chunk's rows (the message
// gives one chunk's size and the smallest value that works).
KlBlockPlan plan_kl_blocks(const KlChunkPlan& plan, std::int64_t n_vocab, double buffer_gib);

using ForwardOpener = std::function<std::unique_ptr<Forward>()>;
struct KlTwoPassOptions {
  // The comparer for a freshly opened candidate (default: the host comparer). Made per block, after the candidate
  // is opened, and destroyed before it is released (a GPU comparer's buffers live on the candidate's device).
  std::function<std::unique_ptr<KlRowComparer>(Forward& cand)> make_comparer;
  // Each chunk's scored reference rows once they are in the buffer ([scored_per_chunk, n_vocab], host): the
  // compact cache writer listens here (kl --ref-buffer-gb --save-ref-cache).
  std::function<void(std::size_t chunk, const float* rows)> on_reference_chunk;
  // A line per phase ("block 2/5: reference, chunks 8..15"), for the log.
  std::function<void(const std::string&)> on_phase;
};

// Throws what the openers and run_kl throw, and qg::Error when the two models' vocabularies differ.
KlRun run_kl_two_pass(const ForwardOpener& open_ref, const ForwardOpener& open_cand, const KlChunkPlan& plan,
                      const KlBlockPlan& blocks, const KlRunOptions& options, const KlTwoPassOptions& two_pass = {});

}  // namespace qg
