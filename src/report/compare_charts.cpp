#include "report/compare_charts.h"

#include <fmt/format.h>

#include <cmath>
#include <fstream>
#include <set>
#include <sstream>

#include "common/error.h"
#include "report/run_program.h"

namespace qg::report {

namespace {

namespace fs = std::filesystem;

// A gnuplot single-quoted string: no escapes inside except '' for a quote.
std::string gp_quote(const std::string& s) {
  std::string out = "'";
  for (char ch : s) out += ch == '\'' ? std::string("''") : std::string(1, ch);
  return out + "'";
}

// A double-quoted data-file column (labels may hold spaces); quotes inside are dropped.
std::string dat_quote(const std::string& s) {
  std::string out = "\"";
  for (char ch : s)
    if (ch != '"' && ch != '\n') out += ch;
  return out + "\"";
}

std::string kl_bin_label(const KlBin& b) {
  if (!b.lo) return "<0";
  if (!b.hi) return fmt::format(">={:g}", *b.lo);
  return fmt::format("[{:g},{:g})", *b.lo, *b.hi);
}

void write_file(const fs::path& p, const std::string& text) {
  std::ofstream out(p, std::ios::binary);
  out << text;
  if (!out) throw Error("cannot write chart file", {.file = p.string()});
}

std::string read_tail(const fs::path& p, std::size_t max_chars) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  return s.size() > max_chars ? s.substr(s.size() - max_chars) : s;
}

// Common header: SVG at a fixed size, white background, labels taken literally (no enhanced-text markup).
std::string script_header(const fs::path& svg, const std::string& title) {
  return fmt::format(
      "set terminal svg size 900,520 dynamic noenhanced font 'sans,12' background rgb 'white'\n"
      "set output {}\nset title {}\nset grid\nset key outside right top\n",
      gp_quote(svg.string()), gp_quote(title));
}

struct Chart {
  std::string name, title, data, script_body;  // script_body plots from the data file named {dat}
};

std::optional<Chart> kl_chart(const Comparison& c) {
  Chart ch{"kl", "KL distribution per token", "", ""};
  std::vector<std::string> plots;
  int block = 0;
  for (const auto& r : c.rows) {
    if (!r.kl || r.kl->histogram.empty()) continue;
    std::int64_t total = 0;
    for (const auto& b : r.kl->histogram) total += b.count;
    ch.data += fmt::format("# {}: share of scored tokens per KL bin\n", r.label);
    for (std::size_t i = 0; i < r.kl->histogram.size(); ++i) {
      const auto& b = r.kl->histogram[i];
      ch.data += fmt::format("{} {:.9g} {}\n", i, total ? 100.0 * static_cast<double>(b.count) / static_cast<double>(total) : 0.0,
                             dat_quote(kl_bin_label(b)));
    }
    ch.data += "\n\n";  // two blank lines: gnuplot's index separator
    plots.push_back(fmt::format("{{dat}} index {} using 1:2:xtic(3) with linespoints pt 7 ps 0.8 lw 2 title {}", block++,
                                gp_quote(r.label)));
  }
  if (plots.empty()) return std::nullopt;
  ch.script_body = "set xlabel 'per-token KL(P_ref || Q_model), nats'\nset ylabel '% of scored tokens'\nset yrange [0:*]\n"
                   "set xtics rotate by 30 right\nplot ";
  for (std::size_t i = 0; i < plots.size(); ++i) ch.script_body += (i ? ", \\\n     " : "") + plots[i];
  ch.script_body += "\n";
  return ch;
}

std::optional<Chart> ttft_chart(const Comparison& c) {
  Chart ch{"ttft", fmt::format("TTFT CDF (concurrency {})", c.concurrency.value_or(0)), "", ""};
  std::vector<std::string> plots;
  int block = 0;
  for (const auto& r : c.rows) {
    if (!r.bench || r.bench->ttft_cdf.empty()) continue;
    ch.data += fmt::format("# {}: TTFT ms, fraction of requests{}\n", r.label,
                           r.bench->cdf_from_percentiles ? " (from the percentiles)" : "");
    for (const auto& p : r.bench->ttft_cdf) ch.data += fmt::format("{:.9g} {:.9g}\n", p.ms, p.fraction);
    ch.data += "\n\n";
    plots.push_back(fmt::format("{{dat}} index {} using 1:2 with linespoints pt 7 ps 0.6 lw 2 title {}", block++,
                                gp_quote(r.label + (r.bench->cdf_from_percentiles ? " (percentiles)" : ""))));
  }
  if (plots.empty()) return std::nullopt;
  ch.script_body = "set xlabel 'time to first token, ms'\nset ylabel 'fraction of requests'\nset yrange [0:1.02]\nplot ";
  for (std::size_t i = 0; i < plots.size(); ++i) ch.script_body += (i ? ", \\\n     " : "") + plots[i];
  ch.script_body += "\n";
  return ch;
}

std::optional<Chart> mmlu_chart(const Comparison& c) {
  Chart ch{"mmlu", "MMLU accuracy per category", "", ""};
  std::set<std::string> cats;
  std::vector<const CompareRow*> rows;
  for (const auto& r : c.rows)
    if (r.mmlu) {
      rows.push_back(&r);
      for (const auto& [g, _] : r.mmlu->groups) cats.insert(g);
    }
  if (rows.empty()) return std::nullopt;
  std::vector<std::string> cat_list(cats.begin(), cats.end());
  cat_list.push_back("all");
  std::vector<std::string> plots;
  // models side by side within a category: offsets spread over 0.5 of the unit gap
  const double step = rows.size() > 1 ? 0.5 / static_cast<double>(rows.size() - 1) : 0.0;
  for (std::size_t m = 0; m < rows.size(); ++m) {
    const CompareRow& r = *rows[m];
    const double offset = rows.size() > 1 ? -0.25 + step * static_cast<double>(m) : 0.0;
    ch.data += fmt::format("# {}: x, accuracy %, stderr %, category\n", r.label);
    for (std::size_t i = 0; i < cat_list.size(); ++i) {
      std::pair<double, double> v{r.mmlu->acc, r.mmlu->acc_stderr};
      if (cat_list[i] != "all") {
        const auto it = r.mmlu->groups.find(cat_list[i]);
        if (it == r.mmlu->groups.end()) continue;
        v = it->second;
      }
      if (!std::isfinite(v.first)) continue;
      ch.data += fmt::format("{:.4f} {:.9g} {:.9g} {}\n", static_cast<double>(i) + offset, 100 * v.first,
                             std::isfinite(v.second) ? 100 * v.second : 0.0, dat_quote(cat_list[i]));
    }
    ch.data += "\n\n";
    plots.push_back(fmt::format("{{dat}} index {} using 1:2:3 with yerrorbars pt 7 ps 0.9 lw 2 title {}", m, gp_quote(r.label)));
  }
  std::string xtics;
  for (std::size_t i = 0; i < cat_list.size(); ++i) xtics += fmt::format("{}{} {}", i ? ", " : "", gp_quote(cat_list[i]), i);
  ch.script_body = fmt::format("set xlabel 'MMLU category (error bars: ± stderr)'\nset ylabel 'accuracy, %'\n"
                               "set xrange [-0.6:{}]\nset xtics ({})\nplot ",
                               static_cast<double>(cat_list.size()) - 0.4, xtics);
  for (std::size_t i = 0; i < plots.size(); ++i) ch.script_body += (i ? ", \\\n     " : "") + plots[i];
  ch.script_body += "\n";
  return ch;
}

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  for (std::size_t pos = 0; (pos = s.find(from, pos)) != std::string::npos; pos += to.size()) s.replace(pos, from.size(), to);
  return s;
}

}  // namespace

