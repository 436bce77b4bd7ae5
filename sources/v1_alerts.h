#pragma once
// The alert source: partitions are time × traffic type (× domain with ETP_API=v2 and ETP_DOMAINS). With v1
// (POST /api/v1/alerts) pages are read with the cursor pager (common/pager.h, docs/pager.md) and each alert
// version becomes one row of FireEyeETPAlerts_CL; with v2 the search reader of sources/v2_alerts.h reads the
// same partitions. ETP_API=auto reads v1 and, when the vendor answers v1 as retired, goes on through v2 from
// the same place. This file and v1_alerts.cpp are the only places that know the v1 alert fields. (The name
// "alerts-v1" stays: plans in Redis carry it.)
#include "common/etp_model.h"
#include "sources/paged.h"

namespace etp2s {

inline constexpr const char* kV1AlertsSource = "alerts-v1";
inline constexpr const char* kAlertsTable = "FireEyeETPAlerts_CL";

// One alert version → one row (columns in sources/schema/FireEyeETPAlerts_CL.json).
Row alert_row(const Alert& alert, const RowLimits& limits = kLogsIngestionLimits);

class V1AlertsSource final : public PagedSource {
 public:
  explicit V1AlertsSource(const SourceContext& ctx);
  std::string name() const override { return kV1AlertsSource; }
  std::string stream() const override { return kAlertsTable; }
  std::string route() const override { return "alerts"; }
  std::vector<Partition> plan(const PlanWindow& window) const override;
  std::unique_ptr<PageReader> open(const ReadScope& scope) override;

  // v1 answered as retired (ETP_API=auto): said loudly (log, metric, Redis for status and the other
  // fetchers).
  void on_v1_retired(const std::string& detail);
  std::unique_ptr<PageReader> open_v2(const ReadScope& scope);
  // A partition whose cursor is further behind now than this is still catching up (the overlap, at least 10
  // min).
  Micros catch_up_margin_us() const {
    return std::max<Micros>(600, config_.etp_overlap_s) * kMicrosPerSecond;
  }

 protected:
  PageFetch fetch() const override;
  RecordRows rows() const override;

 private:
  bool v1_retired();
  const Config& config_;
  std::shared_ptr<EtpClient> client_;
  RowLimits limits_;
  Redis* redis_;
  std::string prefix_;
};

// Whether a v1 alert belongs to one of `domains` (inbound: a recipient's domain; outbound: the sender's); an
// alert without an address is kept (v1 documents no domain filter: see docs/design.md).
bool in_domains(const Alert& alert, const std::vector<std::string>& domains);

}  // namespace etp2s
