#!/usr/bin/env bash
# Build the project images without pulling anything:
#   1. the Python base piggy-python:local (scripts/build-python-image.sh, `docker import`);
#   2. stage .image/services: the run-time part of requirements.lock without the dashboard's
#      packages (scripts/image_requirements.py), installed hash-checked with
#      `pip install --require-hashes --target` into the image's site directory (re-used while
#      the list is unchanged), and the code in /app;
#   3. `docker build` the Dockerfile FROM that base with .image/services as the context: one
#      COPY, one layer. With the vfs storage driver every layer and every container is a full
#      copy of the image, so the services' image stays small (no Streamlit/pandas/pyarrow);
#   4. smoke check: every service module imports inside the image, with no network.
# With --dashboard, also cryptopiggy-dashboard:local: the services' image plus Streamlit and
# what only it needs (Dockerfile.dashboard, .image/dashboard).
#
# usage: scripts/build-image.sh [--dashboard] [IMAGE]   (default cryptopiggy:local; needs .venv)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

dashboard=0
if [[ "${1:-}" == "--dashboard" ]]; then dashboard=1; shift; fi
image="${1:-cryptopiggy:local}"
base="${PIGGY_PYTHON_IMAGE:-piggy-python:local}"
py=".venv/bin/python"
site="usr/local/lib/python3.11/site-packages"

stage() {  # stage DIR ARGS...: the locked packages `image_requirements ARGS` lists, in DIR/$site
    local dir="$1"
    shift
    mkdir -p "$dir"
    "$py" -m scripts.image_requirements "$@" >"$dir.requirements.new"
    if [[ -d "$dir/$site" ]] && cmp -s "$dir.requirements.new" "$dir.requirements.txt"; then
        echo "build-image: $dir: requirements unchanged, re-using the staged packages"
        rm "$dir.requirements.new"
    else
        echo "build-image: $dir: staging $(grep -c '==' "$dir.requirements.new") locked packages"
        rm -rf "${dir:?}/$site"
        "$py" -m pip install -q --no-deps --require-hashes --target "$dir/$site" \
            -r "$dir.requirements.new"
        mv "$dir.requirements.new" "$dir.requirements.txt"
    fi
}

bash scripts/build-python-image.sh "$base"

stage .image/services --without streamlit
rm -rf .image/services/app
mkdir -p .image/services/app
tar --exclude=__pycache__ -cf - shared services sandbox piggy | tar -C .image/services/app -xf -
echo "build-image: docker build $image FROM $base"
docker build -q --build-arg "BASE=$base" -f Dockerfile -t "$image" .image/services >/dev/null

modules="services.gateway.app, services.executor.app, services.credentials.app"
modules+=", services.strategy.app, sandbox.__main__, piggy.cli, ccxt"
if ! docker run --rm --network none "$image" python3 -c "import $modules"; then
    echo "build-image: the service modules do not import inside $image" >&2
    exit 1
fi
size() { docker image inspect -f '{{.Size}}' "$1" | awk '{ printf "%d MB", $1 / 1e6 }'; }
echo "build-image: built $image ($(size "$image"))"

if ((dashboard)); then
    stage .image/dashboard --only streamlit
    docker build -q --build-arg "BASE=$image" -f Dockerfile.dashboard \
        -t cryptopiggy-dashboard:local .image/dashboard >/dev/null
    docker run --rm --network none cryptopiggy-dashboard:local python3 -c "import streamlit"
    echo "build-image: built cryptopiggy-dashboard:local ($(size cryptopiggy-dashboard:local))"
fi
