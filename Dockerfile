FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY podslo podslo
COPY collector collector
COPY analyzer analyzer
COPY slo_rules slo_rules
COPY dashboard dashboard
COPY simulator simulator
RUN pip install --no-cache-dir . \
 && useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin podslo \
 && mkdir -p /app/data /spool && chown podslo /app/data /spool
# not root; it writes the embedded store (./data) and the collector's spool (/spool)
USER podslo
ENTRYPOINT ["podslo"]
