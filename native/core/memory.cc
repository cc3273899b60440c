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

void* aligned_alloc64(size_t bytes, bool zero) {
  if (bytes > SIZE_MAX - kAlignment) return nullptr;
  size_t n = round_up(bytes);
#if defined(_WIN32)
  void* p = _aligned_malloc(n, kAlignment);
#else
  void* p = std::aligned_alloc(kAlignment, n);
#endif
  if (!p) return nullptr;
  if (zero) std::memset(p, 0, n);
  g_live_bytes += static_cast<int64_t>(n);
  g_live_blocks += 1;
  return p;
}

void aligned_free64(void* p, size_t bytes) {
  if (!p) return;
  g_live_bytes -= static_cast<int64_t>(round_up(bytes));
  g_live_blocks -= 1;
#if defined(_WIN32)
  _aligned_free(p);
#else
  std::free(p);
#endif
}

MemoryStats memory_stats() {
  return {g_live_bytes.load(), g_live_blocks.load(), g_mapped_bytes.load(), g_mapped_files.load()};
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
