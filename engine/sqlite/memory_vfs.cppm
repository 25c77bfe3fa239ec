// keel's in-memory file system for SQLite ("keel-memory"): the files of the ":memory:" database that an engine's
// connections share. It keeps WAL working (readers never wait for writers) with no system call: the database and
// its log are chunks of heap memory, the WAL index is shared heap memory, and the locks are counters. SQLite's
// own memdb VFS has no WAL, and a WAL file on tmpfs paid two pwrite() calls a commit.
//
// One process only, and files by name: a name lives until SQLite deletes it or its engine forgets it. The lock
// semantics follow SQLite's unix VFS (os_unix.c): database locks SHARED < RESERVED < PENDING < EXCLUSIVE between
// handles, and the WAL index's eight lock slots, shared or exclusive.
module;
#include <sqlite3.h>
#include <algorithm>
#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>
export module keel.sqlite:memory_vfs;
import keel.engine;

namespace keel::sqlite_detail {

inline constexpr const char* kMemoryVfsName = "keel-memory";

// A file's bytes in chunks that never move, so a write that grows the file copies nothing already written.
class MemoryBytes {
public:
  static constexpr std::size_t kChunk = 64 * 1024;

  // Copies [offset, offset + size) into out; false when the file ends first (the rest of out is zeroed).
  bool read(void* out, std::size_t size, std::size_t offset) const {
    std::shared_lock lock(mutex_);
    auto* to = static_cast<unsigned char*>(out);
    const std::size_t available = offset < size_ ? std::min(size, size_ - offset) : 0;
    for_each_piece(available, offset,
                   [&](unsigned char* chunk, std::size_t done, std::size_t n) { std::memcpy(to + done, chunk, n); });
    std::memset(to + available, 0, size - available);
    return available == size;
  }
  void write(const void* in, std::size_t size, std::size_t offset) {
    std::unique_lock lock(mutex_);
    const std::size_t end = offset + size;
    while (chunks_.size() * kChunk < end) chunks_.push_back(std::make_unique<unsigned char[]>(kChunk));  // zeroed
    auto* from = static_cast<const unsigned char*>(in);
    for_each_piece(size, offset,
                   [&](unsigned char* chunk, std::size_t done, std::size_t n) { std::memcpy(chunk, from + done, n); });
    size_ = std::max(size_, end);
  }
  void truncate(std::size_t size) {
    std::unique_lock lock(mutex_);
    if (size >= size_) return;
    // The bytes past the new end read as zeros if the file grows again.
    if (size % kChunk) std::memset(chunks_[size / kChunk].get() + size % kChunk, 0, kChunk - size % kChunk);
    chunks_.resize((size + kChunk - 1) / kChunk);
    size_ = size;
  }
  std::size_t size() const {
    std::shared_lock lock(mutex_);
    return size_;
  }

private:
  // Calls piece(place in its chunk, bytes done before it, its length) for each chunk's part of [offset, offset + size).
  template <class Piece>
  void for_each_piece(std::size_t size, std::size_t offset, Piece piece) const {
    for (std::size_t done = 0; done < size;) {
      const std::size_t at = offset + done, n = std::min(size - done, kChunk - at % kChunk);
      piece(chunks_[at / kChunk].get() + at % kChunk, done, n);
      done += n;
    }
  }

  mutable std::shared_mutex mutex_;  // readers of the database read side by side
  std::vector<std::unique_ptr<unsigned char[]>> chunks_;
  std::size_t size_ = 0;
};

struct MemoryHandle;

// A file, shared by the handles open on it: its bytes, its database locks and, for a database, its WAL index.
struct MemoryFile {
  MemoryBytes bytes;

