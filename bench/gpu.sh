#!/usr/bin/env bash
# GPU checks of issue 16 / SPEC 8, for a session that has a CUDA device: run as is,
#     bash bench/gpu.sh            (from anywhere; PYTHON=... to pick the interpreter)
# 1. the device-sensitive tests on CUDA (pytest --device cuda -m device);
# 2. every bench with --device cuda;
# 3. the full PINN ROI study (studies/pinn_roi.toml: 4 optimizers, 10 seeds, 4000 steps)
#    through seed ensembles, wall time (goal < 120 s on one H100-class GPU);
# 4. 1,000 AWB-T seeds (d = 64, 1,000 steps) as one seed batch, wall time (goal < 60 s).
# Prints one summary line per goal at the end. Stops at the first failing step.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
[ -x "$PY" ] || PY=python3
# A machine with torch but not every dependency (the lent H200 image lacks schedulefree)
# and no network: wheels carried in .whl/ (docs/performance.md, "GPU") go to a private
# target; the repository itself is imported from here.
if compgen -G ".whl/*.whl" > /dev/null; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/muonlab-site .whl/*.whl
  export PYTHONPATH="$PWD:/tmp/muonlab-site${PYTHONPATH:+:$PYTHONPATH}"
fi
"$PY" -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 'bench/gpu.sh: CUDA is not available here')"
"$PY" -c "import torch; print('torch', torch.__version__, '|', torch.cuda.get_device_name(0))"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

echo "== 1. device-sensitive tests on CUDA"
"$PY" -m pytest -q -x --device cuda -m device

echo "== 2. benches on CUDA"
"$PY" bench/optim.py --device cuda
"$PY" bench/lanczos.py --device cuda
"$PY" bench/pinn.py --device cuda
"$PY" bench/runner.py --device cuda --skip-study

study_seconds() {  # study file -> wall seconds of `muonlab run` (CLI, fresh output dir)
  local start end
  start=$(date +%s.%N)
  "$PY" -m muonlab run "$1" --out "$WORK/out-$(basename "$1" .toml)" --no-progress > "$WORK/log-$(basename "$1" .toml).txt" 2>&1 \
    || { cat "$WORK/log-$(basename "$1" .toml).txt"; exit 1; }
  end=$(date +%s.%N)
  "$PY" -c "print(f'{$end - $start:.1f}')"
}

echo "== 3. PINN ROI study, 10 seeds, batch_seeds, device cuda"
sed -E -e 's/^seeds = .*/seeds = 10/' -e '/^(batch_seeds|device) = .*/d' studies/pinn_roi.toml \
  | { printf 'batch_seeds = true\ndevice = "cuda"\n'; cat; } > "$WORK/pinn_roi_gpu.toml"
PINN=$(study_seconds "$WORK/pinn_roi_gpu.toml")
echo "   wall time ${PINN} s"

echo "== 4. 1,000 AWB-T seeds, d = 64, 1,000 steps, one batch, device cuda"
cat > "$WORK/awbt_1000.toml" <<'TOML'
name = "awbt_1000"
seeds = 1000
steps = 1000
every = 50
device = "cuda"
batch_seeds = true
[problem]
name = "awbt"
d = 64
kappa = 1e4
fix_V = false
[injection]
K_out = 50
[[optimizers]]
name = "trasmuon"
lr = 3e-3
TOML
AWBT=$(study_seconds "$WORK/awbt_1000.toml")
echo "   wall time ${AWBT} s"

echo "== summary"
"$PY" - "$PINN" "$AWBT" <<'PYEOF'
import sys
pinn, awbt = map(float, sys.argv[1:])
for label, seconds, goal in (("PINN ROI study, 4 x 10 seeds x 4000 steps", pinn, 120), ("1,000 AWB-T seeds x 1,000 steps", awbt, 60)):
    print(f"{label:<44} {seconds:8.1f} s   goal < {goal} s   {'ok' if seconds < goal else 'MISS'}")
PYEOF
