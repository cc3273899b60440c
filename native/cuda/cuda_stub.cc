// CUDA entry points for builds without the CUDA compiler (node-gyp, or cmake-js without nvcc).
#include <string>

#include "cuda_api.h"

namespace tf::cuda {

const Status& status() {
  static const Status s = [] {
    Status st;
#if defined(TURBOFORMER_BUILD_SYSTEM)
    const std::string system = TURBOFORMER_BUILD_SYSTEM;
#else
    const std::string system = "unknown";
#endif
    st.message = system == "node-gyp"
                     ? "this build of turboformer has no CUDA kernels (node-gyp builds the CPU kernels only; build with "
                       "cmake-js and nvcc for CUDA)"
                     : "this build of turboformer has no CUDA kernels (no CUDA compiler was found when it was built)";
    return st;
  }();
  return s;
}

std::string add_f32(const float*, const float*, float*, int64_t, int) { return status().message; }

}  // namespace tf::cuda
