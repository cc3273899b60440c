// Plain C++ interface to the CUDA part of the addon. Implemented by device.cu when the CUDA compiler was
// found at build time, otherwise by cuda_stub.cc, so callers never need #ifdefs.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace tf::cuda {

struct DeviceInfo {
  int index = 0;
  std::string name;
  int major = 0, minor = 0;  // compute capability
  size_t total_memory = 0;   // bytes
  int multiprocessors = 0;
};

struct Status {
  bool compiled = false;      // the addon was built with CUDA kernels
  std::string architectures;  // e.g. "80;86;89;90" (empty without CUDA)
  int runtime_version = 0;    // e.g. 13000
  int driver_version = 0;     // 0: no NVIDIA driver
  bool available = false;     // at least one usable device
  std::vector<DeviceInfo> devices;
  std::string message;        // why CUDA is unavailable, or "" when it is
};

// Queries the driver and devices (cached after the first call; cheap).
const Status& status();

// out[i] = a[i] + b[i] on `device`: copies in, launches, copies out. Returns "" or the error.
std::string add_f32(const float* a, const float* b, float* out, int64_t n, int device);

}  // namespace tf::cuda
