# One image for every CryptoPiggy service; docker-compose.yml picks the command.
FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIGGY_HOME=/data
WORKDIR /app
COPY pyproject.toml README.md ./
COPY shared ./shared
COPY services ./services
COPY sandbox ./sandbox
COPY piggy ./piggy
RUN pip install . && useradd --create-home piggy && mkdir -p /data && chown piggy /data
USER piggy
VOLUME ["/data"]
CMD ["python", "-m", "services.gateway"]
