#!/usr/bin/env bash
# Build the local Redis image used by the integration tests, without pulling anything:
# a root filesystem holding only a redis-server binary and the shared libraries `ldd`
# lists for it (plus the dynamic loader), imported with `docker import`.
#
# usage: scripts/build-redis-image.sh [IMAGE] [REDIS_SERVER_BINARY]
#   IMAGE defaults to $PIGGY_TEST_REDIS_IMAGE or piggy-redis:local
#   REDIS_SERVER_BINARY defaults to /usr/bin/redis-server (Debian's redis-server package)
# Uses whatever engine DOCKER_HOST points at. Skips the build when IMAGE already exists.
set -euo pipefail

image="${1:-${PIGGY_TEST_REDIS_IMAGE:-piggy-redis:local}}"
binary="${2:-/usr/bin/redis-server}"

if docker image inspect "$image" >/dev/null 2>&1; then
    echo "build-redis-image: $image already exists, not rebuilding"
    exit 0
fi

requested="$binary"
binary="$(readlink -f "$binary")"  # Debian: redis-server -> redis-check-rdb
if [[ ! -x "$binary" ]]; then
    echo "build-redis-image: no executable redis-server at $requested" >&2
    exit 1
fi

rootfs="$(mktemp -d "${TMPDIR:-/tmp}/piggy-redis-rootfs.XXXXXX")"
trap 'rm -rf "$rootfs"' EXIT

install -D -m 0755 "$binary" "$rootfs/usr/bin/redis-server"
# redis-cli too when installed (Debian's redis-tools), for healthchecks (docker-compose.yml).
cli="$(command -v redis-cli || true)"
if [[ -n "$cli" ]]; then
    install -D -m 0755 "$(readlink -f "$cli")" "$rootfs/usr/bin/redis-cli"
fi

# Every absolute path ldd prints: resolved libraries ("libx.so => /path (0x..)") and the
# loader ("/lib64/ld-linux-x86-64.so.2 (0x..)"). linux-vdso has no path and is skipped.
mapfile -t libs < <({ ldd "$binary"; if [[ -n "$cli" ]]; then ldd "$cli"; fi; } \
    | awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^\//) print $i }' | sort -u)
if ((${#libs[@]} == 0)); then
    echo "build-redis-image: ldd listed no libraries for $binary" >&2
    exit 1
fi
if ldd "$binary" | grep -q 'not found'; then
    echo "build-redis-image: ldd reports missing libraries:" >&2
    ldd "$binary" >&2
    exit 1
fi
for lib in "${libs[@]}"; do
    # --parents keeps the path the binary expects (e.g. /lib64/ld-linux-x86-64.so.2),
    # -L copies the file a symlink points at rather than the link.
    cp -L --parents "$lib" "$rootfs/"
done

# Writable places redis may use: /data for AOF (--dir /data), /tmp for anything else.
mkdir -p "$rootfs/data" "$rootfs/tmp" "$rootfs/etc"
chmod 1777 "$rootfs/tmp"
echo "root:x:0:0:root:/data:/usr/bin/redis-server" >"$rootfs/etc/passwd"
echo "root:x:0:" >"$rootfs/etc/group"

libdirs="$(printf '%s\n' "${libs[@]}" | xargs -n1 dirname | sort -u | paste -sd: -)"

echo "build-redis-image: importing $image from $requested ($binary) and ${#libs[@]} libraries"
tar -C "$rootfs" -cf - . | docker import \
    --change "ENV LD_LIBRARY_PATH=$libdirs" \
    --change 'WORKDIR /data' \
    --change 'CMD ["/usr/bin/redis-server", "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]' \
    --message "redis-server from $requested (local build, not pulled)" \
    - "$image" >/dev/null

# Smoke check: the binary starts inside the image (no network needed to print a version).
if ! version="$(docker run --rm --network none "$image" /usr/bin/redis-server --version)"; then
    echo "build-redis-image: the imported image does not run redis-server" >&2
    docker image rm -f "$image" >/dev/null 2>&1 || true
    exit 1
fi
echo "build-redis-image: built $image: $version"
