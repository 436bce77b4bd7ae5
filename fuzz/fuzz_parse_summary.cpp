// Bad input never crashes the parser: any bytes give a page or an error, and the invariants hold.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "common/etp_model.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view body(reinterpret_cast<const char*>(data), size);
  auto page = etp2s::parse_summary(body, "inbound");
  if (page.ok()) {
    for (const auto& a : page->alerts) {
      if (a.id.empty()) __builtin_trap();  // records without an id must be rejected, not passed on
      (void)etp2s::version_key(a);
      (void)etp2s::format_iso_ms(a.last_modified_us);
    }
  }
  (void)etp2s::describe(etp2s::parse_vendor_errors(body));
  (void)etp2s::parse_time(body);
  return 0;
}
