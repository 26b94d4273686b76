{
  "targets": [
    {
      "target_name": "aha_native",
      "sources": ["native/addon.cc", "native/gemm.cc", "native/kernels.cc", "native/decode.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS"],
      "cflags!": ["-fno-exceptions", "-O2", "-O0"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-O2", "-O0"],
      "cflags_cc": ["-O3", "-fopenmp", "-fno-math-errno", "-fexceptions", "-Wall", "-Wno-unknown-pragmas"],
      "ldflags": ["-fopenmp"],
      "libraries": ["-ldnnl", "-fopenmp"]
    }
  ]
}
