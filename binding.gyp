{
  # Source-build fallback used by node-gyp-build when no prebuild matches: the CPU kernels of
  # CMakeLists.txt (the primary build), without CUDA. test/build.test.ts keeps the lists equal.
  "targets": [
    {
      "target_name": "turboformer",
      "sources": [
        "native/core/cpu_features.cc",
        "native/core/dispatch.cc",
        "native/core/dtype.cc",
        "native/core/memory.cc",
        "native/core/threadpool.cc",
        "native/cpu/attention/blocksparse.cc",
        "native/cpu/attention/flash.cc",
        "native/cpu/attention/flash_avx2.cc",
        "native/cpu/attention/flash_avx512.cc",
        "native/cpu/convert/convert.cc",
        "native/cpu/convert/convert_avx2.cc",
        "native/cpu/convert/convert_avx512.cc",
        "native/cpu/elementwise/elementwise.cc",
        "native/cpu/elementwise/elementwise_avx2.cc",
        "native/cpu/elementwise/elementwise_avx512.cc",
        "native/cpu/favor/favor.cc",
        "native/cpu/favor/favor_avx2.cc",
        "native/cpu/favor/favor_avx512.cc",
        "native/cpu/gemm/gemm.cc",
        "native/cpu/gemm/gemm_avx2.cc",
        "native/cpu/gemm/gemm_avx512.cc",
        "native/cpu/layout/layout.cc",
        "native/cpu/linformer/linformer.cc",
        "native/cpu/moe/moe.cc",
        "native/cpu/norm/norm.cc",
        "native/cpu/norm/norm_avx2.cc",
        "native/cpu/norm/norm_avx512.cc",
        "native/cpu/quant/quant.cc",
        "native/cpu/quant/quant_avx2.cc",
        "native/cpu/quant/quant_avx512.cc",
        "native/cpu/reduce/reduce.cc",
        "native/cpu/reduce/reduce_avx2.cc",
        "native/cpu/reduce/reduce_avx512.cc",
        "native/cpu/reduce/topk.cc",
        "native/cpu/retention/retention.cc",
        "native/cpu/retention/retention_avx2.cc",
        "native/cpu/retention/retention_avx512.cc",
        "native/cpu/softmax/softmax.cc",
        "native/cpu/softmax/softmax_avx2.cc",
        "native/cpu/softmax/softmax_avx512.cc",
        "native/cpu/ssm/ssm.cc",
        "native/cpu/ssm/ssm_avx2.cc",
        "native/cpu/ssm/ssm_avx512.cc",
        "native/cpu/wkv/wkv.cc",
        "native/cpu/wkv/wkv_avx2.cc",
        "native/cpu/wkv/wkv_avx512.cc",
        "native/napi/addon.cc",
        "native/napi/attention.cc",
        "native/napi/common.cc",
        "native/napi/convert.cc",
        "native/napi/cuda.cc",
        "native/napi/elementwise.cc",
        "native/napi/favor.cc",
        "native/napi/gemm.cc",
        "native/napi/info.cc",
        "native/napi/layout.cc",
        "native/napi/linformer.cc",
        "native/napi/memory.cc",
        "native/napi/moe.cc",
        "native/napi/norm.cc",
        "native/napi/quant.cc",
        "native/napi/reduce.cc",
        "native/napi/retention.cc",
        "native/napi/softmax.cc",
        "native/napi/ssm.cc",
        "native/napi/wkv.cc",
        "native/cuda/cuda_stub.cc"
      ],
      "dependencies": [
        "<!(node -p \"require('node-addon-api').targets\"):node_addon_api_except_all"
      ],
      "defines": [
        "NAPI_VERSION=8",
        "NDEBUG",
        "TURBOFORMER_BUILD_SYSTEM=\"node-gyp\"",
        "TURBOFORMER_VERSION=\"<!(node -p \"require('./package.json').version\")\""
      ],
      "cflags_cc": ["-std=c++17", "-O3", "-fno-math-errno"],
      "cflags_cc!": ["-std=gnu++14", "-std=gnu++17"],
      "xcode_settings": {
        "CLANG_CXX_LANGUAGE_STANDARD": "c++17",
        "GCC_ENABLE_CPP_EXCEPTIONS": "YES",
        "MACOSX_DEPLOYMENT_TARGET": "10.15"
      },
      "msvs_settings": {
        "VCCLCompilerTool": { "ExceptionHandling": 1, "AdditionalOptions": ["/std:c++17"] }
      }
    }
  ]
}
