# syntax=docker/dockerfile:1
# domainmgr container image. See docs/deploy.md for running it on a Xen dom0 (it needs root,
# the host's Xen tools and devices, and the host's network namespace).

# ---- build: compile TypeScript to dist/ -------------------------------------------------------
FROM node:24-slim AS build
# Non-root here: nothing in the build needs root.
USER node
WORKDIR /home/node/src
# Dependencies first, so this layer is reused while only sources change. --ignore-scripts: the
# project's prepare script (the build) needs the sources, and no dependency needs an install
# script (package.json allowScripts denies the few that have one).
COPY --chown=node:node package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY --chown=node:node . .
RUN npm run build

# ---- runtime: production dependencies and the built service ------------------------------------
FROM node:24-slim AS runtime
ENV NODE_ENV=production
WORKDIR /opt/domainmgr
COPY --from=build /home/node/src/package.json /home/node/src/package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force
COPY --from=build /home/node/src/dist ./dist
COPY --from=build /home/node/src/bin ./bin
COPY --from=build /home/node/src/types ./types
COPY --from=build /home/node/src/config ./config

# Root, on purpose: the xl and rkt backends drive Xen through /dev/xen/privcmd, the xenstored
# socket and /var/lib/xen, which only root may use on a dom0. Uses that do not touch a hypervisor
# can run as the image's unprivileged user: docker run --user node ...
USER root
VOLUME ["/var/lib/domainmgr"]
# http.listen defaults to 127.0.0.1:9108: reachable by the HEALTHCHECK below (it runs inside the
# container, in the container's network namespace) and, with --network host, by a scraper on the
# host. Set DOMAINMGR_HTTP_LISTEN=0.0.0.0:9108 to publish it with -p 9108:9108 instead.
EXPOSE 9108
# node itself is the probe (slim images have no curl); it reads http.listen like the service
# does (DOMAINMGR_CONFIG, DOMAINMGR_HTTP_LISTEN), so configure the container through the
# environment, not through flags the probe cannot see.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "bin/domainmgr-healthcheck.js"]
ENTRYPOINT ["node", "bin/domainmgr.js"]
