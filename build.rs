//! Build script: make the binary find LibTorch without LD_LIBRARY_PATH, and keep CUDA linked.
//!
//! torch-sys (links = "tch") exports the libtorch lib dir as DEP_TCH_LIBTORCH_LIB. We embed it
//! as an rpath, and when `libtorch_cuda.so` exists there we link it with `--no-as-needed`:
//! with the default `--as-needed`, nothing references a symbol of libtorch_cuda directly, the
//! linker drops it, and `tch::Cuda::is_available()` is false even on a GPU machine.
use std::path::Path;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=migrations");
    let Ok(lib) = std::env::var("DEP_TCH_LIBTORCH_LIB") else {
        println!("cargo:warning=DEP_TCH_LIBTORCH_LIB not set: no rpath to libtorch embedded");
        return;
    };
    println!("cargo:rustc-link-arg=-Wl,-rpath,{lib}");
    println!("cargo:rustc-env=YUXUAN_LIBTORCH_LIB={lib}");
    for cuda_lib in ["torch_cuda", "c10_cuda"] {
        if Path::new(&lib).join(format!("lib{cuda_lib}.so")).exists() {
            println!("cargo:rustc-link-arg=-Wl,--no-as-needed,-l{cuda_lib},--as-needed");
        }
    }
}
