#include "memory.h"

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#if !defined(_WIN32)
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#endif

namespace tf {

static std::atomic<int64_t> g_live_bytes{0};
static std::atomic<int64_t> g_live_blocks{0};
static std::atomic<int64_t> g_mapped_bytes{0};
static std::atomic<int64_t> g_mapped_files{0};

static size_t round_up(size_t n) { return n == 0 ? kAlignment : (n + kAlignment - 1) / kAlignment * kAlignment; }

// Transparent huge pages for large blocks, opt-in (TURBOFORMER_HUGE_PAGES=1, read once): a block of kHugeMin bytes or
// more gets its own anonymous mapping aligned to 2 MiB, and its whole 2 MiB pages are advised MADV_HUGEPAGE, so Linux
// backs them with huge pages where it can (transparent_hugepage "always" or "madvise"). The streams of a memory-bound
// kernel then need one TLB entry per 2 MiB instead of 512 (WKV, C 2048, its k, v and out on huge pages: ~10% less time
// in a harness, 0.75-0.8x the time in bench/recurrent.bench.mjs --alloc-inputs on the build VM). Off by default: a fault in such a range may first compact memory (defrag
// "madvise"), a stall where an allocation does not expect one (PyTorch's THP_MEM_ALLOC_ENABLE is opt-in too).
#if !defined(_WIN32) && defined(MADV_HUGEPAGE)
constexpr size_t kHugePage = size_t{2} << 20;
constexpr size_t kHugeMin = size_t{4} << 20;
constexpr size_t kPage = 4096;
static bool huge_pages_on() {
  static const bool on = [] {
    const char* v = std::getenv("TURBOFORMER_HUGE_PAGES");
    return v && (std::strcmp(v, "1") == 0 || std::strcmp(v, "true") == 0 || std::strcmp(v, "on") == 0);
  }();
  return on;
}
static bool huge_block(size_t n) { return n >= kHugeMin && huge_pages_on(); }
static size_t huge_length(size_t n) { return (n + kPage - 1) / kPage * kPage; }
// n bytes (zero-filled by the kernel) at a 2 MiB boundary, or nullptr
static void* huge_alloc(size_t n) {
  const size_t len = huge_length(n);
  void* raw = ::mmap(nullptr, len + kHugePage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) return nullptr;
  const uintptr_t r = reinterpret_cast<uintptr_t>(raw), a = (r + kHugePage - 1) & ~(uintptr_t{kHugePage} - 1);
  if (a > r) ::munmap(raw, a - r);  // the unaligned head and the tail beyond len
  if (r + len + kHugePage > a + len) ::munmap(reinterpret_cast<void*>(a + len), r + len + kHugePage - (a + len));
  const size_t whole = n / kHugePage * kHugePage;  // a partial last page stays small (no 2 MiB for its tail)
  if (whole > 0) (void)::madvise(reinterpret_cast<void*>(a), whole, MADV_HUGEPAGE);
  return reinterpret_cast<void*>(a);
}
#else
static bool huge_pages_on() { return false; }
static bool huge_block(size_t) { return false; }
#endif

void* aligned_alloc64(size_t bytes, bool zero) {
  if (bytes > SIZE_MAX - kAlignment) return nullptr;
  size_t n = round_up(bytes);
  void* p;
#if defined(_WIN32)
  p = _aligned_malloc(n, kAlignment);
#else
#if defined(MADV_HUGEPAGE)
  if (huge_block(n)) {
    p = huge_alloc(n);
    zero = false;  // a fresh anonymous mapping reads as zeros
  } else
#endif
    p = std::aligned_alloc(kAlignment, n);
#endif
  if (!p) return nullptr;
  if (zero) std::memset(p, 0, n);
  g_live_bytes += static_cast<int64_t>(n);
  g_live_blocks += 1;
  return p;
}

void aligned_free64(void* p, size_t bytes) {
  if (!p) return;
  const size_t n = round_up(bytes);
  g_live_bytes -= static_cast<int64_t>(n);
  g_live_blocks -= 1;
#if defined(_WIN32)
  _aligned_free(p);
#else
#if defined(MADV_HUGEPAGE)
  if (huge_block(n)) {
    ::munmap(p, huge_length(n));
    return;
  }
#endif
  std::free(p);
#endif
}

MemoryStats memory_stats() {
  return {g_live_bytes.load(), g_live_blocks.load(), g_mapped_bytes.load(), g_mapped_files.load(), huge_pages_on()};
}

void note_mapping(int64_t bytes, int delta_files) {
  g_mapped_bytes += bytes;
  g_mapped_files += delta_files;
}

static const char* fail(char* err, size_t errlen, const char* what, const char* path) {
  std::snprintf(err, errlen, "%s '%s': %s", what, path, std::strerror(errno));
  return err;
}

const char* map_file(const char* path, FileMapping* out, char* err, size_t errlen) {
  *out = FileMapping{};
#if defined(_WIN32)
  FILE* f = std::fopen(path, "rb");
  if (!f) return fail(err, errlen, "cannot open", path);
  if (std::fseek(f, 0, SEEK_END) != 0) { std::fclose(f); return fail(err, errlen, "cannot seek", path); }
  long long size = _ftelli64(f);
  std::fseek(f, 0, SEEK_SET);
  void* p = aligned_alloc64(static_cast<size_t>(size));
  if (!p) { std::fclose(f); std::snprintf(err, errlen, "out of memory reading '%s'", path); return err; }
  if (size > 0 && std::fread(p, 1, static_cast<size_t>(size), f) != static_cast<size_t>(size)) {
    aligned_free64(p, static_cast<size_t>(size));
    std::fclose(f);
    return fail(err, errlen, "cannot read", path);
  }
  std::fclose(f);
  out->data = p;
  out->size = static_cast<size_t>(size);
  out->mapped = false;
  return "";
#else
  int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fail(err, errlen, "cannot open", path);
  struct stat st;
  if (::fstat(fd, &st) != 0) { ::close(fd); return fail(err, errlen, "cannot stat", path); }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    std::snprintf(err, errlen, "'%s' is not a regular file", path);
    return err;
  }
  size_t size = static_cast<size_t>(st.st_size);
  if (size == 0) {
    ::close(fd);
    out->data = aligned_alloc64(0);
    out->size = 0;
    out->mapped = false;
    return "";
  }
  // Private (copy-on-write) and writable: a JS write into the buffer never touches the file and never faults.
  void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
  int saved = errno;
  ::close(fd);
  if (p == MAP_FAILED) {
    errno = saved;
    return fail(err, errlen, "cannot map", path);
  }
  out->data = p;
  out->size = size;
  out->mapped = true;
  note_mapping(static_cast<int64_t>(size), 1);
  return "";
#endif
}

void unmap_file(const FileMapping& m) {
  if (!m.data) return;
#if !defined(_WIN32)
  if (m.mapped) {
    ::munmap(m.data, m.size);
    note_mapping(-static_cast<int64_t>(m.size), -1);
    return;
  }
#endif
  aligned_free64(m.data, m.size);
}

}  // namespace tf
