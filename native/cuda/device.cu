// Device query and the first CUDA kernel (element-wise add) with its launch path. The CUDA runtime is
// linked statically; libcuda is opened at run time, so this code must cope with no driver at all.
#include <cuda_runtime.h>

#include <cstdio>
#include <mutex>

#include "cuda_api.h"

#ifndef TURBOFORMER_CUDA_ARCHS
#define TURBOFORMER_CUDA_ARCHS ""
#endif

namespace tf::cuda {

static std::string err_text(const char* what, cudaError_t e) {
  return std::string(what) + ": " + cudaGetErrorName(e) + " (" + cudaGetErrorString(e) + ")";
}

static Status query() {
  Status s;
  s.compiled = true;
  s.architectures = TURBOFORMER_CUDA_ARCHS;
  cudaRuntimeGetVersion(&s.runtime_version);
  // Ask for the driver first: without one, the runtime's own errors say "driver version is
  // insufficient", which misleads on a machine that simply has no NVIDIA driver.
  if (cudaDriverGetVersion(&s.driver_version) != cudaSuccess || s.driver_version == 0) {
    s.driver_version = 0;
    s.message = "no NVIDIA driver found; CUDA kernels are unavailable and CPU kernels are used";
    return s;
  }
  int count = 0;
  cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess) {
    s.message = err_text("cannot enumerate CUDA devices", e);
    cudaGetLastError();
    return s;
  }
  if (count == 0) {
    s.message = "the NVIDIA driver reports no CUDA devices";
    return s;
  }
  for (int i = 0; i < count; ++i) {
    cudaDeviceProp p;
    if (cudaGetDeviceProperties(&p, i) != cudaSuccess) continue;
    DeviceInfo d;
    d.index = i;
    d.name = p.name;
    d.major = p.major;
    d.minor = p.minor;
    d.total_memory = p.totalGlobalMem;
    d.multiprocessors = p.multiProcessorCount;
    s.devices.push_back(d);
  }
  s.available = !s.devices.empty();
  if (!s.available) s.message = "no CUDA device could be queried";
  return s;
}

const Status& status() {
  static std::once_flag once;
  static Status s;
  std::call_once(once, [] { s = query(); });
  return s;
}

__global__ void add_f32_kernel(const float* __restrict__ a, const float* __restrict__ b, float* __restrict__ out, int64_t n) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    out[i] = a[i] + b[i];
}

std::string add_f32(const float* a, const float* b, float* out, int64_t n, int device) {
  const Status& s = status();
  if (!s.available) return s.message;
  if (device < 0 || device >= static_cast<int>(s.devices.size()))
    return "device " + std::to_string(device) + " does not exist (found " + std::to_string(s.devices.size()) + ")";
  if (n == 0) return "";
  cudaError_t e = cudaSetDevice(device);
  if (e != cudaSuccess) return err_text("cudaSetDevice", e);
  const size_t bytes = static_cast<size_t>(n) * sizeof(float);
  float *da = nullptr, *db = nullptr, *dc = nullptr;
  std::string err;
  cudaStream_t stream = nullptr;
  auto check = [&](cudaError_t r, const char* what) {
    if (r != cudaSuccess && err.empty()) err = err_text(what, r);
    return r == cudaSuccess;
  };
  if (check(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), "cudaStreamCreate") &&
      check(cudaMallocAsync(&da, bytes, stream), "cudaMallocAsync") &&
      check(cudaMallocAsync(&db, bytes, stream), "cudaMallocAsync") &&
      check(cudaMallocAsync(&dc, bytes, stream), "cudaMallocAsync") &&
      check(cudaMemcpyAsync(da, a, bytes, cudaMemcpyHostToDevice, stream), "cudaMemcpyAsync") &&
      check(cudaMemcpyAsync(db, b, bytes, cudaMemcpyHostToDevice, stream), "cudaMemcpyAsync")) {
    const int threads = 256;
    int64_t blocks64 = (n + threads - 1) / threads;
    int blocks = static_cast<int>(blocks64 < 65535 * 32 ? blocks64 : 65535 * 32);
    add_f32_kernel<<<blocks, threads, 0, stream>>>(da, db, dc, n);
    if (check(cudaGetLastError(), "kernel launch"))
      check(cudaMemcpyAsync(out, dc, bytes, cudaMemcpyDeviceToHost, stream), "cudaMemcpyAsync");
  }
  if (da) cudaFreeAsync(da, stream);
  if (db) cudaFreeAsync(db, stream);
  if (dc) cudaFreeAsync(dc, stream);
  if (stream) {
    check(cudaStreamSynchronize(stream), "cudaStreamSynchronize");
    cudaStreamDestroy(stream);
  }
  return err;
}

}  // namespace tf::cuda
