#!/usr/bin/env bash
# Build stand-ins for the official postgres and nginx images from Debian packages only (no
# container registry is needed), for deploy/compose-ha.yml in tests and offline labs:
#   gridx-local/postgres:15     PostgreSQL 15 with the official image's settings: POSTGRES_USER,
#                               POSTGRES_PASSWORD, POSTGRES_DB, data in /var/lib/postgresql/data,
#                               port 5432 on every interface, password (scram-sha-256) logins
#   gridx-local/nginx:bookworm  nginx-light reading /etc/nginx/conf.d/*.conf, in the foreground
# Both come from one debootstrap (about a minute). Real deployments use postgres:16 and nginx.
set -euo pipefail

PG_IMAGE=gridx-local/postgres:15
NGINX_IMAGE=gridx-local/nginx:bookworm
BASE_IMAGE=gridx-local/deploy-base:bookworm
log() { printf 'local-deploy-images: %s\n' "$*" >&2; }

if docker image inspect "$PG_IMAGE" >/dev/null 2>&1 && docker image inspect "$NGINX_IMAGE" >/dev/null 2>&1; then
  log "images ready: $PG_IMAGE $NGINX_IMAGE"
  exit 0
fi
if ! command -v debootstrap >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    log "installing debootstrap"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
  else
    log "'debootstrap' is missing: install the 'debootstrap' package, then run this again"
    exit 1
  fi
fi

dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
log "building $PG_IMAGE and $NGINX_IMAGE with debootstrap (about a minute)"
debootstrap --variant=minbase --include=postgresql-15,nginx-light bookworm "$dir" >/tmp/gridx-pg-debootstrap.log 2>&1 ||
  {
    log "debootstrap failed; see /tmp/gridx-pg-debootstrap.log"
    exit 1
  }
# The package made a cluster of its own (/etc/postgresql/15/main); the entry point makes the
# one the container uses, in PGDATA, on first start.
# nginx's default site would answer port 80 first: the deployment's conf.d file is the only one.
rm -rf "$dir/etc/postgresql/15/main" "$dir/var/lib/postgresql/15" "$dir/etc/nginx/sites-enabled"/* \
  "$dir/var/cache/apt/archives"/*.deb "$dir/var/lib/apt/lists"/*

cat >"$dir/usr/local/bin/docker-entrypoint.sh" <<'EOF'
#!/bin/sh
# Like the official image's entry point: a cluster in PGDATA made on first start, whose superuser
# is POSTGRES_USER (password POSTGRES_PASSWORD), with a database POSTGRES_DB owned by it.
set -eu
: "${POSTGRES_USER:=postgres}"
: "${POSTGRES_DB:=$POSTGRES_USER}"
: "${PGDATA:=/var/lib/postgresql/data}"
BIN=/usr/lib/postgresql/15/bin
as_postgres() { setpriv --reuid=postgres --regid=postgres --init-groups "$@"; }
[ "${1:-}" = postgres ] && shift
mkdir -p "$PGDATA" /run/postgresql
chown postgres:postgres "$PGDATA" /run/postgresql
chmod 0700 "$PGDATA"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  if [ -z "${POSTGRES_PASSWORD:-}" ]; then
    echo "POSTGRES_PASSWORD is not set: the database would have no password" >&2
    exit 1
  fi
  pw=$(mktemp)
  printf '%s\n' "$POSTGRES_PASSWORD" >"$pw"
  chown postgres "$pw"
  as_postgres "$BIN/initdb" -D "$PGDATA" -U "$POSTGRES_USER" --pwfile="$pw" -E UTF8 --locale=C.UTF-8 \
    --auth-local=trust --auth-host=scram-sha-256 >/dev/null
  rm -f "$pw"
  echo 'host all all all scram-sha-256' >>"$PGDATA/pg_hba.conf"
  if [ "$POSTGRES_DB" != postgres ]; then
    echo "CREATE DATABASE \"$POSTGRES_DB\" OWNER \"$POSTGRES_USER\";" |
      as_postgres "$BIN/postgres" --single -D "$PGDATA" postgres >/dev/null
  fi
  echo "created the cluster in $PGDATA (user $POSTGRES_USER, database $POSTGRES_DB)"
fi
exec setpriv --reuid=postgres --regid=postgres --init-groups "$BIN/postgres" -D "$PGDATA" -c listen_addresses='*' "$@"
EOF
chmod 0755 "$dir/usr/local/bin/docker-entrypoint.sh"

# Logs to the container's output, as the official nginx image does.
ln -sf /dev/stdout "$dir/var/log/nginx/access.log"
ln -sf /dev/stderr "$dir/var/log/nginx/error.log"

tar -C "$dir" -c . | docker import \
  -c 'ENV PATH=/usr/lib/postgresql/15/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' - "$BASE_IMAGE" >/dev/null
# Two images on the one imported layer; they differ only in what they start.
build() { # tag, Dockerfile lines
  local ctx
  ctx=$(mktemp -d)
  printf 'FROM %s\n%s\n' "$BASE_IMAGE" "$2" >"$ctx/Dockerfile"
  # (The legacy builder, which never pulls a local FROM image; its deprecation notice is noise.)
  DOCKER_BUILDKIT=0 docker build -q -t "$1" "$ctx" >/dev/null 2>"$ctx/err" || {
    cat "$ctx/err" >&2
    exit 1
  }
  rm -rf "$ctx"
}
build "$PG_IMAGE" 'ENV PGDATA=/var/lib/postgresql/data
EXPOSE 5432
STOPSIGNAL SIGINT
ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]
CMD ["postgres"]'
build "$NGINX_IMAGE" 'EXPOSE 80
STOPSIGNAL SIGQUIT
CMD ["nginx", "-g", "daemon off;"]'
log "images ready: $PG_IMAGE $NGINX_IMAGE"
