#pragma once
// AlertHistory: the record of alert evaluations and notification deliveries, kept as metadata
// documents (as the key-state history is) and read by the `system` workspace as the tables
// AlertEvaluations and AlertDeliveries (AddHistoryTables).
//
// Record() only queues: a writer thread commits whatever has queued in one transaction (group
// commit), so neither an evaluation worker nor the webhook sender's network thread waits for
// the disk. Each kind keeps its newest `max_per_kind` entries (older ones are deleted as new
// ones are written), which bounds both the database and what a system query loads.
// A crash may lose entries not yet committed (at most what queued since the last commit).
// Thread safety: safe for concurrent use.
#include <deque>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "alerts/evaluator.h"
#include "alerts/webhook_sender.h"
#include "base/mutex.h"
#include "kql/semantic/catalog.h"
#include "meta/metadata_store.h"

namespace cmk::alerts {

inline constexpr char kEvaluationKind[] = "alert-evaluation";
inline constexpr char kDeliveryKind[] = "alert-delivery";

class AlertHistory {
 public:
  static Result<std::unique_ptr<AlertHistory>> Open(meta::MetadataStore* store,
                                                    size_t max_per_kind = 50'000);
  ~AlertHistory();
  void Record(const EvaluationRecord& r);
  void Record(const DeliveryRecord& r);
  // Waits until everything recorded so far is committed; the first write error since the last
  // Flush, if any.
  Status Flush();

 private:
  struct Entry {
    int kind;  // 0 evaluation, 1 delivery
    std::string id, body;
  };
  AlertHistory(meta::MetadataStore* store, size_t max_per_kind);
  void Enqueue(int kind, TimePoint time, std::string body);
  void Loop();

  meta::MetadataStore* store_;
  size_t max_per_kind_;
  Mutex mu_;
  CondVar cv_, flushed_cv_;
  std::vector<Entry> queue_ GUARDED_BY(mu_);
  uint64_t queued_ GUARDED_BY(mu_) = 0, written_ GUARDED_BY(mu_) = 0, seq_ GUARDED_BY(mu_) = 0;
  Status error_ GUARDED_BY(mu_);
  bool stop_ GUARDED_BY(mu_) = false;
  std::deque<std::string> ids_[2];  // writer thread only (and Open): stored ids, oldest first
  std::thread writer_;
};

// Adds AlertEvaluations and AlertDeliveries, read from `store`, to `catalog`.
Status AddHistoryTables(meta::DocumentOps* store, kql::InMemoryCatalog& catalog);

}  // namespace cmk::alerts
