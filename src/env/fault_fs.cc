#include "env/fault_fs.h"

#include <algorithm>
#include <vector>

namespace cmk::env {

struct FaultFileSystem::FileState {
  std::string path;           // where it is now
  uint64_t size = 0;          // bytes appended (as far as this wrapper saw)
  uint64_t synced = 0;        // bytes a crash keeps
  bool entry_synced = false;  // its name survives a crash
  // The durable content of the file a rename replaced (restored if the rename is not made
  // durable before a crash).
  std::optional<std::string> replaced;
};

namespace {

std::string DirOf(const std::string& path) {
  std::string d = ParentDir(path);
  while (d.size() > 1 && d.back() == '/') d.pop_back();
  return d;
}

std::string Trimmed(std::string dir) {
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  return dir;
}

}  // namespace

// The writes of one file go through the wrapper's fault plan, then to the target.
class FaultWritableFile final : public WritableFile {
 public:
  FaultWritableFile(FaultFileSystem* fs, std::shared_ptr<FaultFileSystem::FileState> state,
                    std::unique_ptr<WritableFile> base, uint64_t generation)
      : fs_(fs), state_(std::move(state)), base_(std::move(base)), generation_(generation) {}

  Status Append(std::span<const uint8_t> data) override {
    size_t allowed = 0;
    Status after = fs_->BeforeAppend(*state_, data.size(), &allowed, generation_);
    if (allowed == 0 && !after.ok()) return after;
    RETURN_IF_ERROR(base_->Append(data.first(allowed)));
    {
      std::lock_guard<std::mutex> l(fs_->mu_);
      state_->size += allowed;
    }
    return after;
  }

  Status AppendParts(ByteParts parts) override {
    // One Append, so that a fault hits the record as a whole (a WAL record's header and body).
    std::vector<uint8_t> all;
    for (auto p : parts) all.insert(all.end(), p.begin(), p.end());
    return Append(all);
  }

  Status Flush() override {
    RETURN_IF_ERROR(fs_->CheckGeneration(*state_, generation_));
    return base_->Flush();
  }

  Status Sync() override {
    uint64_t target = 0;
    RETURN_IF_ERROR(fs_->BeforeSync(*state_, generation_, &target));
    RETURN_IF_ERROR(base_->Sync());
    std::lock_guard<std::mutex> l(fs_->mu_);
    // Only what was appended before the sync began is covered by it.
    state_->synced = std::max(state_->synced, target);
    return OkStatus();
  }

  Status Close() override { return base_->Close(); }

