#pragma once
// Test helper: a vendor client with an API key, and a source's reader paged until it finishes.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "sources/source.h"

namespace etp2s::testing {

inline std::shared_ptr<EtpClient> client_for(const std::string& base_url, const std::string& key) {
  return std::make_shared<EtpClient>(EtpClientOptions{base_url, HttpOptions{}},
                                     std::make_shared<ApiKeyAuth>(Secret(key)));
}

struct Read {
  std::vector<Row> rows;
  std::vector<Gap> gaps;
  int pages = 0;
  std::string cursor;
  bool caught_up = false;
};

// Pages a reader until it finishes (at most `max_pages`).
inline Read read_all(PageReader& reader, int max_pages = 100) {
  Read out;
  for (; out.pages < max_pages; ++out.pages) {
    auto page = reader.read_page();
    EXPECT_TRUE(page.ok()) << (page ? "" : page.error().message);
    if (!page) break;
    for (auto& r : page->rows) out.rows.push_back(std::move(r));
    if (page->gap) out.gaps.push_back(*page->gap);
    out.cursor = page->cursor;
    out.caught_up = page->caught_up;
    if (page->finished()) {
      ++out.pages;
      break;
    }
  }
  return out;
}

}  // namespace etp2s::testing
