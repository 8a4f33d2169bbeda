# callpay on Debian 12 with Node.js 20. Data (key file, database) lives in the /data volume.
FROM node:20-bookworm-slim
WORKDIR /opt/callpay
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
COPY bin ./bin
COPY config ./config
COPY src ./src
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ \
  && npm ci && npm prune --omit=dev \
  && apt-get purge -y python3 make g++ && apt-get autoremove -y && rm -rf /var/lib/apt/lists/*
VOLUME /data
WORKDIR /data
ENTRYPOINT ["node", "/opt/callpay/bin/callpay.js"]
CMD ["--help"]
