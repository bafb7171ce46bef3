#!/bin/sh
# The image's entry point.
#   serve (default)  migrations (unless PORTAL_MIGRATE_ON_START=0), then `python -m cli serve`
#                    on 0.0.0.0:$PORT with $WEB_CONCURRENCY workers (default 1), trusting the
#                    forwarded headers of $FORWARDED_ALLOW_IPS (default 127.0.0.1)
#   setup            migrations, the token signing key under var/keys (unless JWT_SIGNING_KEY_PEM
#                    is set) and, with PORTAL_SEED_DEMO=1, the demo data: run once before the
#                    API containers start (compose.yaml's `setup` service)
#   anything else    run as given (`python -m cli seed-demo`, `sh`, ...)
set -eu

case "${1:-serve}" in
  serve)
    if [ "${PORTAL_MIGRATE_ON_START:-1}" != "0" ]; then
      python -m cli migrate
    fi
    # exec: the server is PID 1 and receives the container's SIGTERM (graceful shutdown)
    exec python -m cli serve --host 0.0.0.0 --port "${PORT:-8000}" \
      --workers "${WEB_CONCURRENCY:-1}" --forwarded-allow-ips "${FORWARDED_ALLOW_IPS:-127.0.0.1}"
    ;;
  setup)
    python -m cli migrate
    if [ -z "${JWT_SIGNING_KEY_PEM:-}" ]; then
      python -c 'from auth.tokens import TokenService; from settings import get_settings; TokenService(get_settings())'
    fi
    if [ "${PORTAL_SEED_DEMO:-0}" = "1" ]; then
      python -m cli seed-demo --if-empty
    fi
    ;;
  *)
    exec "$@"
    ;;
esac
