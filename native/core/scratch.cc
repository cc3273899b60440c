#include "scratch.h"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>

// Under AddressSanitizer the blocks are poisoned except for the pieces handed out (their exact bytes), so that an
// access past a piece or to a piece after its frame ended is reported as it would be for a heap buffer of its own.
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define TF_POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define TF_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define TF_POISON(p, n) ((void)(p), (void)(n))
#define TF_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

namespace tf {

namespace {

constexpr size_t kAlign = 64;
constexpr size_t kMinBlock = size_t{64} << 10;  // the first block of a thread: 64 KiB
// Each new block is at least as large as all before it, so the total at least doubles per block: 48 never fill.
constexpr size_t kMaxBlocks = 48;
// A larger piece throws ScratchError without asking the allocator: no machine has it, and sanitizer allocators abort
// on such a request instead of failing it.
constexpr size_t kMaxPiece = size_t{1} << 40;

struct Block {
  char* p;
  size_t size;
};

// One thread's arena. Blocks [0, top) hold the open frames' pieces (block top - 1 up to `used` bytes); blocks from
// top on are free and are reused, or dropped when one is too small.
struct Arena {
  Block blocks[kMaxBlocks];
  size_t nblocks = 0;
  size_t top = 0;
  size_t used = 0;
  size_t total = 0;  // bytes in all blocks
  size_t hint = 0;   // size for the next new block (the merged total after an outermost frame)
  int depth = 0;

  void drop_from(size_t i) {
    for (size_t j = i; j < nblocks; ++j) {
      TF_UNPOISON(blocks[j].p, blocks[j].size);
      std::free(blocks[j].p);
      total -= blocks[j].size;
    }
    nblocks = i;
  }
  ~Arena() { drop_from(0); }

  void* take(size_t bytes) {
    if (bytes > kMaxPiece) throw ScratchError(bytes);
    if (top > 0 && bytes <= blocks[top - 1].size - used) {
      void* p = blocks[top - 1].p + used;
      used += bytes;
      return p;
    }
    if (top < nblocks && bytes <= blocks[top].size) {
      ++top;
      used = bytes;
      return blocks[top - 1].p;
    }
    drop_from(top);  // free blocks too small for this piece: nothing from `top` on is in use
    if (nblocks == kMaxBlocks) throw ScratchError(bytes);
    size_t size = bytes > total ? bytes : total;
    if (size < hint) size = hint;
    if (size < kMinBlock) size = kMinBlock;
    void* p = std::aligned_alloc(kAlign, size);  // size is a multiple of 64
    if (!p) throw ScratchError(size);
    TF_POISON(p, size);
    hint = 0;
    blocks[nblocks++] = {static_cast<char*>(p), size};
    total += size;
    top = nblocks;
    used = bytes;
    return p;
  }

  // Everything from block top - 1 at `used` on is free again (sanitizer builds: poison it).
  void poison_free() {
#if defined(__SANITIZE_ADDRESS__)
    if (top > 0) TF_POISON(blocks[top - 1].p + used, blocks[top - 1].size - used);
    for (size_t j = top; j < nblocks; ++j) TF_POISON(blocks[j].p, blocks[j].size);
#endif
  }

  // The outermost frame ended (nothing is in use): merge several blocks into one, free a grown arena.
  void settle() {
    if (total > kScratchCap) {
      drop_from(0);
      hint = 0;
    } else if (nblocks > 1) {
      hint = total;
      drop_from(0);
    }
  }
};

thread_local Arena t_arena;

}  // namespace

ScratchError::ScratchError(size_t bytes) {
  std::snprintf(msg_, sizeof msg_, "turboformer: cannot allocate %zu bytes of working memory", bytes);
}
ScratchError::ScratchError() {
  std::snprintf(msg_, sizeof msg_, "turboformer: the working memory this call needs overflows a 64-bit size");
}

size_t checked_count(int64_t a, int64_t b, int64_t c, int64_t d) {
  if (a < 0 || b < 0 || c < 0 || d < 0) throw ScratchError();
  uint64_t r;
  if (__builtin_mul_overflow(static_cast<uint64_t>(a), static_cast<uint64_t>(b), &r) ||
      __builtin_mul_overflow(r, static_cast<uint64_t>(c), &r) ||
      __builtin_mul_overflow(r, static_cast<uint64_t>(d), &r) || r > SIZE_MAX)
    throw ScratchError();
  return static_cast<size_t>(r);
}

ScratchFrame::ScratchFrame() {
  Arena& a = t_arena;
  block_ = a.top;
  used_ = a.used;
  ++a.depth;
}

ScratchFrame::~ScratchFrame() {
  Arena& a = t_arena;
  a.top = block_;
  a.used = used_;
  a.poison_free();
  if (--a.depth == 0) a.settle();
}

void* ScratchFrame::take(size_t n, size_t elem, bool zero) {
  // bytes rounded up to whole 64-byte lines (at least one, so that every piece is a distinct valid pointer)
  if (elem != 0 && n > (SIZE_MAX - (kAlign - 1)) / elem) throw ScratchError();
  const size_t raw = n * elem;
  const size_t bytes = raw == 0 ? kAlign : (raw + kAlign - 1) / kAlign * kAlign;
  void* p = t_arena.take(bytes);
  TF_UNPOISON(p, raw);
  if (zero) std::memset(p, 0, raw);
  return p;
}

float* ScratchFrame::floats(size_t n) { return static_cast<float*>(take(n, sizeof(float), false)); }
double* ScratchFrame::doubles(size_t n) { return static_cast<double*>(take(n, sizeof(double), false)); }

}  // namespace tf
