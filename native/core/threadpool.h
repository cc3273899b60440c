// The addon's own thread pool (not libuv's): persistent workers plus the calling thread. A worker that finished a
// job watches for the next one for up to 60 µs (yielding the core) before it sleeps, and the caller likewise waits
// for the workers to leave a job: back-to-back small regions (a model's per-token steps) skip the condition
// variable's wake-up, which on a VM costs more than such a region.
//
// parallel_for splits [begin, end) into chunks of at least `grain` items and runs them on all threads.
// One parallel region runs at a time (concurrent callers, e.g. two async ops, take turns); a parallel_for
// called from inside a region runs inline on the calling thread. An exception thrown by a chunk is
// rethrown on the caller after every chunk has finished.
#pragma once
#include <cstdint>
#include <functional>

namespace tf {

using RangeFn = std::function<void(int64_t begin, int64_t end)>;

// Threads used by parallel regions, the caller included. Default: TURBOFORMER_NUM_THREADS, else the
// machine's available parallelism (CPU affinity respected).
int num_threads();
// Sets the thread count (clamped to [1, 1024]); waits for a running region to finish first.
void set_num_threads(int n);
// The machine's available parallelism (what the default would be without the environment variable).
int hardware_threads();

void parallel_for(int64_t begin, int64_t end, int64_t grain, const RangeFn& fn);

// Splits n items into `parts` near-equal contiguous ranges; range i is [split_begin(n, parts, i),
// split_begin(n, parts, i + 1)). Used by kernels whose chunking must not depend on the thread count.
inline int64_t split_begin(int64_t n, int64_t parts, int64_t i) { return n / parts * i + (i < n % parts ? i : n % parts); }

}  // namespace tf
