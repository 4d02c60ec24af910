# One image for every CryptoPiggy service but the dashboard; docker-compose.yml picks the
# command. Built by `make image` (scripts/build-image.sh) with .image/services as the context,
# FROM a locally made Python base (scripts/build-python-image.sh: the host's Python and its
# libraries `docker import`ed, with the user `piggy`, WORKDIR /app and PIGGY_HOME=/data;
# nothing is pulled). The context holds the run-time part of requirements.lock (hash-checked)
# in the Python site directory and the code in /app: one COPY, so one layer.
ARG BASE=piggy-python:local
FROM ${BASE}
COPY . /
CMD ["python3", "-m", "services.gateway"]
