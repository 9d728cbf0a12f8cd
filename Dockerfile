# A small image that runs the bot on SQLite by default; mount /app/data to keep the database.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app

COPY pyproject.toml README.md ./
COPY reminderbot ./reminderbot
RUN pip install .

COPY config ./config
COPY messages ./messages

RUN useradd --create-home --uid 10001 reminderbot && mkdir -p /app/data \
    && chown reminderbot /app/data
USER reminderbot
VOLUME ["/app/data"]

# The token comes from the environment: docker run -e REMINDERBOT_TOKEN=... reminderbot
CMD ["reminderbot", "run"]
