#pragma once
// The quarantine (POST /api/v1/quarantine, its own route and budget) as a source. The vendor answers newest
// first, at most 200 records, dates with whole seconds, both ends inclusive. So a partition is read
// *downwards*:
// - a backfill partition [start, end) from its top to its floor, the cursor being how far down it got;
// - the live partition from "now" down to its high-water mark H (the newest quarantine time completely read);
// the
//   new mark (the newest time seen in this poll) is committed only with the page that reaches H, so a crash
//   between pages loses nothing: the next poll reads from now down to the old H again and the dedupe marks
//   drop what was delivered;
// - a release changes a record without changing its quarantine time: every third poll also sweeps the last
//   ETP_QUARANTINE_SWEEP_H hours downwards, two pages at a time, so releases arrive as new versions.
// This file and quarantine.cpp are the only places that know the quarantine's field names.
#include "sources/source.h"

namespace etp2s {

inline constexpr const char* kQuarantineSource = "quarantine-v1";
inline constexpr const char* kQuarantineTable = "FireEyeETPQuarantine_CL";

// Where a downward read stands (the source's cursor text, "q1;..." — see quarantine.cpp).
struct QuarantineCursor {
  bool live = false;          // live: `floor` is the high-water mark; the finished poll moves it up to `mark`
  Micros floor = 0;           // read down to here (inclusive)
  std::optional<Micros> top;  // read from here down (inclusive); none: from now
  std::optional<Micros> mark;  // live: the newest quarantine time seen in this poll so far
  std::string encode() const;
  static std::optional<QuarantineCursor> decode(const std::string& text);
};

// One quarantine record version → one row; nullopt if the record is unusable (not an object, no time, no id).
std::optional<Row> quarantine_row(const OrderedJson& record, const RowLimits& limits);

std::unique_ptr<Source> make_quarantine_source(const SourceContext& ctx);

}  // namespace etp2s
