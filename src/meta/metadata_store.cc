#include "meta/metadata_store.h"

#include <functional>
#include <utility>

#include "base/encoding.h"

namespace cmk::meta {
namespace {

struct StmtFree {
  void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
};
using Stmt = std::unique_ptr<sqlite3_stmt, StmtFree>;

// The generation counter of a kind (MetadataStore::Generation).
size_t GenerationSlot(std::string_view kind, size_t slots) {
  return std::hash<std::string_view>()(kind) % slots;
}

Status SqlError(sqlite3* db, const std::string& what) {
  return Internal("metadata store: " + what + ": " + sqlite3_errmsg(db));
}

void Bind(sqlite3_stmt* s, int i, std::string_view v) {
  sqlite3_bind_text(s, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
}

std::string Column(sqlite3_stmt* s, int i) {
  const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s, i));
  return p ? std::string(p, static_cast<size_t>(sqlite3_column_bytes(s, i))) : std::string();
}

}  // namespace

// The statements, run with the store's mutex held by the caller.
class MetadataStore::Ops final : public DocumentOps {
 public:
  explicit Ops(sqlite3* db) : db_(db) {}

  Result<Stmt> Prepare(const char* sql) {
    sqlite3_stmt* s = nullptr;
    if (sqlite3_prepare_v2(db_, sql, -1, &s, nullptr) != SQLITE_OK) return SqlError(db_, "prepare");
    return Stmt(s);
  }

  Result<std::optional<Document>> Get(std::string_view kind, std::string_view id) override {
    ASSIGN_OR_RETURN(Stmt s, Prepare("SELECT id, body FROM docs WHERE kind = ?1 AND key = ?2"));
    Bind(s.get(), 1, kind);
    Bind(s.get(), 2, ToLower(id));
    int rc = sqlite3_step(s.get());
    if (rc == SQLITE_DONE) return std::optional<Document>();
    if (rc != SQLITE_ROW) return SqlError(db_, "get");
    return std::optional<Document>(Document{Column(s.get(), 0), Column(s.get(), 1)});
  }

  Status Put(std::string_view kind, std::string_view id, std::string_view body) override {
    Touch(kind);
    ASSIGN_OR_RETURN(Stmt s, Prepare("INSERT INTO docs(kind, key, id, body) VALUES(?1, ?2, ?3, ?4) "
                                     "ON CONFLICT(kind, key) DO UPDATE SET id = ?3, body = ?4"));
    Bind(s.get(), 1, kind);
    Bind(s.get(), 2, ToLower(id));
    Bind(s.get(), 3, id);
    Bind(s.get(), 4, body);
    if (sqlite3_step(s.get()) != SQLITE_DONE) return SqlError(db_, "put");
    return OkStatus();
  }

  Result<bool> Delete(std::string_view kind, std::string_view id) override {
    Touch(kind);
    ASSIGN_OR_RETURN(Stmt s, Prepare("DELETE FROM docs WHERE kind = ?1 AND key = ?2"));
    Bind(s.get(), 1, kind);
    Bind(s.get(), 2, ToLower(id));
    if (sqlite3_step(s.get()) != SQLITE_DONE) return SqlError(db_, "delete");
    return sqlite3_changes(db_) > 0;
  }

  Result<std::vector<Document>> List(std::string_view kind, std::string_view prefix) override {
    ASSIGN_OR_RETURN(Stmt s, Prepare("SELECT id, body FROM docs WHERE kind = ?1 AND "
                                     "substr(key, 1, length(?2)) = ?2 ORDER BY key"));
    Bind(s.get(), 1, kind);
    Bind(s.get(), 2, ToLower(prefix));
    std::vector<Document> out;
    int rc;
    while ((rc = sqlite3_step(s.get())) == SQLITE_ROW) {
      out.push_back(Document{Column(s.get(), 0), Column(s.get(), 1)});
    }
    if (rc != SQLITE_DONE) return SqlError(db_, "list");
    return out;
  }

