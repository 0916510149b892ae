# mem0-audit-proxy image: build and test on Debian 12, run with only the
# binary and its runtime libraries as a non-root user.
#   docker build -t mem0-audit-proxy .
#   docker run -e MEM0_URL=http://mem0:8000 -e WINGMAN_URL=http://wingman:5000 \
#     -e PROXY_LISTEN=0.0.0.0:8080 -p 8080:8080 -v m0ap-state:/var/lib/mem0-audit-proxy \
#     mem0-audit-proxy

FROM debian:bookworm AS build
WORKDIR /src
COPY scripts/install-deps.sh scripts/install-deps.sh
RUN scripts/install-deps.sh && rm -rf /var/lib/apt/lists/*
COPY . .
# The unit and end-to-end tests run in the build: a red test, no image.
# (The npm client test needs the npm registry; skip it with SKIP_SDK=1.)
RUN make clean && make check SKIP_SDK=1 && make

FROM debian:bookworm-slim AS runtime
COPY --from=build /src/scripts/install-deps.sh /usr/local/share/mem0-audit-proxy/install-deps.sh
RUN /usr/local/share/mem0-audit-proxy/install-deps.sh --runtime \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /var/lib/mem0-audit-proxy \
       --shell /usr/sbin/nologin mem0proxy \
    && install -d -o mem0proxy -g mem0proxy -m 0700 /var/lib/mem0-audit-proxy
COPY --from=build /src/build/mem0-audit-proxy /usr/local/bin/mem0-audit-proxy
COPY --from=build /src/conf/mem0-audit-proxy.yaml /etc/mem0-audit-proxy/mem0-audit-proxy.yaml
USER mem0proxy
ENV PROXY_LISTEN=0.0.0.0:8080 \
    PROXY_STATE_DIR=/var/lib/mem0-audit-proxy
VOLUME ["/var/lib/mem0-audit-proxy"]
EXPOSE 8080
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=3s --retries=3 \
  CMD ["curl", "-fsS", "http://127.0.0.1:8080/_proxy/healthz"]
ENTRYPOINT ["/usr/local/bin/mem0-audit-proxy"]
