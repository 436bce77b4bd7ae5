#pragma once
// Defences for JSON text from outside (the vendor, the wire): a nesting limit checked before any recursive
// code sees the text, and a repair of invalid UTF-8 and lone surrogate escapes that would make a whole page
// unreadable.
#include <cstddef>
#include <string>
#include <string_view>

namespace etp2s {

inline constexpr int kMaxVendorJsonDepth = 64;  // the v1 envelope nests 6–8 levels; explanations a few more

// True if no object/array in `text` nests deeper than `max_depth` (strings and escapes respected).
bool json_depth_within(std::string_view text, int max_depth);

// Replaces every invalid UTF-8 sequence with U+FFFD and every unpaired \uD800–\uDFFF escape with \uFFFD, so
// that a strict parser accepts the text. Returns how many places were repaired (0: `text` is unchanged).
std::size_t repair_json_text(std::string& text);

}  // namespace etp2s
