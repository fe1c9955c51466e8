#!/usr/bin/env bash
# The GPU checks, as one script for a lent CUDA machine (see README "GPU"): the CUDA tests, then the
# CUDA rows of the Bayesian IRL and ranking speed benchmarks, the RLHF loop on cuda and cpu, then a short Atari T-REX run. Writes logs and JSON under $OUT (or ./gpu-out).
# Wheels of packages the machine lacks travel in .whl/ (gymnasium, farama-notifications, arviz-stats,
# stable-baselines3, cloudpickle, and ale-py for CPython 3.10-3.13: pip picks the one that fits).
set -uo pipefail
OUT=${OUT:-gpu-out}
mkdir -p "$OUT"
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site --find-links .whl \
    gymnasium farama-notifications arviz-stats stable-baselines3 cloudpickle ale-py && export PYTHONPATH=/tmp/site:src
else
  export PYTHONPATH=src
fi
export OMP_NUM_THREADS=1 PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total --format=csv | tee "$OUT/gpu.txt"
python3 -m pytest -q -p no:cacheprovider -o addopts="" tests/test_bayesian.py tests/test_prefs.py -k cuda 2>&1 | tee "$OUT/cuda_tests.log"
python3 benchmarks/bayesian_irl.py speed --devices cuda --tag _cuda 2>&1 | tee "$OUT/bayesian_speed.log"
cp benchmarks/bayesian/speed_cuda.json "$OUT/" 2>/dev/null
python3 benchmarks/rankings.py speed --devices cuda --brex-samples 20000 --tag _cuda 2>&1 | tee "$OUT/rankings_speed.log"
cp benchmarks/rankings/speed_cuda.json "$OUT/" 2>/dev/null
# the RLHF loop (issue 19) on Pendulum with the policy and the reward ensemble on the GPU, then on the CPU: the speed-up
for dev in cuda cpu; do
  python3 -m rewardlab rlhf --env Pendulum-v1 --labels 200 --steps 40000 --out "$OUT/rlhf_$dev" --overwrite --set device=$dev 2>&1 | tee "$OUT/rlhf_$dev.log"
done
# Atari T-REX end to end (demos from PPO checkpoints, CNN reward, PPO on it), capped at 6 minutes
timeout 360 python3 benchmarks/atari_trex.py --device cuda --demo-steps 120000 --policy-steps 200000 --trex-steps 1500 --tag _gpu_check 2>&1 | tee "$OUT/atari_trex.log"
cp benchmarks/trex/atari_breakout_gpu_check.json "$OUT/" 2>/dev/null
