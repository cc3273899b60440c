// What the hand-built kernel harnesses in bench/native share: this thread's CPU time and a best / median line.
#pragma once
#include <algorithm>
#include <cstdio>
#include <ctime>
#include <vector>

namespace harness {
// CPU time of the calling thread in microseconds (another process's time on the core is not counted)
inline double cpu_us() {
  timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return t.tv_sec * 1e6 + t.tv_nsec * 1e-3;
}
// "name  best X unit  median Y unit" over the rounds v (best: the smallest, or the largest when larger_better)
inline void report(const char* name, std::vector<double> v, const char* unit, bool larger_better = false) {
  std::sort(v.begin(), v.end());
  std::printf("%-34s best %8.3f %s  median %8.3f %s\n", name, larger_better ? v.back() : v[0], unit, v[v.size() / 2],
              unit);
}
}  // namespace harness
