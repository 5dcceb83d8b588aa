#include "evals/kl_two_pass.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "common/error.h"

namespace qg {

namespace {
constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;

// The reference rows of the chunks of one block, already computed.
class BufferedKlReference final : public KlReference {
 public:
  BufferedKlReference(const std::vector<float>& rows, std::size_t first_chunk, std::int64_t n_scored, std::int64_t n_vocab)
      : rows_(rows), first_chunk_(first_chunk), n_scored_(n_scored), n_vocab_(n_vocab) {}
  void fill(std::size_t index, const std::vector<TokenId>&, KlRowComparer& comparer) override {
    const std::size_t offset = (index - first_chunk_) * static_cast<std::size_t>(n_scored_ * n_vocab_);
    comparer.keep_reference_host(rows_.data() + offset, 0, n_scored_);
  }

 private:
  const std::vector<float>& rows_;
  std::size_t first_chunk_;
  std::int64_t n_scored_, n_vocab_;
};
}  // namespace

KlBlockPlan plan_kl_blocks(const KlChunkPlan& plan, std::int64_t n_vocab, double buffer_gib) {
  if (!(buffer_gib > 0) || !std::isfinite(buffer_gib))
    throw Error(fmt::format("--ref-buffer-gb {}: expected a size in GiB > 0", buffer_gib));
  KlBlockPlan b;
  b.chunk_bytes = static_cast<std::uint64_t>(plan.scored_per_chunk) * static_cast<std::uint64_t>(n_vocab) * 4;
  const double budget = buffer_gib * kGiB;
  b.chunks_per_block = static_cast<std::int64_t>(std::floor(budget / static_cast<double>(b.chunk_bytes)));
  if (b.chunks_per_block < 1)
    throw Error(fmt::format("--ref-buffer-gb {} holds less than one chunk's reference rows ({} scored rows x {} "
                            "logits x 4 bytes = {:.4g} GiB)",
                            buffer_gib, plan.scored_per_chunk, n_vocab, static_cast<double>(b.chunk_bytes) / kGiB),
                {.hint = fmt::format("use --ref-buffer-gb {:.4g} or more, or a smaller --ctx",
                                     std::ceil(static_cast<double>(b.chunk_bytes) / kGiB * 1e4) / 1e4)});
  const auto n_chunks = static_cast<std::int64_t>(plan.chunks.size());
  b.chunks_per_block = std::min(b.chunks_per_block, n_chunks);
  b.n_blocks = (n_chunks + b.chunks_per_block - 1) / b.chunks_per_block;
  b.buffer_bytes = static_cast<std::uint64_t>(b.chunks_per_block) * b.chunk_bytes;
  b.rule = fmt::format("two-pass: {} block{} of up to {} chunk{} ({:.4g} GiB of reference rows a block, {:.4g} GiB "
                       "a chunk); each model opened once per block",
                       b.n_blocks, b.n_blocks == 1 ? "" : "s", b.chunks_per_block, b.chunks_per_block == 1 ? "" : "s",
                       static_cast<double>(b.buffer_bytes) / kGiB, static_cast<double>(b.chunk_bytes) / kGiB);
  return b;
}

KlRun run_kl_two_pass(const ForwardOpener& open_ref, const ForwardOpener& open_cand, const KlChunkPlan& plan,
                      const KlBlockPlan& blocks, const KlRunOptions& options, const KlTwoPassOptions& two_pass) {
  KlRun run;
  run.progress.n_chunks = static_cast<std::int64_t>(plan.chunks.size());
  const std::int64_t n_scored = plan.scored_per_chunk;
  std::vector<float> rows;  // the block's reference rows, chunk after chunk
  std::int64_t n_vocab = 0;
  for (std::int64_t b = 0; b < blocks.n_blocks && !run.partial; ++b) {
    const auto begin = static_cast<std::size_t>(b * blocks.chunks_per_block);
    const std::size_t end = std::min(plan.chunks.size(), begin + static_cast<std::size_t>(blocks.chunks_per_block));
    if (two_pass.on_phase)
      two_pass.on_phase(fmt::format("kl: block {}/{}: reference over chunks {}..{}", b + 1, blocks.n_blocks, begin, end - 1));
    {
      const std::unique_ptr<Forward> ref = open_ref();
      n_vocab = ref->config().n_vocab;
      const auto row_floats = static_cast<std::size_t>(n_scored * n_vocab);
      rows.resize((end - begin) * row_floats);
      const ScoreOptions score_options{.chunk_rows = options.chunk_rows, .first_logit_row = plan.first_scored_row};
      for (std::size_t ci = begin; ci < end; ++ci) {
        if (options.should_stop && options.should_stop()) {
          run.partial = true;
          return run;
        }
        const auto& chunk = plan.chunks[ci];
        check_tokens(ref->config(), chunk, 0, fmt::format("chunk {}", ci));
        float* dst = rows.data() + (ci - begin) * row_floats;
        ref->score(TokenSpan(chunk), [&](const LogitsChunk& lc) {
          std::int64_t r0 = 0, row = 0;
          const std::int64_t n = scored_rows(plan, lc, &r0, &row);
          if (n > 0) std::copy_n(lc.logits.data() + r0 * n_vocab, n * n_vocab, dst + row * n_vocab);
        }, score_options);
        if (two_pass.on_reference_chunk) two_pass.on_reference_chunk(ci, dst);
      }
    }  // the reference is released here, before the candidate opens
    if (two_pass.on_phase)
      two_pass.on_phase(fmt::format("kl: block {}/{}: candidate over chunks {}..{}", b + 1, blocks.n_blocks, begin, end - 1));
    const std::unique_ptr<Forward> cand = open_cand();
    if (cand->config().n_vocab != n_vocab)
      throw Error(fmt::format("vocab mismatch: the reference has {} ids, the candidate {}", n_vocab, cand->config().n_vocab));
    std::unique_ptr<KlRowComparer> comparer = two_pass.make_comparer ? two_pass.make_comparer(*cand) : host_kl_comparer();
    BufferedKlReference reference(rows, begin, n_scored, n_vocab);
    run_kl_range(reference, *cand, plan, options, *comparer, begin, end, run);
  }
  return run;
}

}  // namespace qg
