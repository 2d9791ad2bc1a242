{
  # The shipped build (prebuildify) and node-gyp-build's install fallback. The source list
  # is src-native/sources.txt, shared with CMakeLists.txt (the developer build).
  #
  # libbpf: the pinned static build from scripts/libbpf.sh (deps/libbpf) when present, else
  # the system's libbpf through pkg-config (EBPF_LIBBPF=system forces that).
  "variables": {
    "libbpf_mode%": "<!(node scripts/libbpf-mode.js)"
  },
  "targets": [
    {
      "target_name": "ebpf",
      "sources": ["<!@(node scripts/sources.js)"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      # NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS: see CMakeLists.txt (worker_thread termination).
      "defines": ["NAPI_VERSION=8", "NODE_ADDON_API_DISABLE_DEPRECATED", "NAPI_CPP_EXCEPTIONS", "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions"],
      "cflags": ["-Wall", "-Wextra", "-fvisibility=hidden", "-fstack-protector-strong", "-D_FORTIFY_SOURCE=2"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-Wall", "-Wextra", "-fvisibility=hidden"],
      # Only the N-API entry points are exported (src-native/exports.map): none of libbpf's
      # or the C++ library's symbols can clash with another addon's. libstdc++ stays
      # dynamic on purpose: linked statically, it pulls in references to glibc 2.35/2.36
      # (_dl_find_object, arc4random) and the addon would no longer load on glibc 2.34
      # systems; dynamically it needs only GLIBCXX_3.4.21, older than any Node binary needs.
      "ldflags": [
        "-Wl,--version-script=<(module_root_dir)/src-native/exports.map",
        "-Wl,--as-needed"
      ],
      "conditions": [
        ["libbpf_mode=='static'", {
          "include_dirs": ["deps/libbpf/install/include"],
          "libraries": [
            "<(module_root_dir)/deps/libbpf/install/lib/libbpf.a",
            "-lelf", "-lz", "-lzstd",
            "-Wl,--exclude-libs,ALL"
          ],
          "defines": ["EBPF_LIBBPF_STATIC=1"]
        }, {
          "cflags_cc": ["<!@(pkg-config --cflags libbpf)"],
          "libraries": ["<!@(pkg-config --libs libbpf)"]
        }]
      ]
    }
  ]
}
