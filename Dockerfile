# BuildTrace service image: Node 22 LTS, compiled TypeScript, production dependencies only.
# Build:  docker build -t buildtrace .
# Run:    docker run -p 8080:8080 buildtrace            (embedded default, data in /app/data)

FROM node:22-bookworm-slim AS build
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
COPY test ./test
RUN npm ci && npm prune --omit=dev

FROM node:22-bookworm-slim
ENV NODE_ENV=production PORT=8080 DATA_DIR=/app/data
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
RUN mkdir -p /app/data && chown node:node /app/data
USER node
EXPOSE 8080
# Exec form: node itself is PID 1 and receives SIGTERM directly. PID 1 gets no default signal
# handlers from the kernel, so this relies on main.js handling SIGTERM and SIGINT (it does).
CMD ["node", "dist/src/main.js"]
