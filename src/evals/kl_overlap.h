#pragma once
// run_kl with the reference one chunk ahead: a second host thread runs the reference on chunk i + 1 while this
// thread runs the candidate on chunk i. On one GPU each engine queues its kernels on its own stream, so one
// model's work fills the other's idle moments: launch gaps, the last waves of GEMMs and attention blocks,
// memory-bound kernels beside compute-bound ones. Each comparer holds one chunk's reference rows (even chunks in
// `even`, odd ones in `odd`), so a GPU pair needs room for two chunks of rows (open_second_kl_comparer in
// forward/open_forward.h checks it).
//
// The results are those of run_kl bit for bit: the same kernels on the same inputs, each candidate chunk compared
// and accumulated in chunk order on this thread (on_token, on_chunk and should_stop are called from it too). An
// error on either side stops both and is rethrown here; should_stop ends the run after the group in progress.
//
// chunks_per_call: chunks each model runs per forward call (a group): 4 chunks of 2048 tokens fill one 8192-row
// step, which runs faster than four 2048-row steps (and dequantizes a W4A16 model once instead of four times).
// Each comparer then holds a group's rows: chunks_per_call * scored_per_chunk of them.
#include "evals/kl_eval.h"

namespace qg {

KlRun run_kl_overlapped(Forward& ref, Forward& cand, const KlChunkPlan& plan, const KlRunOptions& options,
                        KlRowComparer& even, KlRowComparer& odd, std::size_t chunks_per_call = 1);

}  // namespace qg
