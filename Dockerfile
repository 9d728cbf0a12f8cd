# A small image that runs the bot; SQLite in /app/data by default (mount it to keep the
# database), or PostgreSQL and webhook mode through the environment (see compose.yaml).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app

# The words (messages/) and the default configuration (config/) are built into the package.
COPY pyproject.toml setup.py MANIFEST.in README.md ./
COPY reminderbot ./reminderbot
COPY messages ./messages
COPY config ./config
RUN pip install . && rm -rf build

RUN useradd --create-home --uid 10001 reminderbot && mkdir -p /app/data \
    && chown reminderbot /app/data
USER reminderbot
VOLUME ["/app/data"]

# The bot's own HTTP server: /healthz, /metrics and, in webhook mode, the webhook path. Set
# here because a polling bot opens no port unless asked, and the HEALTHCHECK asks /healthz.
ENV REMINDERBOT_LISTEN=0.0.0.0:8080
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 \
    CMD ["reminderbot", "health"]

# The token comes from the environment: docker run -e REMINDERBOT_TOKEN=... reminderbot
CMD ["reminderbot", "run"]
