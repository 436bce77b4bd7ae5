#include "common/encoding.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include <cctype>
#include <vector>

namespace etp2s {

std::string base64_encode(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3), '\0');
  int n =
      EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                      reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

std::string base64url_encode(std::string_view bytes) {
  std::string s = base64_encode(bytes);
  while (!s.empty() && s.back() == '=') s.pop_back();
  for (char& c : s) {
    if (c == '+')
      c = '-';
    else if (c == '/')
      c = '_';
  }
  return s;
}

namespace {
bool is_base64_char(unsigned char c) {
  return std::isalnum(c) || c == '+' || c == '/' || c == '-' || c == '_';
}
}  // namespace

// Standard or URL-safe alphabet, padding optional but only at the end (at most two '='). Anything else is
// nullopt: "========" once underflowed the length computation below and aborted.
std::optional<std::string> base64_decode(std::string_view text) {
  std::string in(text);
  std::size_t pad = 0;
  while (!in.empty() && in.back() == '=') in.pop_back(), ++pad;
  if (pad > 2 || in.size() % 4 == 1 || (pad > 0 && (in.size() + pad) % 4 != 0)) return std::nullopt;
  for (char& c : in) {
    if (!is_base64_char(static_cast<unsigned char>(c))) return std::nullopt;
    if (c == '-')
      c = '+';
    else if (c == '_')
      c = '/';
  }
  if (in.empty()) return pad == 0 ? std::optional<std::string>(std::string()) : std::nullopt;
  std::size_t bytes = in.size() * 3 / 4;  // what the unpadded characters carry
  while (in.size() % 4) in.push_back('=');
  std::string out(in.size() / 4 * 3, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(in.data()), static_cast<int>(in.size()));
  if (n < 0) return std::nullopt;
  out.resize(bytes);
  return out;
}

std::string hmac_sha256(std::string_view key, std::string_view message) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(message.data()), message.size(), md, &len);
  return std::string(reinterpret_cast<char*>(md), len);
}

std::string sha256(std::string_view bytes) {
  unsigned char md[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), md);
  return std::string(reinterpret_cast<char*>(md), sizeof md);
}

std::string hex(std::string_view bytes) {
  static const char* kHex = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 15]);
  }
  return out;
}

}  // namespace etp2s
