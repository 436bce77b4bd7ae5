#pragma once
// The v1 alert summary (POST /api/v1/alerts) as a source: partitions are time × traffic type, pages are read
// with the cursor pager (common/pager.h, docs/pager.md), and each alert version becomes one row of
// FireEyeETPAlerts_CL. This file and v1_alerts.cpp are the only places that know the v1 alert fields.
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

 protected:
  PageFetch fetch() const override;
  RecordRows rows() const override;

 private:
  std::shared_ptr<EtpClient> client_;
  RowLimits limits_;
};

}  // namespace etp2s
