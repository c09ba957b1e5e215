# The churnltv API image: installs exactly the pinned set (pyproject.toml + requirements.lock)
# and runs the same `churnltv` entry point as the command line.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    OMP_WAIT_POLICY=PASSIVE

# LightGBM's wheel links against OpenMP (libgomp), which the slim image does not ship.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgomp1 \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml requirements.lock README.md LICENSE ./
COPY churnltv ./churnltv
COPY features ./features
COPY models ./models
COPY training ./training
COPY service ./service
RUN python -m pip install -c requirements.lock . \
    && useradd --create-home --uid 10001 churnltv \
    && mkdir -p /app/mlruns /data && chown churnltv /app/mlruns /data

USER churnltv
# mlruns/ (the MLflow store) and the data source are mounted at run time.
ENV CHURNLTV_TRACKING_URI=sqlite:////app/mlruns/mlflow.db \
    CHURNLTV_ARTIFACT_ROOT=/app/mlruns/artifacts \
    CHURNLTV_DATA=/data/demo.duckdb \
    CHURNLTV_SCORE_STORE=/data/scores
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health')"
ENTRYPOINT ["churnltv"]
# `docker run IMAGE --help` shows every command; the default serves the API on all interfaces.
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]
