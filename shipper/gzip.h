#pragma once
#include <optional>
#include <string>
#include <string_view>

namespace etp2s {

std::string gzip_compress(std::string_view data, int level = 6);
// nullopt if the input is not gzip or would inflate beyond max_out bytes.
std::optional<std::string> gzip_decompress(std::string_view data, std::size_t max_out);

}  // namespace etp2s
