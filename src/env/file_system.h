#pragma once
// The file half of the injected environment (leveldb's Env, WritableFile, EnvWrapper): the only
// way to the disk. PosixFileSystem is production; MemFileSystem (mem_fs.h) and FaultFileSystem
// (fault_fs.h) are for tests.
// Failures: every method returns a non-OK Status rather than losing data silently. Missing
// files are NotFound, refused permissions PermissionDenied, a full disk ResourceExhausted, any
// other I/O error Internal; messages name the operation and the path.
// Thread safety: a FileSystem is safe for concurrent use. A WritableFile or SequentialFile is
// used by one thread at a time, except that WritableFile::Sync may run while another thread
// appends (the WAL's group commit). A RandomAccessFile is safe for concurrent use.
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "base/secret_bytes.h"
#include "base/status.h"

namespace cmk::env {

// Buffers written in order as one (a WAL record's header and body) without copying them together.
using ByteParts = std::initializer_list<std::span<const uint8_t>>;

// A file open for writing at its end.
class WritableFile {
 public:
  virtual ~WritableFile() = default;  // closes, ignoring errors
  // Appends `data`, all of it or an error. After an error an unknown prefix of `data` may be in
  // the file (a torn write): callers that care cut the file back (FileSystem::Truncate).
  virtual Status Append(std::span<const uint8_t> data) = 0;
  // Appends the concatenation of `parts`, with Append's contract.
  virtual Status AppendParts(ByteParts parts);
  // Hands data buffered in the process to the OS: then a killed process loses none of it. (The
  // POSIX file buffers nothing: every Append reaches the OS before it returns.)
  virtual Status Flush() = 0;
  // Makes every byte appended so far durable, with the file's size (fdatasync). After a failed
  // Sync the durability of everything appended since the last good Sync is unknown (the kernel
  // may have dropped the pages): a later Sync that succeeds proves nothing about them.
  virtual Status Sync() = 0;
  // Closes the file; later calls fail. Does not sync.
  virtual Status Close() = 0;
};

// A file read from start to end.
class SequentialFile {
 public:
  virtual ~SequentialFile() = default;
  // Reads up to out.size() bytes; returns how many, 0 at the end of the file.
  virtual Result<size_t> Read(std::span<uint8_t> out) = 0;
};

// A file read at any offset.
class RandomAccessFile {
 public:
  virtual ~RandomAccessFile() = default;
  // Reads up to out.size() bytes at `offset`: fewer only at the end of the file.
  virtual Result<size_t> Read(uint64_t offset, std::span<uint8_t> out) const = 0;
  virtual Result<uint64_t> Size() const = 0;
};

struct DirEntry {
  std::string name;  // no directory part
  bool is_dir = false;
};

class FileSystem {
 public:
  virtual ~FileSystem() = default;

  // Creates `path` or empties it.
  virtual Result<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& path,
                                                                int mode) = 0;
  // Opens `path` for appending after its content, creating it when missing.
  virtual Result<std::unique_ptr<WritableFile>> NewAppendableFile(const std::string& path,
                                                                  int mode) = 0;
  virtual Result<std::unique_ptr<SequentialFile>> NewSequentialFile(const std::string& path) = 0;
  virtual Result<std::unique_ptr<RandomAccessFile>> NewRandomAccessFile(
      const std::string& path) = 0;

  // Creates `path` and its missing parents; `path` gets `mode`.
  virtual Status CreateDirs(const std::string& path, int mode) = 0;
  virtual bool Exists(const std::string& path) = 0;
  // The entries of directory `dir` (no "." or ".."), in no particular order. NotFound when
  // `dir` does not exist.
  virtual Result<std::vector<DirEntry>> GetChildren(const std::string& dir) = 0;
  virtual Result<uint64_t> GetFileSize(const std::string& path) = 0;
  // Removes a file; OK when it is already gone.
  virtual Status Remove(const std::string& path) = 0;
  // Removes a file or a directory with everything under it; OK when it is already gone.
  virtual Status RemoveAll(const std::string& path) = 0;
  // Renames file `from` over `to` atomically: `to` names the old file or the new one, never
  // neither. Durable once the directory is synced.
  virtual Status Rename(const std::string& from, const std::string& to) = 0;
  // Cuts (or zero-extends) file `path` to `size` bytes.
  virtual Status Truncate(const std::string& path, uint64_t size) = 0;
  // Makes the entries of directory `dir` durable (files created, renamed or removed in it).
  virtual Status SyncDir(const std::string& dir) = 0;

