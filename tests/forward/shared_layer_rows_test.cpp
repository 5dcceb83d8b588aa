// The plan of rows the KV-shared layers run (forward/shared_layer_rows.h), checked against a direct enumeration:
// a span keeps its rows from the last multiple of `align` at or before its first needed row, spans with no needed
// row disappear, kept spans are renumbered in order and start at the position of their first kept row.
#include "forward/shared_layer_rows.h"

#include <vector>

#include "catch.h"
#include "common/error.h"

using namespace qg;

TEST_CASE("shared-layer rows: aligned suffixes of each span, renumbered", "[forward]") {
  // Three sequences in one 300-row step: a 150-row span from position 0, a 100-row continuation of a sequence from
  // position 64 (cache slot 1000), 50 rows of a third.
  const std::vector<AttentionSpan> spans{{0, 150, 0, 0}, {150, 100, 64, 1000}, {250, 50, 0, 2000}};
  const std::vector<std::int64_t> needed{75, 0, 50};  // second half of the first; all of the second; none of the third
  const SharedLayerRows plan = plan_shared_layer_rows(spans, needed, 64);
  // First span: 75 rounds down to 64, so rows 64..149 stay (86 rows from position 64); second: all 100 rows.
  REQUIRE(plan.spans.size() == 2);
  CHECK(plan.spans[0] == AttentionSpan{0, 86, 64, 0});
  CHECK(plan.spans[1] == AttentionSpan{86, 100, 64, 1000});
  REQUIRE(plan.keep.size() == 186);
  for (std::int32_t i = 0; i < 86; ++i) CHECK(plan.keep[static_cast<std::size_t>(i)] == 64 + i);
  for (std::int32_t i = 0; i < 100; ++i) CHECK(plan.keep[static_cast<std::size_t>(86 + i)] == 150 + i);
  CHECK(plan.dropped(300) == 114);
  CHECK(plan.compacted_row(64) == 0);
  CHECK(plan.compacted_row(149) == 85);
  CHECK(plan.compacted_row(150) == 86);
  CHECK_THROWS_AS(plan.compacted_row(63), Error);   // dropped: before the aligned start
  CHECK_THROWS_AS(plan.compacted_row(260), Error);  // dropped: a span without logits
}

TEST_CASE("shared-layer rows: every alignment keeps exactly the rows a direct count keeps", "[forward]") {
  for (std::int64_t align : {1, 7, 64}) {
    for (std::int64_t n : {1, 63, 64, 65, 200}) {
      for (std::int64_t need = -3; need <= n + 2; ++need) {
        const std::vector<AttentionSpan> spans{{0, n, 10, 5}};
        const std::vector<std::int64_t> needed{need};
        const SharedLayerRows plan = plan_shared_layer_rows(spans, needed, align);
        const std::int64_t clamped = need < 0 ? 0 : need > n ? n : need;
        const std::int64_t start = clamped == n ? n : clamped / align * align;
        INFO("align " << align << " rows " << n << " needed from " << need);
        REQUIRE(static_cast<std::int64_t>(plan.keep.size()) == n - start);
        if (start < n) {
          CHECK(plan.keep.front() == start);
          CHECK(plan.keep.back() == n - 1);
          CHECK(plan.spans.at(0) == AttentionSpan{0, n - start, 10 + start, 5});
          CHECK(start <= clamped);  // never drops a needed row
        } else {
          CHECK(plan.spans.empty());
        }
      }
    }
  }
}

TEST_CASE("shared-layer rows: malformed inputs are refused", "[forward]") {
  const std::vector<AttentionSpan> gap{{0, 10, 0, 0}, {12, 5, 0, 100}};  // rows 10, 11 belong to no span
  const std::vector<std::int64_t> two{0, 0}, one{0};
  CHECK_THROWS_AS(plan_shared_layer_rows(gap, two, 64), Error);
  const std::vector<AttentionSpan> ok{{0, 10, 0, 0}};
  CHECK_THROWS_AS(plan_shared_layer_rows(ok, two, 64), Error);  // one needed row per span
  CHECK_THROWS_AS(plan_shared_layer_rows(ok, one, 0), Error);   // align must be positive
}
