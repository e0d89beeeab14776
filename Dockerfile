FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY podslo podslo
COPY collector collector
COPY analyzer analyzer
COPY slo_rules slo_rules
COPY dashboard dashboard
COPY simulator simulator
RUN pip install --no-cache-dir .
USER 65534
ENTRYPOINT ["podslo"]
