# The API as one image: `docker build -t selfservice-portal-api .`; compose.yaml runs it with
# PostgreSQL, Redis and two API containers behind a small proxy. README "Deployment".
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PORTAL_VAR_DIR=/app/var \
    PORT=8000

WORKDIR /app

# The pinned runtime dependencies first: this layer is rebuilt only when the pins change.
COPY requirements/runtime.txt requirements/runtime.txt
RUN pip install -r requirements/runtime.txt

COPY . .

# The message catalogs are compiled here (build products, not in the repository), then the
# unprivileged user that runs the API; only var/ (signing key, mail files) is writable to it.
RUN set -eu; \
    for po in locale/*/LC_MESSAGES/portal.po; do \
        language="$(basename "$(dirname "$(dirname "$po")")")"; \
        pybabel -q compile -l "$language" -i "$po" -o "${po%.po}.mo"; \
    done; \
    python -m compileall -q -x '(^|/)(tests|bench)/' . ; \
    useradd --system --uid 10001 --no-create-home --home-dir /app --shell /usr/sbin/nologin portal; \
    mkdir -p /app/var/keys /app/var/mail; \
    chown -R portal /app/var

USER portal
EXPOSE 8000
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(f'http://127.0.0.1:{os.environ.get(\"PORT\", \"8000\")}/healthz', timeout=2)"]

ENTRYPOINT ["deploy/entrypoint.sh"]
CMD ["serve"]