  // Whole-file helpers. The defaults are built on the methods above; PosixFileSystem has its
  // own (modes, O_DIRECT), and FileSystemWrapper forwards them.
  virtual Result<std::string> ReadFile(const std::string& path);
  virtual Result<SecretBytes> ReadSecretFile(const std::string& path);
  // Writes `data` to a temporary file, syncs it, renames it over `path` and syncs the directory,
  // so readers see the old or the new content, never a mix, even after a crash.
  virtual Status WriteFileAtomic(const std::string& path, std::span<const uint8_t> data, int mode);
  // Writes the concatenation of `parts` to a temporary file of its own (concurrent writers of
  // one path don't mix) and renames it over `path`. With `sync`, data, size and name are durable
  // when it returns. POSIX writes around the page cache (O_DIRECT) where the file system allows:
  // for large files written once (extents, their hot-cache copies; env/direct_write.h).
  virtual Status WriteFileReplacing(const std::string& path, ByteParts parts, int mode, bool sync);
};

// Forwards every call to a target (leveldb's EnvWrapper): wrappers override what they change.
class FileSystemWrapper : public FileSystem {
 public:
  // `target` must outlive the wrapper.
  explicit FileSystemWrapper(FileSystem* target) : target_(target) {}
  FileSystem* target() const { return target_; }

  Result<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& path,
                                                        int mode) override {
    return target_->NewWritableFile(path, mode);
  }
  Result<std::unique_ptr<WritableFile>> NewAppendableFile(const std::string& path,
                                                          int mode) override {
    return target_->NewAppendableFile(path, mode);
  }
  Result<std::unique_ptr<SequentialFile>> NewSequentialFile(const std::string& path) override {
    return target_->NewSequentialFile(path);
  }
  Result<std::unique_ptr<RandomAccessFile>> NewRandomAccessFile(const std::string& path) override {
    return target_->NewRandomAccessFile(path);
  }
  Status CreateDirs(const std::string& path, int mode) override {
    return target_->CreateDirs(path, mode);
  }
  bool Exists(const std::string& path) override { return target_->Exists(path); }
  Result<std::vector<DirEntry>> GetChildren(const std::string& dir) override {
    return target_->GetChildren(dir);
  }
  Result<uint64_t> GetFileSize(const std::string& path) override {
    return target_->GetFileSize(path);
  }
  Status Remove(const std::string& path) override { return target_->Remove(path); }
  Status RemoveAll(const std::string& path) override { return target_->RemoveAll(path); }
  Status Rename(const std::string& from, const std::string& to) override {
    return target_->Rename(from, to);
  }
  Status Truncate(const std::string& path, uint64_t size) override {
    return target_->Truncate(path, size);
  }
  Status SyncDir(const std::string& dir) override { return target_->SyncDir(dir); }
  Result<std::string> ReadFile(const std::string& path) override { return target_->ReadFile(path); }
  Result<SecretBytes> ReadSecretFile(const std::string& path) override {
    return target_->ReadSecretFile(path);
  }
  Status WriteFileAtomic(const std::string& path, std::span<const uint8_t> data,
                         int mode) override {
    return target_->WriteFileAtomic(path, data, mode);
  }
  Status WriteFileReplacing(const std::string& path, ByteParts parts, int mode,
                            bool sync) override {
    return target_->WriteFileReplacing(path, parts, mode, sync);
  }

 private:
  FileSystem* target_;
};

class PosixFileSystem final : public FileSystem {
 public:
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
  Result<std::string> ReadFile(const std::string& path) override;
  Result<SecretBytes> ReadSecretFile(const std::string& path) override;
  Status WriteFileAtomic(const std::string& path, std::span<const uint8_t> data, int mode) override;
  Status WriteFileReplacing(const std::string& path, ByteParts parts, int mode, bool sync) override;
};

// The directory part of `path` ("." when it has none).
std::string ParentDir(const std::string& path);
// `path` made absolute against the working directory and normalised (no "." or ".." segments,
// no trailing '/').
Result<std::string> AbsolutePath(const std::string& path);

}  // namespace cmk::env
