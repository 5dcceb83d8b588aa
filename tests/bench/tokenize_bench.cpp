// qg_tokenize_bench TOKENIZER TEXT_FILE [--repeats N] [--threads N]
// Encoding speed of quantgate's tokenizer on a text file, measured the way
// scripts/make_tokenizer_goldens.py measures the `tokenizers` library, so the two numbers compare:
//   whole file: one encode(text, add_special_tokens=true) call on one thread (best and median of N)
//   lines:      every '\n'-separated line encoded on its own, spread over T threads (encode_batch's shape)
// Prints one line per figure and a final JSON line. A plain program (no benchmark library) so it builds
// anywhere the library builds; not a test (timings are never asserted).
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "text/tokenizer.h"

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

std::uint64_t fnv64(const std::vector<qg::text::TokenId>& ids) {
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (auto id : ids)
    for (int k = 0; k < 4; ++k) h = (h ^ ((static_cast<std::uint32_t>(id) >> (8 * k)) & 0xFFu)) * 0x100000001b3ull;
  return h;
}

struct Stats {
  double best, median;
};
Stats stats(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return {v.front(), n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2};
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::cerr << "usage: qg_tokenize_bench TOKENIZER TEXT_FILE [--repeats N] [--threads N]\n";
    return 2;
  }
  int repeats = 5;
  unsigned threads = std::max(1u, std::thread::hardware_concurrency());
  for (int i = 3; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--repeats") repeats = std::max(1, std::stoi(argv[i + 1]));
    if (a == "--threads") threads = static_cast<unsigned>(std::max(1, std::stoi(argv[i + 1])));
  }
  try {
    auto t0 = Clock::now();
    const auto tok = qg::text::Tokenizer::load(argv[1]);
    const double load_s = seconds_since(t0);
    std::ifstream in(argv[2], std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    const std::string text = ss.str();

    auto ids = tok.encode(text, true, argv[2]);  // warm-up (word cache)
    std::vector<double> whole;
    for (int r = 0; r < repeats; ++r) {
      t0 = Clock::now();
      ids = tok.encode(text, true, argv[2]);
      whole.push_back(seconds_since(t0));
    }

    std::vector<std::string> lines;
    for (std::size_t b = 0;;) {
      const std::size_t e = text.find('\n', b);
      lines.push_back(text.substr(b, e == std::string::npos ? std::string::npos : e - b));
      if (e == std::string::npos) break;
      b = e + 1;
    }
    std::vector<double> batch;
    std::size_t line_tokens = 0;
    for (int r = 0; r <= repeats; ++r) {  // the first round warms up
      std::vector<std::size_t> counts(threads, 0);
      t0 = Clock::now();
      std::vector<std::thread> pool;
      for (unsigned t = 0; t < threads; ++t)
        pool.emplace_back([&, t] {
          for (std::size_t i = t; i < lines.size(); i += threads) counts[t] += tok.encode(lines[i], true).size();
        });
      for (auto& th : pool) th.join();
      if (r > 0) batch.push_back(seconds_since(t0));
      line_tokens = 0;
      for (auto c : counts) line_tokens += c;
    }

    const Stats w = stats(whole), b = stats(batch);
    const double mb = static_cast<double>(text.size()) / 1e6;
    std::cout << fmt::format("quantgate tokenizer: {}\n", tok.summary());
    std::cout << fmt::format("load: {:.3f} s\n", load_s);
    std::cout << fmt::format("whole file, one thread: best {:.3f} s, median {:.3f} s ({:.2f} MB/s, {:.3f} Mtok/s); {} ids, fnv64 {:016x}\n",
                             w.best, w.median, mb / w.best, static_cast<double>(ids.size()) / w.best / 1e6, ids.size(), fnv64(ids));
    std::cout << fmt::format("lines on {} threads: best {:.3f} s, median {:.3f} s ({} lines, {} ids)\n", threads, b.best, b.median,
                             lines.size(), line_tokens);
    std::cout << fmt::format(
        "{{\"tokenizer\": \"{}\", \"bytes\": {}, \"load_s\": {:.4f}, \"whole_best_s\": {:.4f}, \"whole_median_s\": {:.4f}, "
        "\"tokens\": {}, \"fnv64\": \"{:016x}\", \"lines_threads\": {}, \"lines_best_s\": {:.4f}, \"lines_median_s\": {:.4f}}}\n",
        argv[1], text.size(), load_s, w.best, w.median, ids.size(), fnv64(ids), threads, b.best, b.median);
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 2;
  }
  return 0;
}
