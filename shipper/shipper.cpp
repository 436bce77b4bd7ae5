#include "shipper/shipper.h"

#include <chrono>
#include <thread>

#include "common/backoff.h"
#include "common/log.h"
#include "common/state.h"

namespace etp2s {

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

Shipment Shipper::deliver(const std::vector<Row>& rows) {
  Shipment report;
  for (auto [begin, end] : pack(rows, dest_.max_body_bytes())) {
    if (!send(rows, begin, end, report)) break;
  }
  return report;
}

bool Shipper::send(const std::vector<Row>& rows, std::size_t begin, std::size_t end, Shipment& report) {
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
    if (p.outcome == Outcome::Delivered) {
      log::debug("ship.delivered", fields);
      for (std::size_t i = begin; i < end; ++i) report.delivered.push_back(rows[i].key);
      return true;
    }
    if (p.too_large) return split(rows, begin, end, report, p.message);
    if (p.outcome == Outcome::Refused) {
      fields["error"] = p.message;
      // No HTTP answer (the token was refused), 401 or 403: the identity; anything else: the request.
      bool identity = p.status == 0 || p.status == 401 || p.status == 403;
      report.fatal_code = identity ? fatal_code::kSentinelAuth : fatal_code::kSentinelRefused;
      fields["code"] = report.fatal_code;
      log::error("ship.fatal", fields);
      report.fatal = p.message;
      return false;
    }
    ++report.retries;
    double wait = backoff.next(p.retry_after_s);
    fields["error"] = p.message;
    fields["wait_s"] = wait;
    fields["attempt"] = backoff.attempts();
    log::warn("ship.retry", fields);
    hooks_.sleep(wait);
  }
}

// 413: halves are sent on their own; a single row Azure will never take is set aside (dead letter) so the
// pipe does not stall — if it can be kept; otherwise it stays undelivered and its page is redone later.
bool Shipper::split(const std::vector<Row>& rows, std::size_t begin, std::size_t end, Shipment& report,
                    const std::string& why) {
  log::warn("ship.too_large", {{"destination", dest_.name()}, {"rows", end - begin}});
  if (end - begin > 1) {
    std::size_t mid = begin + (end - begin) / 2;
    return send(rows, begin, mid, report) && send(rows, mid, end, report);
  }
  log::error("ship.dead_letter", {{"key", rows[begin].key}, {"why", why}});
  if (hooks_.dead_letter && hooks_.dead_letter(rows[begin], why))
    report.dead_lettered.push_back(rows[begin].key);
  return true;
}

}  // namespace etp2s
