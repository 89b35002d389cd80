#pragma once
// Mutexes that clang's thread-safety analysis understands (-Wthread-safety in the clang build):
// annotate shared state with GUARDED_BY(mu_), functions that need a lock held with REQUIRES(mu_),
// and lock with MutexLock (a scope) or UniqueLock (unlockable, for condition variables).
// libstdc++'s std::mutex carries no annotations, so the analysis can't see std::lock_guard take
// it; these thin wrappers (abseil's Mutex/MutexLock shape) cost nothing at run time.
// GCC ignores the attributes.

#include <condition_variable>
#include <mutex>
#include <shared_mutex>

#if defined(__clang__)
#define CMK_THREAD_ANNOTATION(x) __attribute__((x))
#else
#define CMK_THREAD_ANNOTATION(x)
#endif

#define CAPABILITY(x) CMK_THREAD_ANNOTATION(capability(x))
#define SCOPED_CAPABILITY CMK_THREAD_ANNOTATION(scoped_lockable)
#define GUARDED_BY(x) CMK_THREAD_ANNOTATION(guarded_by(x))
#define PT_GUARDED_BY(x) CMK_THREAD_ANNOTATION(pt_guarded_by(x))
#define ACQUIRED_BEFORE(...) CMK_THREAD_ANNOTATION(acquired_before(__VA_ARGS__))
#define ACQUIRED_AFTER(...) CMK_THREAD_ANNOTATION(acquired_after(__VA_ARGS__))
#define REQUIRES(...) CMK_THREAD_ANNOTATION(requires_capability(__VA_ARGS__))
#define REQUIRES_SHARED(...) CMK_THREAD_ANNOTATION(requires_shared_capability(__VA_ARGS__))
#define ACQUIRE(...) CMK_THREAD_ANNOTATION(acquire_capability(__VA_ARGS__))
#define ACQUIRE_SHARED(...) CMK_THREAD_ANNOTATION(acquire_shared_capability(__VA_ARGS__))
#define RELEASE(...) CMK_THREAD_ANNOTATION(release_capability(__VA_ARGS__))
#define RELEASE_SHARED(...) CMK_THREAD_ANNOTATION(release_shared_capability(__VA_ARGS__))
#define RELEASE_GENERIC(...) CMK_THREAD_ANNOTATION(release_generic_capability(__VA_ARGS__))
#define TRY_ACQUIRE(...) CMK_THREAD_ANNOTATION(try_acquire_capability(__VA_ARGS__))
#define EXCLUDES(...) CMK_THREAD_ANNOTATION(locks_excluded(__VA_ARGS__))
#define ASSERT_CAPABILITY(x) CMK_THREAD_ANNOTATION(assert_capability(x))
#define RETURN_CAPABILITY(x) CMK_THREAD_ANNOTATION(lock_returned(x))
#define NO_THREAD_SAFETY_ANALYSIS CMK_THREAD_ANNOTATION(no_thread_safety_analysis)

namespace cmk {

class CAPABILITY("mutex") Mutex {
 public:
  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;
  void lock() ACQUIRE() { mu_.lock(); }
  void unlock() RELEASE() { mu_.unlock(); }
  bool try_lock() TRY_ACQUIRE(true) { return mu_.try_lock(); }
  // Tells the analysis the caller holds the lock (where it can't see it, e.g. in a callback).
  void AssertHeld() const ASSERT_CAPABILITY(this) {}

 private:
  std::mutex mu_;
};

// A reader-writer mutex.
class CAPABILITY("shared_mutex") SharedMutex {
 public:
  SharedMutex() = default;
  SharedMutex(const SharedMutex&) = delete;
  SharedMutex& operator=(const SharedMutex&) = delete;
  void lock() ACQUIRE() { mu_.lock(); }
  void unlock() RELEASE() { mu_.unlock(); }
  void lock_shared() ACQUIRE_SHARED() { mu_.lock_shared(); }
  void unlock_shared() RELEASE_SHARED() { mu_.unlock_shared(); }
  void AssertHeld() const ASSERT_CAPABILITY(this) {}

 private:
  std::shared_mutex mu_;
};

// Holds `mu` for its scope.
class SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex* mu) ACQUIRE(mu) : mu_(mu) { mu_->lock(); }
  ~MutexLock() RELEASE() { mu_->unlock(); }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

 private:
  Mutex* mu_;
};

// Holds `mu` exclusively / shared for its scope.
class SCOPED_CAPABILITY WriterLock {
 public:
  explicit WriterLock(SharedMutex* mu) ACQUIRE(mu) : mu_(mu) { mu_->lock(); }
  ~WriterLock() RELEASE() { mu_->unlock(); }
  WriterLock(const WriterLock&) = delete;
  WriterLock& operator=(const WriterLock&) = delete;

 private:
  SharedMutex* mu_;
};

class SCOPED_CAPABILITY ReaderLock {
 public:
  explicit ReaderLock(SharedMutex* mu) ACQUIRE_SHARED(mu) : mu_(mu) { mu_->lock_shared(); }
  ~ReaderLock() RELEASE() { mu_->unlock_shared(); }
  ReaderLock(const ReaderLock&) = delete;
  ReaderLock& operator=(const ReaderLock&) = delete;

 private:
  SharedMutex* mu_;
};

// Holds `mu` for its scope, may release and retake it, and is what CondVar waits with.
class SCOPED_CAPABILITY UniqueLock {
 public:
  explicit UniqueLock(Mutex* mu) ACQUIRE(mu) : mu_(mu) { mu_->lock(); }
  ~UniqueLock() RELEASE() {
    if (held_) mu_->unlock();
  }
  UniqueLock(const UniqueLock&) = delete;
  UniqueLock& operator=(const UniqueLock&) = delete;
  void lock() ACQUIRE() {
    mu_->lock();
    held_ = true;
  }
  void unlock() RELEASE() {
    held_ = false;
    mu_->unlock();
  }
  bool owns_lock() const { return held_; }

 private:
  friend class CondVar;
  Mutex* mu_;
  bool held_ = true;
};

// A condition variable waited on with a UniqueLock (std::condition_variable_any underneath:
// std::condition_variable takes only std::unique_lock<std::mutex>). Waiting releases and retakes
// the lock, which the analysis treats as held throughout, as abseil's CondVar does.
class CondVar {
 public:
  void Wait(UniqueLock& l) { cv_.wait(*l.mu_); }
  template <typename Pred>
  void Wait(UniqueLock& l, Pred pred) {
    cv_.wait(*l.mu_, std::move(pred));
  }
  template <typename Rep, typename Period, typename Pred>
  bool WaitFor(UniqueLock& l, std::chrono::duration<Rep, Period> d, Pred pred) {
    return cv_.wait_for(*l.mu_, d, std::move(pred));
  }
  template <typename Clock, typename Dur, typename Pred>
  bool WaitUntil(UniqueLock& l, std::chrono::time_point<Clock, Dur> t, Pred pred) {
    return cv_.wait_until(*l.mu_, t, std::move(pred));
  }
  void NotifyOne() { cv_.notify_one(); }
  void NotifyAll() { cv_.notify_all(); }

 private:
  std::condition_variable_any cv_;
};

}  // namespace cmk
