# callpay on Debian 12 with Node.js 20. Data (key file, database) lives in the /data volume.
FROM node:20-bookworm-slim
WORKDIR /opt/callpay
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
COPY bin ./bin
COPY config ./config
COPY prompts ./prompts
COPY public ./public
COPY src ./src
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ espeak-ng sox \
  && npm ci && npm prune --omit=dev \
  && apt-get purge -y python3 make g++ && apt-get autoremove -y && rm -rf /var/lib/apt/lists/*
# SIP signalling (UDP) and the HTTP intake; RTP uses telephony.rtp.portMin..portMax (UDP).
EXPOSE 8080 5070/udp
VOLUME /data
WORKDIR /data
ENTRYPOINT ["node", "/opt/callpay/bin/callpay.js"]
CMD ["--help"]