 private:
  FaultFileSystem* fs_;
  std::shared_ptr<FaultFileSystem::FileState> state_;
  std::unique_ptr<WritableFile> base_;
  uint64_t generation_;
};

void FaultFileSystem::FailNthWrite(uint64_t n) {
  std::lock_guard<std::mutex> l(mu_);
  fail_write_at_ = n == 0 ? 0 : writes_ + n;
}

void FaultFileSystem::ShortNthWrite(uint64_t n) {
  std::lock_guard<std::mutex> l(mu_);
  short_write_at_ = n == 0 ? 0 : writes_ + n;
}

void FaultFileSystem::FailNthSync(uint64_t n) {
  std::lock_guard<std::mutex> l(mu_);
  fail_sync_at_ = n == 0 ? 0 : syncs_ + n;
}

void FaultFileSystem::FailAllSyncs(bool on) {
  std::lock_guard<std::mutex> l(mu_);
  fail_all_syncs_ = on;
}

void FaultFileSystem::SetSpaceLeft(std::optional<uint64_t> bytes) {
  std::lock_guard<std::mutex> l(mu_);
  space_left_ = bytes;
}

uint64_t FaultFileSystem::writes() const {
  std::lock_guard<std::mutex> l(mu_);
  return writes_;
}

uint64_t FaultFileSystem::syncs() const {
  std::lock_guard<std::mutex> l(mu_);
  return syncs_;
}

Status FaultFileSystem::CheckGeneration(const FileState& f, uint64_t generation) const {
  std::lock_guard<std::mutex> l(mu_);
  if (generation != generation_) {
    return FailedPrecondition("'" + f.path + "' was opened before a simulated crash");
  }
  return OkStatus();
}

Status FaultFileSystem::BeforeAppend(const FileState& f, size_t n, size_t* allowed,
                                     uint64_t generation) {
  std::lock_guard<std::mutex> l(mu_);
  *allowed = 0;
  if (generation != generation_) {
    return FailedPrecondition("'" + f.path + "' was opened before a simulated crash");
  }
  ++writes_;
  if (writes_ == fail_write_at_) {
    fail_write_at_ = 0;
    return Internal("cannot write '" + f.path + "': injected I/O error");
  }
  *allowed = n;
  Status after;
  if (writes_ == short_write_at_) {
    short_write_at_ = 0;
    *allowed = n / 2;
    after = Internal("cannot write '" + f.path + "': injected short write (" +
                     std::to_string(*allowed) + " of " + std::to_string(n) + " bytes)");
  }
  if (space_left_ && *space_left_ < *allowed) {
    *allowed = static_cast<size_t>(*space_left_);
    after = Status(StatusCode::kResourceExhausted,
                   "cannot write '" + f.path + "': no space left on device (injected)");
  }
  if (space_left_) *space_left_ -= *allowed;
  return after;
}

Status FaultFileSystem::BeforeSync(const FileState& f, uint64_t generation, uint64_t* target) {
  std::lock_guard<std::mutex> l(mu_);
  if (generation != generation_) {
    return FailedPrecondition("'" + f.path + "' was opened before a simulated crash");
  }
  ++syncs_;
  if (fail_all_syncs_ || syncs_ == fail_sync_at_) {
    if (syncs_ == fail_sync_at_) fail_sync_at_ = 0;
    return Internal("cannot fdatasync '" + f.path + "': injected I/O error");
  }
  *target = f.size;
  return OkStatus();
}

bool FaultFileSystem::DurableLocked(const std::string& path) {
  auto it = files_.find(path);
  if (it != files_.end()) return it->second->entry_synced;
  return target()->Exists(path);
}

Result<std::unique_ptr<WritableFile>> FaultFileSystem::NewWritableFile(const std::string& path,
                                                                       int mode) {
  std::lock_guard<std::mutex> l(mu_);
  auto state = std::make_shared<FileState>();
  state->path = path;
  if (auto it = files_.find(path); it != files_.end()) {
    state->entry_synced = it->second->entry_synced;
    state->replaced = it->second->replaced;
  } else {
    state->entry_synced = target()->Exists(path);
  }
  ASSIGN_OR_RETURN(auto base, target()->NewWritableFile(path, mode));
  files_[path] = state;
  return std::unique_ptr<WritableFile>(
      new FaultWritableFile(this, std::move(state), std::move(base), generation_));
}

Result<std::unique_ptr<WritableFile>> FaultFileSystem::NewAppendableFile(const std::string& path,
                                                                         int mode) {
  std::lock_guard<std::mutex> l(mu_);
  std::shared_ptr<FileState> state;
  if (auto it = files_.find(path); it != files_.end()) {
    state = it->second;
  } else {
    state = std::make_shared<FileState>();
    state->path = path;
    if (target()->Exists(path)) {  // written before this wrapper knew it: durable
      ASSIGN_OR_RETURN(state->size, target()->GetFileSize(path));
      state->synced = state->size;
      state->entry_synced = true;
    }
  }
  ASSIGN_OR_RETURN(auto base, target()->NewAppendableFile(path, mode));
  files_[path] = state;
  return std::unique_ptr<WritableFile>(
      new FaultWritableFile(this, std::move(state), std::move(base), generation_));
}

Status FaultFileSystem::Remove(const std::string& path) {
  std::lock_guard<std::mutex> l(mu_);
  RETURN_IF_ERROR(target()->Remove(path));
  files_.erase(path);
  return OkStatus();
}

Status FaultFileSystem::RemoveAll(const std::string& path) {
  std::lock_guard<std::mutex> l(mu_);
  RETURN_IF_ERROR(target()->RemoveAll(path));
  std::string dir = Trimmed(path) + "/";
  std::erase_if(files_, [&](const auto& e) { return e.first == path || e.first.starts_with(dir); });
  return OkStatus();
}

Status FaultFileSystem::Rename(const std::string& from, const std::string& to) {
  std::lock_guard<std::mutex> l(mu_);
  // What a crash before the directory sync leaves at `to`: the durable file this rename
  // replaces, if there is one.
  std::optional<std::string> replaced;
  if (auto it = files_.find(to); it != files_.end()) {
    if (it->second->entry_synced) {
      ASSIGN_OR_RETURN(std::string old, target()->ReadFile(to));
      old.resize(std::min<size_t>(old.size(), it->second->synced));
      replaced = std::move(old);
    } else {
      replaced = it->second->replaced;
    }
  } else if (target()->Exists(to)) {
    ASSIGN_OR_RETURN(replaced, target()->ReadFile(to));
  }
  RETURN_IF_ERROR(target()->Rename(from, to));
  std::shared_ptr<FileState> state;
  if (auto it = files_.find(from); it != files_.end()) {
    state = it->second;
    files_.erase(it);
  } else {
    state = std::make_shared<FileState>();
    ASSIGN_OR_RETURN(state->size, target()->GetFileSize(to));
    state->synced = state->size;
  }
  state->path = to;
  state->entry_synced = false;
  state->replaced = std::move(replaced);
  files_[to] = std::move(state);
  return OkStatus();
}

Status FaultFileSystem::Truncate(const std::string& path, uint64_t size) {
  std::lock_guard<std::mutex> l(mu_);
  RETURN_IF_ERROR(target()->Truncate(path, size));
  if (auto it = files_.find(path); it != files_.end()) {
    it->second->size = size;
    it->second->synced = std::min(it->second->synced, size);
  }
  return OkStatus();
}

Status FaultFileSystem::SyncDir(const std::string& dir) {
  std::lock_guard<std::mutex> l(mu_);
  if (fail_all_syncs_) return Internal("cannot fsync directory '" + dir + "': injected I/O error");
  RETURN_IF_ERROR(target()->SyncDir(dir));
  std::string d = Trimmed(dir);
  for (auto& [path, state] : files_) {
    if (DirOf(path) == d) {
      state->entry_synced = true;
      state->replaced.reset();
    }
  }
  return OkStatus();
}

Status FaultFileSystem::SimulateCrash() {
  std::lock_guard<std::mutex> l(mu_);
  ++generation_;
  Status first;
  auto note = [&first](Status s) {
    if (first.ok()) first = std::move(s);
  };
  for (auto& [path, state] : files_) {
    if (!state->entry_synced) {
      note(target()->Remove(path));
      if (state->replaced) {
        auto f = target()->NewWritableFile(path, 0600);
        if (!f.ok()) {
          note(f.status());
          continue;
        }
        note((*f)->Append(std::span<const uint8_t>(
            reinterpret_cast<const uint8_t*>(state->replaced->data()), state->replaced->size())));
        note((*f)->Close());
      }
    } else if (state->size > state->synced) {
      note(target()->Truncate(path, state->synced));
    }
  }
  files_.clear();
  return first;
}

}  // namespace cmk::env
