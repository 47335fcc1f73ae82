#!/usr/bin/env bash
# Every GPU check in one run, on a lent GPU machine: bare (no network, no Ray, no weights to download).
#
# Prepare here, once:
#   bash bench/gpu-wheels.sh .whl                  # Ray + Optuna wheels (52 MB; .whl/ is git-ignored)
#   python bench/gpu_checks.py --make-slice DATA_DIR   # bench/gpu-data/ (1 MB of IMDB reviews, ignored)
# Run there (the device tool): carry [".whl", "bench/gpu-data"], command `bash bench/gpu.sh`.
# It writes $OUT/gpu.json (sized for about 8 minutes on an H100; not yet run on one). Dry run on a CPU (what the tests do):
#   OUT=/tmp/out bash bench/gpu.sh --device cpu --tiny --data bertclf/smoke_data/imdb_train.csv.gz
set -euo pipefail
cd "$(dirname "$0")/.."
site=/tmp/bert-hpo-site
mkdir -p "$site"
if [ -d .whl ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$site" .whl/*.whl
  # gpu-wheels.sh drops the dashboard's web build (size); its server only needs the folders to exist
  mkdir -p "$site/ray/dashboard/client/build/static"
fi
# the engine from this checkout, the Ray side under the name it is installed as (pyproject.toml)
ln -sfn "$PWD/distributed" "$site/bert_hpo_distributed"
export PYTHONPATH="$site:$PWD${PYTHONPATH:+:$PYTHONPATH}"
export RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 RAY_USAGE_STATS_ENABLED=0 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
exec python3 bench/gpu_checks.py --out "${OUT:-bench/out}/gpu.json" "$@"