ChartSet render_charts(const Comparison& c, const fs::path& out_md, const std::string& gnuplot) {
  ChartSet set;
  const fs::path dir = out_md.has_parent_path() ? out_md.parent_path() : fs::path(".");
  const std::string stem = out_md.stem().string();
  bool gnuplot_missing = false;
  for (auto make : {kl_chart, ttft_chart, mmlu_chart}) {
    const std::optional<Chart> ch = make(c);
    if (!ch) continue;
    const fs::path dat = dir / fmt::format("{}.{}.dat", stem, ch->name), gp = dir / fmt::format("{}.{}.gp", stem, ch->name),
                   svg = dir / fmt::format("{}.{}.svg", stem, ch->name), log = dir / fmt::format("{}.{}.log", stem, ch->name);
    write_file(dat, ch->data);
    write_file(gp, script_header(svg, ch->title) + replace_all(ch->script_body, "{dat}", gp_quote(dat.string())));
    if (gnuplot_missing) continue;  // still write every chart's data and script, for a later run by hand
    const std::optional<int> rc = run_program({gnuplot, gp.string()}, log);
    if (!rc) {
      gnuplot_missing = true;
      set.warnings.push_back(fmt::format("'{}' could not be run (install gnuplot: Debian package gnuplot-nox); the data "
                                         "and scripts are beside the markdown",
                                         gnuplot));
      std::error_code ec;
      fs::remove(log, ec);
      continue;
    }
    if (*rc != 0 || !fs::exists(svg))
      throw Error(fmt::format("gnuplot exited with status {} on this chart script: {}", *rc, read_tail(log, 600)),
                  {.file = gp.string()});
    set.charts.push_back({ch->title, svg.filename().string()});
    std::error_code ec;
    if (fs::file_size(log, ec) == 0) fs::remove(log, ec);  // keep the log only when gnuplot said something
  }
  return set;
}

}  // namespace qg::report
