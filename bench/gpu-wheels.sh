#!/usr/bin/env bash
# Fetch the wheels that the GPU machine lacks for Ray Tune/Train + Optuna (Python 3.12, x86-64),
# and shrink ray's wheel under the device tool's 64 MiB per-call limit by dropping parts that a
# Python-only Ray run never loads (Java jars, the dashboard's web build).
# Usage: bash bench/gpu-wheels.sh .whl   (a git-ignored folder of this checkout, carried to the GPU machine)
# On the GPU machine, first line of the command:
#   python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site DIR/*.whl && export PYTHONPATH=/tmp/site
set -euo pipefail
out=${1:?usage: gpu-wheels.sh DIR}
mkdir -p "$out"; out=$(cd "$out" && pwd)
plat=(--only-binary=:all: --python-version 3.12 --implementation cp --platform manylinux2014_x86_64
      --platform manylinux_2_17_x86_64 --platform manylinux_2_28_x86_64 --platform manylinux_2_24_x86_64)
pkgs=(ray==2.60.0 optuna==5.0.0 alembic mako sqlalchemy greenlet colorlog tensorboardX
      pydantic pydantic-core annotated-types typing-inspection jsonschema jsonschema-specifications referencing rpds-py
      # ray[default]'s dashboard (ray_session starts it; see RAY.md's ASHA pitfall), what that image lacks of it
      aiohttp_cors opencensus opencensus-context google-api-core googleapis-common-protos proto-plus google-auth
      cachetools pyasn1-modules pyasn1 rsa opentelemetry-api opentelemetry-sdk opentelemetry-exporter-prometheus
      opentelemetry-proto opentelemetry-semantic-conventions importlib-metadata colorful smart_open)
python3 -m pip download -q --no-deps "${plat[@]}" -d "$out" "${pkgs[@]}"
whl=$(ls "$out"/ray-2.60.0-*.whl)
python3 - "$whl" <<'PY'
# copy every entry but the dropped ones, keeping each entry's metadata (run bits of raylet, gcs_server)
import os, sys, zipfile
src = sys.argv[1]; dst = src + ".tmp"
drop = ("ray/jars/", "ray/dashboard/client/build/")
with zipfile.ZipFile(src) as zi, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zo:
    for info in zi.infolist():
        if info.filename.startswith(drop) or info.filename.endswith(".js.map"):
            continue
        zo.writestr(info, zi.read(info.filename), compress_type=zipfile.ZIP_DEFLATED, compresslevel=9)
os.replace(dst, src)
PY
du -ch "$out"/*.whl | tail -1
