# syntax=docker/dockerfile:1
# teamday: the server (and its client) as one compiled executable on a small glibc base.
#
#   docker build --build-arg TEAMDAY_COMMIT=$(git rev-parse --short=12 HEAD) -t teamday .
#   docker run -d --name teamday -p 127.0.0.1:3000:3000 -e TEAMDAY_PUBLIC_URL=http://localhost:3000 -v teamday-data:/data teamday
#   docker logs teamday          # the first start prints a one-time /setup/ link (1 hour) for the admin password
#   (with `-p 3000:3000` alone that link answers "Sign-in is only offered over HTTPS": the browser's
#   connection arrives from Docker's bridge, not loopback; README "Docker" lists the other ways)
#   unattended: -e TEAMDAY_ADMIN_EMAIL=ops@example.com -e TEAMDAY_ADMIN_PASSWORD_FILE=/run/secrets/teamday_admin
#
# Stage 1 builds with Node + npm (like CI: `npm ci` brings the pinned Bun from package.json),
# stage 2 only holds the binary. Linux x64 (the build script targets bun-linux-x64).

FROM node:22-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
# npm ci applies them (postinstall: scripts/patches.mjs runs patch-package, then checks the
# driver carries them): the PostgreSQL driver's reconnect fix.
COPY patches ./patches
COPY scripts/patches.mjs ./scripts/patches.mjs
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
COPY drizzle ./drizzle
COPY scripts ./scripts
# The commit `teamday --version` names (.git is not in the build context); "unknown" without it.
ARG TEAMDAY_COMMIT
RUN npm run build && ./dist/teamday --version

FROM debian:bookworm-slim
# ca-certificates: HTTPS to the model providers (OpenAI, Anthropic).
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 teamday \
 && useradd --system --uid 10001 --gid teamday --home-dir /data --no-create-home --shell /usr/sbin/nologin teamday \
 && mkdir -p /data \
 && chown teamday:teamday /data \
 && chmod 700 /data
COPY --from=build /src/dist/teamday /usr/local/bin/teamday

ENV TEAMDAY_DB=/data/teamday.db \
    HOST=0.0.0.0 \
    PORT=3000
VOLUME ["/data"]
EXPOSE 3000
USER teamday:teamday
# The root directory is not writable by this user: only /data is.
WORKDIR /

# The port the server was given (PORT, 3000 by default): `docker run -e PORT=8080` stays healthy.
# Read as the server reads it: white space around it dropped, blank as unset (src/config.ts), by
# splitting it into words (globbing off); `${PORT:-3000}` made `PORT=" "` ask `127.0.0.1: `.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["sh", "-c", "set -f; set -- $PORT; exec teamday health --url \"http://127.0.0.1:${1:-3000}\" --retries 0"]

ENTRYPOINT ["teamday"]
CMD ["serve"]