  // The generation slots written since the last call (a bit each).
  uint32_t TakeTouched() { return std::exchange(touched_, 0); }

 private:
  // Marked before the statement runs: a failed write costs a spurious cache miss at most.
  void Touch(std::string_view kind) {
    touched_ |= uint32_t{1} << GenerationSlot(kind, kGenerationSlots);
  }
  sqlite3* db_;
  uint32_t touched_ = 0;
};

MetadataStore::MetadataStore(sqlite3* db) : db_(db), ops_(std::make_unique<Ops>(db)) {}

MetadataStore::~MetadataStore() {
  ops_.reset();
  sqlite3_close_v2(db_);
}

Result<std::unique_ptr<MetadataStore>> MetadataStore::Open(const std::string& path) {
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &db,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    Status s = Internal("cannot open metadata store '" + path + "': " +
                        (db ? sqlite3_errmsg(db) : "out of memory"));
    sqlite3_close_v2(db);
    return s;
  }
  std::unique_ptr<MetadataStore> store(new MetadataStore(db));
  sqlite3_busy_timeout(db, 5000);
  RETURN_IF_ERROR(store->Exec("PRAGMA journal_mode=WAL"));
  RETURN_IF_ERROR(store->Exec("PRAGMA synchronous=FULL"));
  // Deleted and overwritten documents are zeroed, not left in free pages: a saved search moved
  // into a customer's storage account (BYOS) leaves no readable copy behind.
  RETURN_IF_ERROR(store->Exec("PRAGMA secure_delete=ON"));
  RETURN_IF_ERROR(store->Exec(
      "CREATE TABLE IF NOT EXISTS docs(kind TEXT NOT NULL, key TEXT NOT NULL, id TEXT NOT NULL, "
      "body TEXT NOT NULL, PRIMARY KEY(kind, key)) WITHOUT ROWID"));
  return store;
}

Status MetadataStore::Exec(const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "unknown error";
    sqlite3_free(err);
    return Internal(std::string("metadata store: ") + sql + ": " + msg);
  }
  return OkStatus();
}

Result<std::optional<Document>> MetadataStore::Get(std::string_view kind, std::string_view id) {
  std::lock_guard<std::mutex> l(mu_);
  return ops_->Get(kind, id);
}

Status MetadataStore::Put(std::string_view kind, std::string_view id, std::string_view body) {
  std::lock_guard<std::mutex> l(mu_);
  Status s = ops_->Put(kind, id, body);
  PublishWrites();
  return s;
}

Result<bool> MetadataStore::Delete(std::string_view kind, std::string_view id) {
  std::lock_guard<std::mutex> l(mu_);
  auto deleted = ops_->Delete(kind, id);
  PublishWrites();
  return deleted;
}

uint64_t MetadataStore::Generation(std::string_view kind) const {
  return generations_[GenerationSlot(kind, kGenerationSlots)].load(std::memory_order_acquire);
}

void MetadataStore::PublishWrites() {
  // After the commit, under mu_: a reader that saw the old number reads the documents after it
  // (reads take mu_ too), so it may cache new documents under an old number (a spurious miss
  // later) but never old documents under the new one.
  uint32_t touched = ops_->TakeTouched();
  for (size_t i = 0; i < kGenerationSlots; ++i) {
    if (touched & (uint32_t{1} << i)) generations_[i].fetch_add(1, std::memory_order_acq_rel);
  }
}

Result<std::vector<Document>> MetadataStore::List(std::string_view kind, std::string_view prefix) {
  std::lock_guard<std::mutex> l(mu_);
  return ops_->List(kind, prefix);
}

Status MetadataStore::Transaction(const std::function<Status(DocumentOps&)>& fn) {
  std::lock_guard<std::mutex> l(mu_);
  RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE"));
  Status s = fn(*ops_);
  if (s.ok()) s = Exec("COMMIT");
  if (!s.ok()) Exec("ROLLBACK").IgnoreError();
  PublishWrites();  // committed or rolled back: either way no longer in flight
  return s;
}

}  // namespace cmk::meta
