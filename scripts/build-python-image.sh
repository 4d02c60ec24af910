#!/usr/bin/env bash
# Build the local Python base image the project image starts FROM, without pulling anything:
# the host's Python — by default the very interpreter `make` built .venv from, so the image
# runs what the tests ran — its standard library, the shared libraries `ldd` lists for it and
# its extension modules, the C/C++ runtime compiled wheels link against, CA certificates and an
# unprivileged user `piggy` (the user, WORKDIR /app and PIGGY_HOME=/data of the project image),
# imported with `docker import` like the Redis image (scripts/build-redis-image.sh). Pure file
# copies, a few seconds (a debootstrap of Debian bookworm takes minutes and needs a mirror).
#
# Layout in the image: /usr/local/bin/python3.11 (python3, python), /usr/local/lib/python3.11
# (standard library; site-packages empty, for the project image), /usr/local/lib/libpython*.
#
# usage: scripts/build-python-image.sh [IMAGE] [PYTHON_BINARY]
#   IMAGE defaults to piggy-python:local; PYTHON_BINARY to the interpreter behind .venv,
#   else python3 on PATH.
# Uses whatever engine DOCKER_HOST points at. Skips the build when IMAGE already exists.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

image="${1:-piggy-python:local}"
python="${2:-}"
if [[ -z "$python" ]]; then
    if [[ -x .venv/bin/python ]]; then
        python="$(.venv/bin/python -c 'import sys; print(sys._base_executable)')"
    else
        python="$(command -v python3)"
    fi
fi

if docker image inspect "$image" >/dev/null 2>&1; then
    echo "build-python-image: $image already exists, not rebuilding"
    exit 0
fi
python="$(readlink -f "$python")"
read -r version stdlib prefix < <("$python" -c 'import sys, sysconfig
print(f"{sys.version_info[0]}.{sys.version_info[1]}", sysconfig.get_paths()["stdlib"], sys.base_prefix)')
if [[ ! -f "$stdlib/os.py" || ! -d "$stdlib/lib-dynload" ]]; then
    echo "build-python-image: no standard library with lib-dynload at $stdlib" >&2
    exit 1
fi

rootfs="$(mktemp -d "${TMPDIR:-/tmp}/piggy-python-rootfs.XXXXXX")"
trap 'rm -rf "$rootfs"' EXIT
chmod 0755 "$rootfs"  # mktemp makes it 0700: the image's / must be readable by `piggy`

install -D -m 0755 "$python" "$rootfs/usr/local/bin/python$version"
ln -s "python$version" "$rootfs/usr/local/bin/python3"
ln -s "python$version" "$rootfs/usr/local/bin/python"
lib="$rootfs/usr/local/lib/python$version"
mkdir -p "$lib/site-packages"
# The standard library without installed packages, its test suite and the GUI/IDE parts.
tar -C "$stdlib" --exclude=./site-packages --exclude=./dist-packages --exclude=./test \
    --exclude=./idlelib --exclude=./tkinter --exclude=./turtledemo --exclude=./ensurepip \
    --exclude=./lib2to3 --exclude=__pycache__ -cf - . | tar -C "$lib" -xf -

# Every library ldd lists for the interpreter and its extension modules, the loader, and the
# C/C++ runtime compiled wheels (numpy, pyarrow, hiredis...) link against. The interpreter's
# own libraries (libpython) go to /usr/local/lib, system ones keep their path.
runtime=(libstdc++.so.6 libgcc_s.so.1 libdl.so.2 librt.so.1 libpthread.so.0 libm.so.6 libz.so.1)
listing="$({ ldd "$python"; for so in "$stdlib"/lib-dynload/*.so; do ldd "$so"; done; })"
if grep -q 'not found' <<<"$listing"; then
    echo "build-python-image: ldd reports missing libraries:" >&2
    grep 'not found' <<<"$listing" | sort -u >&2
    exit 1
fi
mapfile -t libs < <(
    awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^\//) print $i }' <<<"$listing"
    for name in "${runtime[@]}"; do
        ldconfig -p | awk -v n="$name" '$1 == n && /x86-64/ && !found { print $NF; found = 1 }'
    done
)
mapfile -t libs < <(printf '%s\n' "${libs[@]}" | sort -u)
for so in "${libs[@]}"; do
    if [[ "$so" == "$prefix"/* ]]; then
        cp -L "$so" "$rootfs/usr/local/lib/"
    else
        cp -L --parents "$so" "$rootfs/"
    fi
done

mkdir -p "$rootfs/etc/ssl/certs" "$rootfs/tmp" "$rootfs/data" "$rootfs/home/piggy" "$rootfs/app"
cp -L /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/"
chmod 1777 "$rootfs/tmp"
chmod 0777 "$rootfs/data"
printf 'root:x:0:0:root:/root:/usr/sbin/nologin\npiggy:x:10001:10001:piggy:/home/piggy:/usr/sbin/nologin\n' \
    >"$rootfs/etc/passwd"
printf 'root:x:0:\npiggy:x:10001:\n' >"$rootfs/etc/group"
chown 10001:10001 "$rootfs/home/piggy"
printf 'hosts: files dns\n' >"$rootfs/etc/nsswitch.conf"
chmod -R a+rX "$rootfs/usr" "$rootfs/etc"

libdirs="/usr/local/lib:$(printf '%s\n' "${libs[@]}" | grep -v "^$prefix/" | xargs -n1 dirname | sort -u | paste -sd: -)"
echo "build-python-image: importing $image from $python ($version) and ${#libs[@]} libraries"
tar -C "$rootfs" -cf - . | docker import \
    --change "ENV LD_LIBRARY_PATH=$libdirs" \
    --change 'ENV PATH=/usr/local/bin:/usr/bin:/bin SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt LANG=C.UTF-8' \
    --change 'ENV PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 PIGGY_HOME=/data' \
    --change 'WORKDIR /app' \
    --change 'USER piggy' \
    --change 'CMD ["python3"]' \
    --message "python$version from $python (local build, not pulled)" \
    - "$image" >/dev/null

# Smoke check: the interpreter and the extension modules the project needs load in the image.
if ! out="$(docker run --rm --network none "$image" python3 -c \
    'import ssl, sqlite3, ctypes, decimal, lzma, bz2, zlib, uuid, asyncio, json, hashlib, sys
print(sys.version.split()[0], sys.prefix)')"; then
    echo "build-python-image: the imported image does not run python" >&2
    docker image rm -f "$image" >/dev/null 2>&1 || true
    exit 1
fi
echo "build-python-image: built $image: Python $out"
