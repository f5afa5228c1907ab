{
  "targets": [
    {
      "target_name": "dino_native",
      "sources": [
        "src/addon.cc",
        "src/threadpool.cc",
        "src/gemm.cc",
        "src/gemm_bf16.cc",
        "src/elementwise.cc",
        "src/layernorm.cc",
        "src/attention.cc",
        "src/reduce.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++17", "-std=gnu++1y"],
            "cflags_cc": [
        "-std=c++20", "-O3", "-march=native", "-fexceptions",
        "-ffp-contract=fast", "-fno-math-errno", "-fno-trapping-math"
      ],
      "ldflags": ["-pthread"]
    }
  ]
}