  std::mutex locks;  // guards everything below
  // Database locks: how many handles hold SHARED (or more), and which one holds each of the others.
  int shared = 0;
  const MemoryHandle* reserved = nullptr;
  const MemoryHandle* pending = nullptr;
  const MemoryHandle* exclusive = nullptr;
  // The WAL index: regions that never move, the handles using it, and its lock slots.
  std::vector<std::unique_ptr<unsigned char[]>> index_regions;
  int index_users = 0;
  std::array<int, SQLITE_SHM_NLOCK> index_shared{};
  std::array<const MemoryHandle*, SQLITE_SHM_NLOCK> index_exclusive{};
};

// One open file, as SQLite allocates it (szOsFile bytes, sqlite3_file first): plain data, so the cast from
// sqlite3_file is well defined.
struct MemoryHandle {
  sqlite3_file base;
  MemoryFile* file;  // kept alive by `owner`
  std::shared_ptr<MemoryFile>* owner;
  int lock;                      // SQLITE_LOCK_NONE ... SQLITE_LOCK_EXCLUSIVE
  bool uses_index;               // counted in index_users
  std::uint8_t index_shared;     // WAL index slots held shared, a bit each
  std::uint8_t index_exclusive;  // ... and exclusive
};

// The files by name; a handle keeps its file alive after the name is deleted, as on POSIX.
class MemoryFiles {
public:
  // Never destroyed: an engine with static storage may forget its files after statics built later are gone.
  static MemoryFiles& instance() {
    static MemoryFiles* files = new MemoryFiles;
    return *files;
  }
  // The file of that name; null when there is none and create is false, or when there is one and must_be_new.
  std::shared_ptr<MemoryFile> open(std::string_view name, bool create, bool must_be_new) {
    std::lock_guard lock(mutex_);
    auto found = files_.find(name);
    if (found != files_.end()) return must_be_new ? nullptr : found->second;
    if (!create) return nullptr;
    return files_.emplace(std::string(name), std::make_shared<MemoryFile>()).first->second;
  }
  bool exists(std::string_view name) {
    std::lock_guard lock(mutex_);
    return files_.find(name) != files_.end();
  }
  bool remove(std::string_view name) {
    std::lock_guard lock(mutex_);
    auto found = files_.find(name);
    if (found == files_.end()) return false;
    files_.erase(found);
    return true;
  }
  // Forgets every file whose name starts with prefix (an engine's database, its log and its journals).
  void remove_prefixed(std::string_view prefix) {
    std::lock_guard lock(mutex_);
    for (auto it = files_.lower_bound(prefix); it != files_.end() && std::string_view(it->first).starts_with(prefix);)
      it = files_.erase(it);
  }

private:
  std::mutex mutex_;
  std::map<std::string, std::shared_ptr<MemoryFile>, std::less<>> files_;
};

inline MemoryHandle& handle_of(sqlite3_file* f) { return *reinterpret_cast<MemoryHandle*>(f); }

// ---- Database locks (os_unix.c's rules, between handles of this process).

inline int lock_file(sqlite3_file* f, int level) noexcept {
  MemoryHandle& h = handle_of(f);
  if (h.lock >= level) return SQLITE_OK;
  MemoryFile& file = *h.file;
  std::lock_guard guard(file.locks);
  // A new SHARED lock waits while a writer is about to take or holds EXCLUSIVE.
  if (h.lock == SQLITE_LOCK_NONE) {
    if ((file.pending && file.pending != &h) || (file.exclusive && file.exclusive != &h)) return SQLITE_BUSY;
    ++file.shared;
    h.lock = SQLITE_LOCK_SHARED;
    if (level == SQLITE_LOCK_SHARED) return SQLITE_OK;
  }
  // Above SHARED, one handle at a time (os_unix's rule).
  if ((file.reserved && file.reserved != &h) || (file.pending && file.pending != &h) ||
      (file.exclusive && file.exclusive != &h))
    return SQLITE_BUSY;
  if (level == SQLITE_LOCK_RESERVED) {
    file.reserved = &h;
    h.lock = SQLITE_LOCK_RESERVED;
    return SQLITE_OK;
  }
  // EXCLUSIVE: PENDING first, which keeps new readers out; then wait until this is the only SHARED holder.
  file.pending = &h;
  if (file.shared > 1) {
    h.lock = SQLITE_LOCK_PENDING;
    return SQLITE_BUSY;
  }
  file.exclusive = &h;
  h.lock = SQLITE_LOCK_EXCLUSIVE;
  return SQLITE_OK;
}

inline int unlock_file(sqlite3_file* f, int level) noexcept {
  MemoryHandle& h = handle_of(f);
  if (h.lock <= level) return SQLITE_OK;
  MemoryFile& file = *h.file;
  std::lock_guard guard(file.locks);
  if (file.exclusive == &h) file.exclusive = nullptr;
  if (file.pending == &h) file.pending = nullptr;
  if (file.reserved == &h) file.reserved = nullptr;
  if (level == SQLITE_LOCK_NONE) --file.shared;
  h.lock = level;
  return SQLITE_OK;
}

inline int check_reserved(sqlite3_file* f, int* out) noexcept {
  MemoryFile& file = *handle_of(f).file;
  std::lock_guard guard(file.locks);
  *out = file.reserved || file.pending || file.exclusive;
  return SQLITE_OK;
}

// ---- The WAL index: shared heap regions and eight lock slots.

// The first handle to use the index starts it empty, as the unix VFS truncates an -shm file nobody else holds:
// SQLite then rebuilds it from the log.
inline void start_using_index(MemoryHandle& h) {
  if (h.uses_index) return;
  h.uses_index = true;
  if (h.file->index_users++ == 0) h.file->index_regions.clear();
}

// Gives up the handle's WAL index slots in mask, shared or exclusive. Under file.locks.
inline void release_index_slots(MemoryHandle& h, MemoryFile& file, std::uint8_t mask) {
  for (int i = 0; i < SQLITE_SHM_NLOCK; ++i) {
    if (!(mask & (1u << i))) continue;
    if (h.index_exclusive & (1u << i)) file.index_exclusive[static_cast<std::size_t>(i)] = nullptr;
    if (h.index_shared & (1u << i)) --file.index_shared[static_cast<std::size_t>(i)];
  }
  h.index_exclusive &= static_cast<std::uint8_t>(~mask);
  h.index_shared &= static_cast<std::uint8_t>(~mask);
}

inline int map_index(sqlite3_file* f, int region, int region_size, int extend, void volatile** out) noexcept {
  MemoryHandle& h = handle_of(f);
  MemoryFile& file = *h.file;
  std::lock_guard guard(file.locks);
  start_using_index(h);
  const auto wanted = static_cast<std::size_t>(region) + 1;
  if (file.index_regions.size() < wanted) {
    if (!extend) {
      *out = nullptr;
      return SQLITE_OK;
    }
    try {
      while (file.index_regions.size() < wanted)
        file.index_regions.push_back(
            std::make_unique<unsigned char[]>(static_cast<std::size_t>(region_size)));  // zeroed
    } catch (const std::bad_alloc&) {
      return SQLITE_IOERR_NOMEM;
    }
  }
  *out = file.index_regions[static_cast<std::size_t>(region)].get();
  return SQLITE_OK;
}

inline int lock_index(sqlite3_file* f, int offset, int count, int flags) noexcept {
  MemoryHandle& h = handle_of(f);
  MemoryFile& file = *h.file;
  std::lock_guard guard(file.locks);
  if (!h.uses_index) return (flags & SQLITE_SHM_UNLOCK) ? SQLITE_OK : SQLITE_IOERR_SHMLOCK;  // as os_unix: map first
  const auto mask = static_cast<std::uint8_t>(((1u << count) - 1) << offset);
  if (flags & SQLITE_SHM_UNLOCK) {
    release_index_slots(h, file, mask);
    return SQLITE_OK;
  }
  if (flags & SQLITE_SHM_SHARED) {
    if ((h.index_shared | h.index_exclusive) & mask) return SQLITE_OK;
    for (int i = offset; i < offset + count; ++i)
      if (file.index_exclusive[static_cast<std::size_t>(i)]) return SQLITE_BUSY;
    for (int i = offset; i < offset + count; ++i) ++file.index_shared[static_cast<std::size_t>(i)];
    h.index_shared |= mask;
    return SQLITE_OK;
  }
  // Exclusive: no other handle may hold any of the slots.
  for (int i = offset; i < offset + count; ++i) {
    const auto slot = static_cast<std::size_t>(i);
    const int own_shared = (h.index_shared >> i) & 1;
    if ((file.index_exclusive[slot] && file.index_exclusive[slot] != &h) || file.index_shared[slot] > own_shared)
      return SQLITE_BUSY;
  }
  for (int i = offset; i < offset + count; ++i) file.index_exclusive[static_cast<std::size_t>(i)] = &h;
  h.index_exclusive |= mask;
  return SQLITE_OK;
}

inline void index_barrier(sqlite3_file*) noexcept { std::atomic_thread_fence(std::memory_order_seq_cst); }

inline int unmap_index(sqlite3_file* f, int delete_index) noexcept {
  MemoryHandle& h = handle_of(f);
  MemoryFile& file = *h.file;
  std::lock_guard guard(file.locks);
  if (!h.uses_index) return SQLITE_OK;
  release_index_slots(h, file, 0xff);
  h.uses_index = false;
  if (--file.index_users == 0 && delete_index) file.index_regions.clear();
  return SQLITE_OK;
}

// ---- Reading and writing.

inline int read_file(sqlite3_file* f, void* out, int size, sqlite3_int64 offset) noexcept {
  const bool whole =
      handle_of(f).file->bytes.read(out, static_cast<std::size_t>(size), static_cast<std::size_t>(offset));
  return whole ? SQLITE_OK : SQLITE_IOERR_SHORT_READ;
}
inline int write_file(sqlite3_file* f, const void* in, int size, sqlite3_int64 offset) noexcept {
  try {
    handle_of(f).file->bytes.write(in, static_cast<std::size_t>(size), static_cast<std::size_t>(offset));
    return SQLITE_OK;
  } catch (const std::bad_alloc&) {
    return SQLITE_NOMEM;
  }
}
inline int truncate_file(sqlite3_file* f, sqlite3_int64 size) noexcept {
  handle_of(f).file->bytes.truncate(static_cast<std::size_t>(size));
  return SQLITE_OK;
}
inline int sync_file(sqlite3_file*, int) noexcept { return SQLITE_OK; }
inline int file_size(sqlite3_file* f, sqlite3_int64* out) noexcept {
  *out = static_cast<sqlite3_int64>(handle_of(f).file->bytes.size());
  return SQLITE_OK;
}
inline int file_control(sqlite3_file*, int, void*) noexcept { return SQLITE_NOTFOUND; }
inline int sector_size(sqlite3_file*) noexcept { return 4096; }
// Writes are atomic and in order, and a write never changes bytes around it: SQLite then skips work it does
// for disks.
inline int device_characteristics(sqlite3_file*) noexcept {
  return SQLITE_IOCAP_ATOMIC | SQLITE_IOCAP_SAFE_APPEND | SQLITE_IOCAP_SEQUENTIAL | SQLITE_IOCAP_POWERSAFE_OVERWRITE;
}

inline int close_file(sqlite3_file* f) noexcept {
  MemoryHandle& h = handle_of(f);
  unmap_index(f, 0);
  unlock_file(f, SQLITE_LOCK_NONE);
  delete h.owner;
  h.base.pMethods = nullptr;
  return SQLITE_OK;
}

inline const sqlite3_io_methods kMemoryFileMethods = {
    2,
    close_file,
    read_file,
    write_file,
    truncate_file,
    sync_file,
    file_size,
    lock_file,
    unlock_file,
    check_reserved,
    file_control,
    sector_size,
    device_characteristics,
    map_index,
    lock_index,
    index_barrier,
    unmap_index,
    nullptr,
    nullptr,
};

// ---- The file system.

inline sqlite3_vfs* default_vfs(sqlite3_vfs* vfs) { return static_cast<sqlite3_vfs*>(vfs->pAppData); }

inline int open_file(sqlite3_vfs*, sqlite3_filename name, sqlite3_file* f, int flags, int* out_flags) noexcept {
  MemoryHandle& h = handle_of(f);
  h.base.pMethods = nullptr;  // SQLite calls no method of a file that failed to open
  try {
    MemoryFiles& files = MemoryFiles::instance();
    std::shared_ptr<MemoryFile> file;
    // A file deleted on close is nobody else's: it gets no name (POSIX would unlink it at once).
    if (!name || (flags & SQLITE_OPEN_DELETEONCLOSE))
      file = std::make_shared<MemoryFile>();
    else
      file = files.open(name, (flags & SQLITE_OPEN_CREATE) != 0, (flags & SQLITE_OPEN_EXCLUSIVE) != 0);
    if (!file) return SQLITE_CANTOPEN;
    h.owner = new std::shared_ptr<MemoryFile>(std::move(file));
  } catch (const std::bad_alloc&) {
    return SQLITE_NOMEM;
  }
  h.file = h.owner->get();
  h.lock = SQLITE_LOCK_NONE;
  h.uses_index = false;
  h.index_shared = h.index_exclusive = 0;
  h.base.pMethods = &kMemoryFileMethods;
  if (out_flags) *out_flags = flags;
  return SQLITE_OK;
}

inline int delete_file(sqlite3_vfs*, const char* name, int) noexcept {
  return MemoryFiles::instance().remove(name) ? SQLITE_OK : SQLITE_IOERR_DELETE_NOENT;
}
inline int access_file(sqlite3_vfs*, const char* name, int, int* out) noexcept {
  *out = MemoryFiles::instance().exists(name);
  return SQLITE_OK;
}
inline int full_pathname(sqlite3_vfs*, const char* name, int size, char* out) noexcept {
  if (std::strlen(name) >= static_cast<std::size_t>(size)) return SQLITE_CANTOPEN;
  sqlite3_snprintf(size, out, "%s", name);
  return SQLITE_OK;
}
// What is not about files goes to the system's VFS.
inline void* dl_open(sqlite3_vfs* v, const char* path) { return default_vfs(v)->xDlOpen(default_vfs(v), path); }
inline void dl_error(sqlite3_vfs* v, int size, char* out) { default_vfs(v)->xDlError(default_vfs(v), size, out); }
inline void (*dl_sym(sqlite3_vfs* v, void* library, const char* symbol))(void) {
  return default_vfs(v)->xDlSym(default_vfs(v), library, symbol);
}
inline void dl_close(sqlite3_vfs* v, void* library) { default_vfs(v)->xDlClose(default_vfs(v), library); }
inline int randomness(sqlite3_vfs* v, int size, char* out) {
  return default_vfs(v)->xRandomness(default_vfs(v), size, out);
}
inline int sleep_for(sqlite3_vfs* v, int microseconds) { return default_vfs(v)->xSleep(default_vfs(v), microseconds); }
inline int current_time(sqlite3_vfs* v, double* out) { return default_vfs(v)->xCurrentTime(default_vfs(v), out); }
inline int last_error(sqlite3_vfs* v, int size, char* out) {
  return default_vfs(v)->xGetLastError(default_vfs(v), size, out);
}
inline int current_time_64(sqlite3_vfs* v, sqlite3_int64* out) {
  return default_vfs(v)->xCurrentTimeInt64(default_vfs(v), out);
}

// Registers the VFS with SQLite, once per process.
inline void register_memory_vfs() {
  static std::once_flag once;
  std::call_once(once, [] {
    static sqlite3_vfs vfs = {
        2,
        static_cast<int>(sizeof(MemoryHandle)),
        512,
        nullptr,
        kMemoryVfsName,
        nullptr,
        open_file,
        delete_file,
        access_file,
        full_pathname,
        dl_open,
        dl_error,
        dl_sym,
        dl_close,
        randomness,
        sleep_for,
        current_time,
        last_error,
        current_time_64,
        nullptr,
        nullptr,
        nullptr,
    };
    vfs.pAppData = sqlite3_vfs_find(nullptr);
    if (const int rc = sqlite3_vfs_register(&vfs, 0); rc != SQLITE_OK)
      throw ConnectionError(std::string("cannot register keel's in-memory SQLite file system: ") + sqlite3_errstr(rc));
  });
}

// The database of one engine's ":memory:": a name of its own in the in-memory file system, whose files are
// forgotten with the engine.
class SharedMemoryDatabase {
public:
  explicit SharedMemoryDatabase(bool wanted) {
    register_memory_vfs();  // also for a path that names the VFS itself
    if (!wanted) return;
    static std::atomic<std::uint64_t> next{0};
    prefix_ = "/keel-memory-" + std::to_string(next.fetch_add(1)) + "/";
  }
  ~SharedMemoryDatabase() {
    if (!prefix_.empty()) MemoryFiles::instance().remove_prefixed(prefix_);
  }
  SharedMemoryDatabase(const SharedMemoryDatabase&) = delete;
  SharedMemoryDatabase& operator=(const SharedMemoryDatabase&) = delete;

  // Whether the engine's database is this one.
  bool in_use() const noexcept { return !prefix_.empty(); }
  // The URI the connections open; empty when not in use.
  std::string uri() const {
    return prefix_.empty() ? std::string() : "file:" + prefix_ + "memory.sqlite?vfs=" + kMemoryVfsName;
  }

private:
  std::string prefix_;
};

}  // namespace keel::sqlite_detail
