#include "evals/mmlu_eval.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <numeric>

#include "common/error.h"
#include "metrics/log_prob.h"

namespace qg::evals {

namespace {

// One sequence to run: either all four single-token choices from one row, or one choice in full.
struct Job {
  std::size_t question = 0;
  int choice = -1;                 // -1: all four (single-token continuations) from row `first_row`
  std::vector<TokenId> input;      // tokens after the prefix (or the whole input without one)
  std::int64_t first_row = 0;      // first scored row (relative to input)
  const std::vector<TokenId>* targets = nullptr;  // the choice's continuation ids (choice >= 0)
};

}  // namespace

double log_prob(std::span<const float> row, TokenId token) { return metrics::log_prob(row, token); }

std::vector<metrics::MmluQuestionScore> run_mmlu(Forward& forward, std::span<const MmluRequest> requests,
                                                 const MmluEvalOptions& options, MmluEvalStats* stats_out) {
  const auto t0 = std::chrono::steady_clock::now();
  MmluEvalStats stats;
  stats.questions = requests.size();
  const std::int64_t max_pos = forward.config().max_position_embeddings;
  stats.max_len = options.max_len > 0 ? options.max_len : max_pos;
  if (max_pos > 0 && stats.max_len > max_pos)
    throw Error(fmt::format("--max-len {} exceeds the model's max_position_embeddings {}", stats.max_len, max_pos));
  const auto max_len = static_cast<std::size_t>(stats.max_len);

  std::vector<metrics::MmluQuestionScore> scores(requests.size());
  for (std::size_t q = 0; q < requests.size(); ++q) {
    scores[q].subject = requests[q].subject;
    scores[q].index = requests[q].index;
    scores[q].gold = requests[q].gold;
    for (const auto& c : requests[q].continuation_ids)
      if (c.size() != 1) stats.single_token_choices = false;
  }
  // Group questions by subject (in order of first appearance).
  std::vector<std::string> order;
  std::map<std::string, std::vector<std::size_t>> by_subject;
  for (std::size_t q = 0; q < requests.size(); ++q) {
    auto& v = by_subject[requests[q].subject];
    if (v.empty()) order.push_back(requests[q].subject);
    v.push_back(q);
  }
  // Subjects must be contiguous, so that the subjects done so far are a prefix of `requests`.
  for (std::size_t q = 1; q < requests.size(); ++q)
    if (requests[q].subject != requests[q - 1].subject && by_subject[requests[q].subject].front() != q)
      throw Error(fmt::format("MMLU requests of subject {} are not contiguous", requests[q].subject));
  std::size_t done = 0;
  const std::size_t batch_size = std::max<std::size_t>(1, options.batch_size);

  const std::shared_ptr<MmluRowScorer> scorer_owner = options.row_scorer ? options.row_scorer : host_mmlu_row_scorer();
  MmluRowScorer& scorer = *scorer_owner;
  std::vector<TokenId> row_targets;  // per consumer call: the ids read from each scored row
  std::vector<double> row_logp;      // and their log-probabilities

  auto run_jobs = [&](std::vector<Job>& jobs, const PrefixHandle& prefix) {
    std::stable_sort(jobs.begin(), jobs.end(), [](const Job& a, const Job& b) { return a.input.size() > b.input.size(); });
    const std::int64_t offset = prefix ? prefix->n_tokens() : 0;
    for (std::size_t start = 0; start < jobs.size(); start += batch_size) {
      const std::size_t end = std::min(jobs.size(), start + batch_size);
      std::vector<TokenSpan> spans;
      std::vector<std::int64_t> first_rows;  // per sequence: only the scored rows get logits
      for (std::size_t j = start; j < end; ++j) {
        spans.emplace_back(jobs[j].input);
        first_rows.push_back(jobs[j].first_row);
        stats.forward_tokens += jobs[j].input.size();
      }
      stats.sequences += spans.size();
      const LogitsConsumer consume = [&](const LogitsChunk& c) {
        const Job& job = jobs[start + c.sequence];
        auto& sc = scores[job.question];
        // The chunk's rows [r0, r1) that this job scores (relative to job.input: row = c.first_position - offset + r).
        const std::int64_t first = c.first_position - offset;
        const std::int64_t n_scored = job.choice < 0 ? 1 : static_cast<std::int64_t>(job.targets->size());
        const std::int64_t r0 = std::max<std::int64_t>(0, job.first_row - first);
        const std::int64_t r1 = std::min<std::int64_t>(c.n_rows, job.first_row + n_scored - first);
        if (r1 <= r0) return;
        const int n_targets = job.choice < 0 ? 4 : 1;
        row_targets.clear();
        for (std::int64_t r = r0; r < r1; ++r) {
          if (job.choice < 0) {
            for (int k = 0; k < 4; ++k) row_targets.push_back(requests[job.question].continuation_ids[k][0]);
          } else {
            row_targets.push_back((*job.targets)[static_cast<std::size_t>(first + r - job.first_row)]);
          }
        }
        row_logp.resize(row_targets.size());
        scorer.log_probs(c, r0, r1 - r0, row_targets, n_targets, row_logp);
        if (job.choice < 0) {
          for (int k = 0; k < 4; ++k) sc.loglik[k] = row_logp[static_cast<std::size_t>(k)];
        } else {
          for (double lp : row_logp) sc.loglik[job.choice] += lp;  // in row order, as lm-eval sums
        }
      };
      ScoreOptions so;
      so.first_logit_rows = first_rows;
      so.chunk_rows = 64;
      so.logits_on_device = scorer.logits_on_device();
      if (prefix) forward.score_continuations(prefix, spans, consume, so);
      else forward.score(std::span<const TokenSpan>(spans), consume, so);
    }
  };

  for (const auto& subject : order) {
    if (options.should_stop && options.should_stop()) {
      scores.resize(done);  // the finished subjects: a prefix of the requests
      break;
    }
    const auto& qs = by_subject[subject];
    // The common token prefix of the subject's (untruncated) contexts, leaving >= 1 context token per question.
    std::vector<std::size_t> fits;    // questions whose every choice needs no truncation
    std::vector<std::size_t> cut;     // the others
    for (std::size_t q : qs) {
      const auto& r = requests[q];
      std::size_t longest = 0;
      for (const auto& c : r.continuation_ids) longest = std::max(longest, r.context_ids.size() + c.size() - 1);
      (longest <= max_len ? fits : cut).push_back(q);
    }
    std::size_t lcp = 0;
    if (options.reuse_prefix && !fits.empty()) {
      const auto& first = requests[fits[0]].context_ids;
      lcp = first.size() - 1;
      for (std::size_t q : fits) {
        const auto& ids = requests[q].context_ids;
        lcp = std::min(lcp, ids.size() - 1);
        std::size_t i = 0;
        while (i < lcp && ids[i] == first[i]) ++i;
        lcp = i;
      }
    }
    PrefixHandle prefix;
    if (lcp > 0) {
      prefix = forward.encode_prefix(TokenSpan(requests[fits[0]].context_ids.data(), lcp));
      stats.forward_tokens += lcp;
      stats.prefix_tokens_reused += lcp * (fits.size() - 1);
    }
    auto make_jobs = [&](std::size_t q, std::size_t skip, bool truncate, std::vector<Job>& jobs) {
      const auto& r = requests[q];
      if (stats.single_token_choices) {
        Job j;
        j.question = q;
        j.input.assign(r.context_ids.begin() + static_cast<std::ptrdiff_t>(skip), r.context_ids.end());
        if (truncate && r.context_ids.size() > max_len) {
          stats.truncated_tokens += j.input.size() - max_len;
          j.input.erase(j.input.begin(), j.input.end() - static_cast<std::ptrdiff_t>(max_len));
        }
        j.first_row = static_cast<std::int64_t>(j.input.size()) - 1;
        jobs.push_back(std::move(j));
        return;
      }
      for (int k = 0; k < 4; ++k) {
        Job j;
        j.question = q;
        j.choice = k;
        j.targets = &r.continuation_ids[k];
        std::vector<TokenId> all(r.context_ids.begin() + static_cast<std::ptrdiff_t>(skip), r.context_ids.end());
        all.insert(all.end(), j.targets->begin(), j.targets->end());
        all.pop_back();  // (ctx + cont)[:-1]
        if (truncate && all.size() > max_len) {
          stats.truncated_tokens += all.size() - max_len;
          all.erase(all.begin(), all.end() - static_cast<std::ptrdiff_t>(max_len));
        }
        j.input = std::move(all);
        j.first_row = static_cast<std::int64_t>(j.input.size() - j.targets->size());
        jobs.push_back(std::move(j));
      }
    };
    std::vector<Job> with_prefix, without;
    for (std::size_t q : fits) make_jobs(q, lcp, false, prefix ? with_prefix : without);
    for (std::size_t q : cut) make_jobs(q, 0, true, without);
    stats.truncated += cut.size();
    run_jobs(with_prefix, prefix);
    run_jobs(without, nullptr);
    for (std::size_t q : qs) metrics::mmlu_finish(scores[q]);
    done += qs.size();
    if (options.progress) options.progress(done, requests.size());
  }
  stats.questions = scores.size();  // fewer when stopped early
  stats.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (stats_out) *stats_out = stats;
  return scores;
}

}  // namespace qg::evals
