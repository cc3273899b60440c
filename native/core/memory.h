// 64-byte aligned allocation with live-byte accounting (exposed to JS as memoryStats()).
#pragma once
#include <cstddef>
#include <cstdint>

namespace tf {

constexpr size_t kAlignment = 64;

// Returns memory aligned to 64 bytes (zero-filled when `zero`), or nullptr when the allocation fails.
// A zero-byte request returns a valid (non-null) 64-byte block. With TURBOFORMER_HUGE_PAGES=1 (Linux), a block of
// 4 MiB or more is its own mapping at a 2 MiB boundary, advised for transparent huge pages (memory.cc).
void* aligned_alloc64(size_t bytes, bool zero = true);
void aligned_free64(void* p, size_t bytes);

struct MemoryStats {
  int64_t live_bytes;    // bytes held by aligned_alloc64 blocks not yet freed
  int64_t live_blocks;
  int64_t mapped_bytes;  // bytes of file mappings not yet unmapped
  int64_t mapped_files;
  bool huge_pages;       // blocks of 4 MiB or more on transparent huge pages (TURBOFORMER_HUGE_PAGES=1, Linux)
};
MemoryStats memory_stats();
void note_mapping(int64_t bytes, int delta_files);

// Memory-mapped read of a whole file, copy-on-write: writes through the mapping never reach the file.
struct FileMapping {
  void* data = nullptr;
  size_t size = 0;
  bool mapped = false;  // false: data was read into an aligned heap block instead (no mmap available)
};
// Returns an empty string on success, otherwise the reason (with errno text).
const char* map_file(const char* path, FileMapping* out, char* err, size_t errlen);
void unmap_file(const FileMapping& m);

}  // namespace tf
