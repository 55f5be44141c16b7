# Bifrost gateway image: mount your config at /app/config.json.
#   docker build -t bifrost-py . && docker run -p 8080:8080 -v $PWD/config.json:/app/config.json bifrost-py
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install --no-cache-dir '.[postgres,redis]'
ENV BIFROST_HOST=0.0.0.0 BIFROST_PORT=8080 BIFROST_CONFIG=/app/config.json
EXPOSE 8080
STOPSIGNAL SIGTERM
CMD ["bifrost"]
