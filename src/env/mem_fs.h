#pragma once
// MemFileSystem: a FileSystem in memory for tests (leveldb's helpers/memenv). Files and
// directories live in maps; a file needs its directory (NotFound otherwise, as on POSIX), and
// an open file keeps its content after Remove, as an unlinked POSIX file does. Everything
// written is "durable" (wrap it in a FaultFileSystem to lose what was not synced). Modes are
// kept but not enforced. Paths are compared after collapsing repeated and trailing '/'.
// Rename renames files only (Unimplemented for directories: nothing renames one).
// Thread safety: safe for concurrent use, the files it hands out as FileSystem says.
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "env/file_system.h"

namespace cmk::env {

class MemFileSystem final : public FileSystem {
 public:
  struct File;  // content shared by the maps and open files

  Result<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& path, int mode) override;
  Result<std::unique_ptr<WritableFile>> NewAppendableFile(const std::string& path,
                                                          int mode) override;
  Result<std::unique_ptr<SequentialFile>> NewSequentialFile(const std::string& path) override;
  Result<std::unique_ptr<RandomAccessFile>> NewRandomAccessFile(const std::string& path) override;
  Status CreateDirs(const std::string& path, int mode) override;
  bool Exists(const std::string& path) override;
  Result<std::vector<DirEntry>> GetChildren(const std::string& dir) override;
  Result<uint64_t> GetFileSize(const std::string& path) override;
  Status Remove(const std::string& path) override;
  Status RemoveAll(const std::string& path) override;
  Status Rename(const std::string& from, const std::string& to) override;
  Status Truncate(const std::string& path, uint64_t size) override;
  Status SyncDir(const std::string& dir) override;

  // The mode a file or directory was created with (NotFound when missing).
  Result<int> ModeForTest(const std::string& path);

 private:
  Result<std::unique_ptr<WritableFile>> Open(const std::string& path, int mode, bool truncate);
  Result<std::shared_ptr<File>> Find(const std::string& path);
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<File>> files_;  // guarded by mu_
  std::map<std::string, int> dirs_;                     // guarded by mu_; "/" is always there
};

}  // namespace cmk::env
