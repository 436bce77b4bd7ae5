#pragma once
// What the sources paged oldest first by a modification time share (the v1 alert summary and the whole
// message trace): partitions of time × traffic type, the late-arrival sweep, and a reader that runs the
// cursor pager (common/pager.h) and hands each new record to the source's row builder.
#include <functional>

#include "common/pager.h"
#include "sources/source.h"

namespace etp2s {

// The window cut into partitions per traffic type, twice as many as fetchers (at least one hour each), the
// last of each traffic type open-ended (steady state). Ids: `<id_prefix><traffic type>-NN`.
std::vector<Partition> plan_time_partitions(const PlanWindow& window, const std::string& source,
                                            const std::string& id_prefix);

// The late-arrival sweep: re-read [head - overlap, head), resuming at `sweep_cursor` inside that range.
std::optional<ReadScope> late_sweep_scope(const std::string& traffic_type, const std::string& head_cursor,
                                          const std::string& sweep_cursor, int overlap_s);

// The held-back head poll: from head - overlap on, never reporting a cursor below the head.
std::optional<ReadScope> held_back_head_scope(const std::string& traffic_type, const std::string& head_cursor,
                                              int overlap_s);

// One page request of the cursor pager's query (made under a budget permit by the caller).
using PageFetch = std::function<Result<SummaryPage, EtpError>(const SummaryQuery&)>;
// Turns one new record of a page into rows (and lookups) of the SourcePage.
using RecordRows = std::function<void(const Alert&, SourcePage&)>;

// `floor_cursor` (ReadScope::floor_cursor): the page cursor reported is never below it.
std::unique_ptr<PageReader> open_cursor_reader(PageFetch fetch, RecordRows rows, PagerOptions options,
                                               const std::string& cursor,
                                               const std::string& floor_cursor = "");

}  // namespace etp2s
