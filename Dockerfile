# mem0-audit-proxy image: build and test on Debian 12, run with only the
# binary and its runtime libraries as a non-root user.
#
#   docker build -t mem0-audit-proxy .
#   docker run -d --name m0ap -p 127.0.0.1:8080:8080 \
#     -e MEM0_URL=http://mem0:8000 -e WINGMAN_URL=http://wingman:5000 \
#     -v m0ap-state:/var/lib/mem0-audit-proxy mem0-audit-proxy
#
# Configuration: the environment variables of the README (MEM0_URL,
# WINGMAN_URL, WINGMAN_WORKER_ID, PROXY_LISTEN, PROXY_DIALECT,
# PROXY_LOG_LEVEL, DEPLOYMENT_ENV, PROXY_EXPORT_ARCHIVE_DIR, ...) override
# the example file /etc/mem0-audit-proxy/mem0-audit-proxy.yaml; mount your
# own file there for the other keys. Secrets are files mounted at run time
# (PROXY_HMAC_KEY_FILE, WINGMAN_REQUEST_KEY_FILE, WINGMAN_READ_KEY_FILE),
# owned by uid 10001 and mode 0600: the proxy refuses key files readable by
# group or others. Nothing secret is in the image. See deploy/ for compose.

FROM debian:bookworm AS build
WORKDIR /src
# The dependency layer first: it is rebuilt only when the list changes.
# SKIP_SDK=1: no Node.js (the npm client test needs the npm registry).
COPY scripts/install-deps.sh scripts/install-deps.sh
# SKIP_BROWSER=1: no Chromium (the status page's browser test).
RUN SKIP_SDK=1 SKIP_BROWSER=1 scripts/install-deps.sh && rm -rf /var/lib/apt/lists/*
COPY . .
# The unit, end-to-end and deployment tests run in the build: a red test,
# no image. (The build context leaves out build/ and node_modules, see
# .dockerignore, so this is a fresh build.)
RUN make check SKIP_SDK=1 SKIP_BROWSER=1

FROM debian:bookworm-slim AS runtime
# Runtime packages from the same list as the build (install-deps.sh
# --runtime): the shared libraries the binary links, CA certificates, curl.
COPY --from=build /src/scripts/install-deps.sh /usr/local/share/mem0-audit-proxy/install-deps.sh
RUN /usr/local/share/mem0-audit-proxy/install-deps.sh --runtime \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 mem0proxy \
    && useradd --system --uid 10001 --gid mem0proxy --no-create-home \
       --home-dir /var/lib/mem0-audit-proxy --shell /usr/sbin/nologin mem0proxy \
    && install -d -o mem0proxy -g mem0proxy -m 0700 /var/lib/mem0-audit-proxy
COPY --from=build /src/build/mem0-audit-proxy /usr/local/bin/mem0-audit-proxy
COPY --from=build /src/conf/mem0-audit-proxy.yaml /etc/mem0-audit-proxy/mem0-audit-proxy.yaml
COPY --from=build /src/README.md /usr/local/share/doc/mem0-audit-proxy/README.md
COPY --from=build /src/docs/ /usr/local/share/doc/mem0-audit-proxy/docs/
# The admin listener (metrics, approval lookups, the status page) listens
# on every interface of the container: publish it only on a private
# address (docker run -p 127.0.0.1:9090:9090).
ENV PROXY_LISTEN=0.0.0.0:8080 \
    PROXY_ADMIN_LISTEN=0.0.0.0:9090 \
    PROXY_STATE_DIR=/var/lib/mem0-audit-proxy
# The HMAC key (pseudonyms) and the claim spool: keep them across restarts.
VOLUME ["/var/lib/mem0-audit-proxy"]
EXPOSE 8080
EXPOSE 9090
# Numeric, so that runAsNonRoot-style checks can see it is not root.
USER 10001:10001
# Graceful stop: in-flight requests finish, queued claims are sent for up
# to shutdown_timeout_ms (10 s); give `docker stop -t` a few seconds more
# (compose: stop_grace_period: 15s).
STOPSIGNAL SIGTERM
# Readiness: Mem0 reachable, Wingman reachable (or its breaker closed),
# spool writable. The port follows PROXY_LISTEN.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD curl -fsS --max-time 2 "http://127.0.0.1:${PROXY_LISTEN##*:}/_proxy/readyz" || exit 1
ENTRYPOINT ["/usr/local/bin/mem0-audit-proxy"]
CMD ["-c", "/etc/mem0-audit-proxy/mem0-audit-proxy.yaml"]
