#pragma once
// Test helper: page one traffic type to the end, retrying retryable failures at once (tests raise the
// stand-in's limit, so no budget is needed), and collect what the pager handed on.
#include <set>
#include <string>
#include <vector>

#include "common/pager.h"

namespace etp2s::testing {

struct Drained {
  std::vector<std::string> ids;  // in hand-on order
  std::vector<StuckCursor> stuck;
  std::vector<EtpError> retried;
  std::optional<EtpError> fatal;
  std::set<std::string> id_set() const { return {ids.begin(), ids.end()}; }
};

inline Drained drain(EtpClient& client, PagerOptions o, const std::string& start, int max_calls = 10000) {
  Drained d;
  CursorPager pager(std::move(o), start);
  for (int i = 0; i < max_calls; ++i) {
    auto page = client.summary(pager.next_query());
    if (!page) {
      if (page.error().fatal()) {
        d.fatal = page.error();
        return d;
      }
      d.retried.push_back(page.error());
      continue;
    }
    auto r = pager.accept(page.value());
    for (auto& a : r.alerts) d.ids.push_back(a.id);
    if (r.stuck) d.stuck.push_back(*r.stuck);
    if (r.finished()) return d;
  }
  ADD_FAILURE() << "pager did not finish within " << max_calls << " calls";
  return d;
}

}  // namespace etp2s::testing
