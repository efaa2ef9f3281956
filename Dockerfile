# BuildTrace service image: Node 22 LTS, compiled TypeScript, production dependencies only, no
# tests (test/ is neither copied nor compiled into dist/).
# Build:  docker build -t buildtrace .        (or deploy/cloudbuild.yaml: build, scan, push)
# Run:    docker run -p 8080:8080 buildtrace  (embedded default, data in /app/data)
#
# The base is pinned by digest so a rebuild gets the same bytes until someone decides otherwise.
# How this digest was chosen: the machine this file was written on has no access to a container
# registry, so it could not be resolved here. It is the node:22-bookworm-slim index digest found
# pinned in a public repository's Dockerfile kept current by Dependabot; it was NOT verified
# against Docker Hub. Verify (and bump) it with a registry at hand:
#   docker buildx imagetools inspect node:22-bookworm-slim --format '{{json .Manifest.Digest}}'
#   (or: crane digest node:22-bookworm-slim)
# then replace the digest on BOTH FROM lines. A digest that does not resolve fails the pull, so a
# wrong one stops the build rather than shipping another base. Dependabot's docker ecosystem (or
# Renovate) can propose the bump as a pull request.

FROM node:22-bookworm-slim@sha256:43ac6c60b8f89723f746e8a92ce91abd5017e627ce1ddfe4238355d3a30b772c AS build
WORKDIR /app
# better-sqlite3 compiles from source when no prebuilt binary can be fetched.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json tsconfig.json ./
# npm ci runs the package's prepare script (scripts/build-if-stale.mjs), which compiles the sources.
COPY scripts ./scripts
COPY src ./src
COPY streams ./streams
COPY sinks ./sinks
RUN npm ci && npm prune --omit=dev

FROM node:22-bookworm-slim@sha256:43ac6c60b8f89723f746e8a92ce91abd5017e627ce1ddfe4238355d3a30b772c
ENV NODE_ENV=production PORT=8080 DATA_DIR=/app/data
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
RUN mkdir -p /app/data && chown node:node /app/data
# uid 1000: the manifests' runAsUser, so Kubernetes can check it is not root.
USER node
EXPOSE 8080
# Exec form: node itself is PID 1 and receives SIGTERM directly. PID 1 gets no default signal
# handlers from the kernel, so this relies on main.js handling SIGTERM and SIGINT (it does).
CMD ["node", "dist/src/main.js"]
