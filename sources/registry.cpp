#include <map>
#include <mutex>

#include "sources/lookups.h"
#include "sources/quarantine.h"
#include "sources/source.h"
#include "sources/trace.h"
#include "sources/v1_alerts.h"

namespace etp2s {
namespace {

struct Registry {
  std::mutex mu;
  std::map<std::string, SourceFactory> sources{
      {kV1AlertsSource, [](const SourceContext& c) { return std::make_unique<V1AlertsSource>(c); }},
      {kDetailsSource, make_details_source},
      {kTraceAlertedSource, make_trace_alerted_source},
      {kTraceAllSource, make_trace_all_source},
      {kQuarantineSource, make_quarantine_source}};
  std::map<std::string, std::vector<std::function<std::unique_ptr<EnrichmentStep>()>>> steps;
};
Registry& registry() {
  static Registry r;
  return r;
}

}  // namespace

void register_source(const std::string& name, SourceFactory factory) {
  std::lock_guard lock(registry().mu);
  registry().sources[name] = std::move(factory);
}

std::unique_ptr<Source> make_source(const std::string& name, const SourceContext& ctx) {
  SourceFactory f;
  {
    std::lock_guard lock(registry().mu);
    auto it = registry().sources.find(name);
    if (it == registry().sources.end()) return nullptr;
    f = it->second;
  }
  return f(ctx);
}

std::vector<std::string> enabled_sources(const Config& c) {
  return c.sources;  // load_config derives them from ETP_DETAILS, ETP_TRACE and ETP_QUARANTINE
}

bool lookup_wanted(const Config& c, const Lookup& l, bool steady_state) {
  if (l.queue == kDetailsQueue) return c.etp_details == "all" || (c.etp_details == "new" && steady_state);
  if (l.queue == kTraceQueue) return c.etp_trace == "alerted";
  return false;
}

void register_enrichment(const std::string& source,
                         std::function<std::unique_ptr<EnrichmentStep>()> factory) {
  std::lock_guard lock(registry().mu);
  registry().steps[source].push_back(std::move(factory));
}

std::vector<std::unique_ptr<EnrichmentStep>> make_enrichments(const std::string& source) {
  std::vector<std::unique_ptr<EnrichmentStep>> out;
  std::lock_guard lock(registry().mu);
  for (const auto& f : registry().steps[source]) out.push_back(f());
  return out;
}

}  // namespace etp2s
