// CUDA entry points for builds without the CUDA compiler (node-gyp, or cmake-js without nvcc).
#include "cuda_api.h"

namespace tf::cuda {

const Status& status() {
  static const Status s = [] {
    Status st;
    st.message = "this build of turboformer has no CUDA kernels (no CUDA compiler was found when it was built)";
    return st;
  }();
  return s;
}

std::string add_f32(const float*, const float*, float*, int64_t, int) { return status().message; }

}  // namespace tf::cuda
