// TorchScript modules optimised for inference at load time: the C++ side of
// `torch.jit.optimize_for_inference`, which tch does not expose. An optimised module holds
// oneDNN-prepacked weights that cannot be serialised, so the frozen module is what lives on disk
// (exported by scripts/export_backbones.py) and the optimisation runs here, once per load.
#include <torch/script.h>

#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>

namespace {
char* dup(const std::string& s) {
  char* out = static_cast<char*>(std::malloc(s.size() + 1));
  if (out != nullptr) std::memcpy(out, s.c_str(), s.size() + 1);
  return out;
}
}  // namespace

extern "C" {

// Loads `path` on the CPU in eval mode and, when `optimize` is set, optimises it for inference
// (freezing it first when it is not frozen yet). Returns an owned module, or null with `*err`
// set (free it with yx_jit_free_str).
void* yx_jit_load(const char* path, bool optimize, char** err) {
  try {
    torch::jit::Module m = torch::jit::load(std::string(path), c10::Device(c10::kCPU));
    m.eval();
    if (optimize) m = torch::jit::optimize_for_inference(m);
    return new torch::jit::Module(m);
  } catch (const std::exception& e) {
    *err = dup(e.what());
    return nullptr;
  }
}

// forward(x) of a module from yx_jit_load, without autograd; the input in channels-last
// memory format when `channels_last` is set. Returns an owned tensor (what tch calls a
// C_tensor), or null with `*err` set.
at::Tensor* yx_jit_forward(void* module, const at::Tensor* x, bool channels_last, char** err) {
  try {
    torch::NoGradGuard no_grad;
    auto* m = static_cast<torch::jit::Module*>(module);
    std::vector<c10::IValue> inputs{
        channels_last ? x->contiguous(at::MemoryFormat::ChannelsLast) : x->contiguous()};
    at::Tensor out = m->forward(inputs).toTensor();
    return new at::Tensor(std::move(out));
  } catch (const std::exception& e) {
    *err = dup(e.what());
    return nullptr;
  }
}

void yx_jit_free(void* module) { delete static_cast<torch::jit::Module*>(module); }

void yx_jit_free_str(char* s) { std::free(s); }
}
