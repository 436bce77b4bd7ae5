#include "shipper/shipper.h"

#include <chrono>
#include <thread>

#include "common/backoff.h"
#include "common/log.h"

namespace etp2s {

Row row_for(const Alert& alert, const OrderedJson* details, const Destination& destination) {
  Row row = build_row(alert, details, destination.row_limits());
  // 29 columns of up to 64 KB could exceed one call: shrink every field further rather than fail.
  std::size_t limit = destination.row_limits().field_bytes;
  while (row.json.size() + 2 > destination.max_body_bytes() && limit > 1024) {
    limit /= 4;
    row = build_row(alert, details, RowLimits{limit});
  }
  return row;
}

Shipper::Shipper(Destination& destination, ShipperHooks hooks)
    : dest_(destination), hooks_(std::move(hooks)) {
  if (!hooks_.sleep) {
    hooks_.sleep = [this](double s) {
      // Sleep in slices so that a stop request is noticed promptly.
      auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(s);
      while (std::chrono::steady_clock::now() < until && !hooks_.stop_requested()) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
    };
  }
}

std::vector<std::pair<std::size_t, std::size_t>> Shipper::pack(const std::vector<Row>& rows,
                                                               std::size_t max_bytes) {
  std::vector<std::pair<std::size_t, std::size_t>> out;
  std::size_t begin = 0, size = 2;  // "[" and "]"
  for (std::size_t i = 0; i < rows.size(); ++i) {
    std::size_t add = rows[i].json.size() + (i > begin ? 1 : 0);
    if (i > begin && size + add > max_bytes) {
      out.emplace_back(begin, i);
      begin = i;
      size = 2;
      add = rows[i].json.size();
    }
    size += add;
  }
  if (begin < rows.size()) out.emplace_back(begin, rows.size());
  return out;
}

std::string Shipper::body(const std::vector<Row>& rows, std::size_t begin, std::size_t end) {
  std::size_t n = 2;
  for (std::size_t i = begin; i < end; ++i) n += rows[i].json.size() + 1;
  std::string b;
  b.reserve(n);
  b.push_back('[');
  for (std::size_t i = begin; i < end; ++i) {
    if (i > begin) b.push_back(',');
    b += rows[i].json;
  }
  b.push_back(']');
  return b;
}

DeliveryReport Shipper::deliver(const std::vector<Row>& rows) {
  DeliveryReport report;
  for (auto [begin, end] : pack(rows, dest_.max_body_bytes())) {
    if (!send(rows, begin, end, report)) break;
  }
  return report;
}

bool Shipper::send(const std::vector<Row>& rows, std::size_t begin, std::size_t end, DeliveryReport& report) {
  const std::string b = body(rows, begin, end);
  Backoff backoff(0.5, 60);
  for (;;) {
    if (hooks_.stop_requested()) {
      report.interrupted = true;
      return false;
    }
    auto start = std::chrono::steady_clock::now();
    PostResult p = dest_.post(b);
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    ++report.batches;
    if (hooks_.on_post) hooks_.on_post(p, end - begin, secs);
    nlohmann::json fields = {{"destination", dest_.name()}, {"status", p.status},
                             {"rows", end - begin},         {"bytes", b.size()},
                             {"request_id", p.request_id},  {"seconds", secs}};
    switch (p.outcome) {
      case PostOutcome::Delivered:
        log::debug("ship.delivered", fields);
        for (std::size_t i = begin; i < end; ++i) report.delivered.push_back(rows[i].version_key);
        return true;
      case PostOutcome::TooLarge:
        log::warn("ship.too_large", fields);
        if (end - begin == 1) {
          // One row Azure will never take: keep it aside (dead letter) so the pipe does not stall.
          log::error("ship.dead_letter", {{"version", rows[begin].version_key}, {"why", p.message}});
          if (hooks_.dead_letter) hooks_.dead_letter(rows[begin], p.message);
          report.dead_lettered.push_back(rows[begin].version_key);
          return true;
        }
        {
          std::size_t mid = begin + (end - begin) / 2;
          return send(rows, begin, mid, report) && send(rows, mid, end, report);
        }
      case PostOutcome::Fatal:
        fields["error"] = p.message;
        log::error("ship.fatal", fields);
        report.fatal = p.message;
        return false;
      case PostOutcome::Retry: {
        ++report.retries;
        double wait = backoff.next(p.retry_after_s);
        fields["error"] = p.message;
        fields["wait_s"] = wait;
        fields["attempt"] = backoff.attempts();
        log::warn("ship.retry", fields);
        hooks_.sleep(wait);
        break;
      }
    }
  }
}

}  // namespace etp2s
