#pragma once
// Every time in the vendor's API is UTC, spelled in several ways; we carry microseconds since the epoch.
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace etp2s {

using Micros = std::int64_t;
constexpr Micros kMicrosPerSecond = 1'000'000;
constexpr Micros kMicrosPerDay = 86'400 * kMicrosPerSecond;

// Accepts: 2022-11-22T11:33:52.037 (no zone = UTC), 2022-11-22T11:33:51.961608+00, ...Z, ...+0000Z,
// RFC 3339 (whole or fractional seconds, Z or +hh:mm / -hh:mm / +hhmm), a space instead of 'T', and
// date-only 2022-11-22. Returns nullopt for anything else (never throws).
std::optional<Micros> parse_time(std::string_view text);

// 2022-11-22T11:33:52.037Z — ISO 8601 UTC with milliseconds (rows shipped to Sentinel).
std::string format_iso_ms(Micros t);
// 2022-11-22T11:33:52.037 — the vendor's documented cursor format. Floors to the millisecond, which is
// safe for an inclusive cursor (it can only re-read, never skip).
std::string format_vendor(Micros t);
// Sun, 22 Nov 2026 13:45:00 GMT — RFC 1123 (x-ms-date).
std::string format_rfc1123(Micros t);
// Parses an RFC 1123 date (Retry-After, x-ms-date).
std::optional<Micros> parse_rfc1123(std::string_view text);
// yyyy-mm-dd of t (UTC).
std::string format_day(Micros t);

Micros now_micros();

// The time a partition's cursor stands at: its leading time (a source may add its own state after a '~', as
// the v2 alert search does with its opaque search_after).
std::optional<Micros> cursor_time(std::string_view cursor);

// Injected wherever time matters, so tests can move it.
using Clock = std::function<Micros()>;

}  // namespace etp2s
