#pragma once
// FaultFileSystem: a FileSystemWrapper for tests that fails on demand and forgets what a crash
// would forget (leveldb's FaultInjectionTestEnv and SpecialEnv).
// Faults: the Nth write, a short (torn) write, the Nth sync, every sync, a full disk. A failed
// write or sync returns a non-OK Status that names the file and says it was injected; a full
// disk is ResourceExhausted ("no space left on device"), after storing what still fit.
// Crashes: it tracks, for every file written through it, how much was synced and whether its
// directory entry was synced since the file was created or renamed. SimulateCrash() cuts every
// file back to its synced size, removes files whose entry was never synced (restoring the
// durable file a rename replaced), and makes the files opened before it fail. Not modelled:
// removals and directory creation, which are taken as durable at once.
// Whole-file helpers (WriteFileAtomic, WriteFileReplacing, ReadFile) run on the primitives, so
// their writes and syncs count and fail too.
// Thread safety: safe for concurrent use. REQUIRES: nothing writes during SimulateCrash().
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "env/file_system.h"

namespace cmk::env {

class FaultFileSystem final : public FileSystemWrapper {
 public:
  struct FileState;

  explicit FaultFileSystem(FileSystem* target) : FileSystemWrapper(target) {}

  // The n-th Append from now (1: the next one) fails and writes nothing; 0 disarms.
  void FailNthWrite(uint64_t n);
  // The n-th Append from now writes the first half of its bytes, then fails; 0 disarms.
  void ShortNthWrite(uint64_t n);
  // The n-th file Sync from now fails; 0 disarms.
  void FailNthSync(uint64_t n);
  // Every file Sync and SyncDir fails while on.
  void FailAllSyncs(bool on);
  // The disk fills after `bytes` more appended bytes (nullopt: never).
  void SetSpaceLeft(std::optional<uint64_t> bytes);
  // Appends and file syncs seen so far (failed ones included).
  uint64_t writes() const;
  uint64_t syncs() const;

  // Drops everything a power cut would (see above). Returns the first error of the target.
  Status SimulateCrash();

  Result<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& path, int mode) override;
  Result<std::unique_ptr<WritableFile>> NewAppendableFile(const std::string& path,
                                                          int mode) override;
  Status Remove(const std::string& path) override;
  Status RemoveAll(const std::string& path) override;
  Status Rename(const std::string& from, const std::string& to) override;
  Status Truncate(const std::string& path, uint64_t size) override;
  Status SyncDir(const std::string& dir) override;
  Result<std::string> ReadFile(const std::string& path) override {
    return FileSystem::ReadFile(path);
  }
  Result<SecretBytes> ReadSecretFile(const std::string& path) override {
    return FileSystem::ReadSecretFile(path);
  }
  Status WriteFileAtomic(const std::string& path, std::span<const uint8_t> data,
                         int mode) override {
    return FileSystem::WriteFileAtomic(path, data, mode);
  }
  Status WriteFileReplacing(const std::string& path, ByteParts parts, int mode,
                            bool sync) override {
    return FileSystem::WriteFileReplacing(path, parts, mode, sync);
  }

 private:
  friend class FaultWritableFile;
  // How much of an Append of `n` bytes to write (`allowed`), and the error to return after
  // writing that much (nothing written when `allowed` is 0 and the error is not OK).
  Status BeforeAppend(const FileState& f, size_t n, size_t* allowed, uint64_t generation);
  // Whether a file Sync may go ahead; `target` is the size it will make durable.
  Status BeforeSync(const FileState& f, uint64_t generation, uint64_t* target);
  // FailedPrecondition for a file opened before the last crash.
  Status CheckGeneration(const FileState& f, uint64_t generation) const;
  // Whether `path` exists and is durable as far as this wrapper knows. REQUIRES: mu_ held.
  bool DurableLocked(const std::string& path);

  mutable std::mutex mu_;
  // Files written since the last crash, by path (guarded by mu_); open files share the state.
  std::map<std::string, std::shared_ptr<FileState>> files_;
  uint64_t generation_ = 0;  // crashes so far
  uint64_t writes_ = 0, syncs_ = 0;
  uint64_t fail_write_at_ = 0, short_write_at_ = 0, fail_sync_at_ = 0;  // 0: disarmed
  bool fail_all_syncs_ = false;
  std::optional<uint64_t> space_left_;
};

}  // namespace cmk::env
