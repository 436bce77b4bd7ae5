#pragma once
#include <optional>
#include <string>
#include <string_view>

namespace etp2s {

std::string base64_encode(std::string_view bytes);
std::string base64url_encode(std::string_view bytes);  // no padding (JWT)
std::optional<std::string> base64_decode(std::string_view text);
std::string hmac_sha256(std::string_view key, std::string_view message);
std::string sha256(std::string_view bytes);
std::string hex(std::string_view bytes);

}  // namespace etp2s
