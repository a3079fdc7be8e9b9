//! Build script: make the binary find LibTorch without LD_LIBRARY_PATH, keep CUDA linked, and
//! compile `native/jit_opt.cpp` (TorchScript optimised for inference, which tch does not expose).
//!
//! torch-sys (links = "tch") exports the libtorch lib dir as DEP_TCH_LIBTORCH_LIB. We embed it
//! as an rpath. `libtorch_cuda.so` is deliberately not linked (with the default `--as-needed`
//! the linker drops it anyway): `ml::device::load_cuda` dlopens it when a model first asks for
//! a device, so commands that never touch a model start without the CUDA libraries. The shim is
//! compiled against the headers next to that lib dir, with the flags torch-sys uses for its own.
use std::path::Path;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=migrations");
    println!("cargo:rerun-if-changed=native/jit_opt.cpp");
    println!("cargo:rerun-if-env-changed=LIBTORCH_CXX11_ABI");
    let lib = std::env::var("DEP_TCH_LIBTORCH_LIB")
        .expect("torch-sys did not say where libtorch is (DEP_TCH_LIBTORCH_LIB)");
    println!("cargo:rustc-link-arg=-Wl,-rpath,{lib}");
    println!("cargo:rustc-env=YUXUAN_LIBTORCH_LIB={lib}");
    let include = Path::new(&lib)
        .parent()
        .expect("libtorch's lib dir has a parent")
        .join("include");
    // PyPI's torch (what setup installs) uses the C++11 ABI since 2.7; torch-sys reads the
    // same variable.
    let abi = std::env::var("LIBTORCH_CXX11_ABI").unwrap_or_else(|_| "1".into());
    cc::Build::new()
        .cpp(true)
        .pic(true)
        .warnings(false)
        .include(&include)
        .include(include.join("torch/csrc/api/include"))
        .flag("-std=c++17")
        .flag(format!("-D_GLIBCXX_USE_CXX11_ABI={abi}"))
        .flag("-DGLOG_USE_GLOG_EXPORT")
        .file("native/jit_opt.cpp")
        .compile("yxjit");
}
