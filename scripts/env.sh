# Source this to build by hand with the same environment as the Makefile:
#   source scripts/env.sh && cargo build
export YUXUAN_CACHE="${YUXUAN_CACHE:-$HOME/.cache/yuxuan}"
if [ -z "${LIBTORCH:-}" ]; then
  export LIBTORCH_USE_PYTORCH=1
  export VIRTUAL_ENV="$YUXUAN_CACHE/venv-torch-2.13.0"
  export PATH="$VIRTUAL_ENV/bin:$PATH"
fi
export YUXUAN_PYTHON="$YUXUAN_CACHE/venv-torch-2.13.0/bin/python"
