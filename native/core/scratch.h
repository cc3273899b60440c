// Per-thread scratch arena for kernels' temporary buffers.
//
// Design. Every thread has one arena: a stack of 64-byte aligned blocks from the C allocator, grown on demand and
// kept between calls (page-faulting megabytes on every call would cost more than small kernels do). A ScratchFrame
// marks the arena's top when it is made; each floats() / doubles() / get<T>() hands out the next consecutive
// 64-byte aligned piece, UNINITIALISED (zeros<T>() when a kernel needs zeros), and the frame's destructor gives
// back everything taken since its mark. Frames nest (an op's frame around a GEMM that takes its own), strictly
// last-in first-out on one thread: a frame lives on the stack of the thread that made it and is never handed to
// another thread (a parallel_for task makes its own frame on its own thread; pieces the caller took may be read
// and written by the tasks while the caller's frame lives).
//
// Growth never moves a piece: when the top block is full a new block is chained on (at least as large as all
// blocks so far, so a thread ends with few), and the pieces already handed out stay where they are. When the
// outermost frame of a thread ends, several blocks are merged into one (freed; the next piece allocates one block
// of their total size), and an arena grown past kScratchCap (64 MiB) is freed entirely, so that one huge call does
// not pin memory in every pool thread forever. Not counted in memoryStats(): it is the kernels' working set.
//
// Sizes: every count goes through checked_count(), which multiplies int64 factors and throws ScratchError (a
// std::bad_alloc) on a negative factor or an overflow (of the count, or of its byte size in a piece); a piece over
// 1 TiB or a failed allocation throws it too, naming the bytes asked for. The N-API layer turns it into a JS Error
// with that message (sync calls: node-addon-api's CPP_EXCEPTIONS_ALL; async: the promise rejects, napi/common.cc
// run_async). Under AddressSanitizer
// the free parts of the blocks are poisoned: an access past a piece, or to a piece after its frame ended, is reported.
//
// The arena's code is out of line in scratch.cc, so no standard-library or arena code is compiled inside a kernel's ISA
// target region: per-ISA templates may use ScratchFrame, floats() and doubles() (the header included before the
// region, as wkv.h does for wkv_impl.h); get<T>() and zeros<T>() are one-line casts around the same call.
//
// Use (the kernel's temporaries, or a parallel_for task's):
//   ScratchFrame frame;
//   float* tile = frame.floats(checked_count(rows, cols));  // uninitialised
//   double* acc = frame.zeros<double>(checked_count(n));     // zero-filled
//   int32_t* idx = frame.get<int32_t>(checked_count(n));
#pragma once
#include <cstddef>
#include <cstdint>
#include <new>
#include <type_traits>

namespace tf {

// What a scratch request that cannot be met throws: a std::bad_alloc whose message says how much working memory was
// asked for ("turboformer: cannot allocate N bytes of working memory"), or that the size overflows. The message is
// formatted into the object itself: nothing is allocated while throwing it.
class ScratchError : public std::bad_alloc {
 public:
  explicit ScratchError(size_t bytes);  // a request of `bytes` that failed
  ScratchError();                       // a size that overflows (or has a negative factor)
  const char* what() const noexcept override { return msg_; }

 private:
  char msg_[96];
};

// An arena that reached more than this many bytes is freed when its thread's outermost frame ends.
constexpr size_t kScratchCap = size_t{64} << 20;

// a * b * c * d as an element count; throws ScratchError when a factor is negative or the product overflows.
size_t checked_count(int64_t a, int64_t b = 1, int64_t c = 1, int64_t d = 1);

class ScratchFrame {
 public:
  ScratchFrame();
  ~ScratchFrame();
  ScratchFrame(const ScratchFrame&) = delete;
  ScratchFrame& operator=(const ScratchFrame&) = delete;

  // n elements, uninitialised, 64-byte aligned (a valid pointer also for n == 0). Throws ScratchError.
  float* floats(size_t n);
  double* doubles(size_t n);
  template <class T>
  T* get(size_t n) {
    static_assert(std::is_trivially_copyable_v<T> && std::is_trivially_destructible_v<T> && alignof(T) <= 64,
                  "scratch holds plain data only");
    return static_cast<T*>(take(n, sizeof(T), false));
  }
  // n elements of zero bytes.
  template <class T>
  T* zeros(size_t n) {
    static_assert(std::is_trivially_copyable_v<T> && std::is_trivially_destructible_v<T> && alignof(T) <= 64,
                  "scratch holds plain data only");
    return static_cast<T*>(take(n, sizeof(T), true));
  }

 private:
  void* take(size_t n, size_t elem, bool zero);
  size_t block_;  // the arena's top when the frame was made: block index and bytes used in it
  size_t used_;
};

}  // namespace tf
