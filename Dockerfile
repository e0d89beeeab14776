FROM python:3.11-slim
# Which components' libraries the image holds: serve,board,report (the default) or, for an
# image that only collects, `--build-arg EXTRAS=collector` (no Streamlit, Altair, vl-convert).
ARG EXTRAS=serve,board,report
WORKDIR /app
COPY pyproject.toml README.md ./
COPY podslo podslo
COPY slo_rules slo_rules
COPY collector collector
COPY simulator simulator
COPY analyzer analyzer
COPY charts charts
COPY dashboard dashboard
COPY app app
RUN pip install --no-cache-dir ".[${EXTRAS}]" \
 && useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin podslo \
 && mkdir -p /app/data /spool && chown podslo /app/data /spool
# not root; it writes the embedded store (./data) and the collector's spool (/spool)
USER podslo
ENTRYPOINT ["podslo"]
