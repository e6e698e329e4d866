# One image for the three services; docker-compose.yml picks the command.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY services ./services
RUN pip install --no-cache-dir . && useradd --create-home clinic && mkdir -p /data && chown clinic /data
USER clinic
ENV CLINIC_VAR_DIR=/data CLINIC_ON_TANSU=false PYTHONUNBUFFERED=1
