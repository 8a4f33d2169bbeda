/*
 * rtp-sink: the phones' ear for bench/calls. Binds one loopback UDP port (and port + 1, where RTCP
 * goes, read and discarded), receives every RTP packet of every call with its kernel receive
 * timestamp (SO_TIMESTAMPNS), and groups packets into streams by SSRC and source port.
 *
 *   rtp-sink <max-seconds>
 *
 * Prints "ready <port>" once bound. Commands on stdin, one per line:
 *   reset   forget everything received so far: the measurement window starts now
 *   report  print one JSON line: inter-arrival p50/p99/max (ms) over every stream, loss from the RTP
 *           sequence numbers (expected vs received), out-of-order and duplicate packets, packets
 *           and streams seen, and the datagrams the kernel dropped on this socket (SO_RXQ_OVFL)
 *   quit    exit 0 (so does end of stdin)
 * Exits 3 after max-seconds whatever happens, so a lost parent cannot leave it running.
 * Build: cc -O2 -o rtp-sink rtp-sink.c (Linux).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64
#define PKT_MAX 2048
#define TABLE 16384 /* streams: a power of two, well above 2 x 2000 calls */
#define BIN_NS 10000 /* histogram bins of 10 us */
#define BINS 200000 /* up to 2 s; longer intervals land in the last bin (max is exact) */

struct stream {
  uint64_t key; /* ssrc << 16 | source port; 0 = empty slot */
  int64_t last_ns;
  uint64_t base, max; /* extended sequence numbers (seq + 65536 x cycles) */
  uint64_t received, duplicates, out_of_order;
};

static struct stream table[TABLE];
static uint64_t hist[BINS];
static uint64_t intervals, packets, not_rtp, no_kernel_ts, table_full, out_of_band;
static int64_t max_ns;
static uint32_t drops_now, drops_base;

static void reset(void) {
  memset(table, 0, sizeof table);
  memset(hist, 0, sizeof hist);
  intervals = packets = not_rtp = no_kernel_ts = table_full = out_of_band = 0;
  max_ns = 0;
  drops_base = drops_now;
}

static struct stream *find(uint64_t key) {
  uint64_t h = key * 0x9E3779B97F4A7C15ull;
  for (unsigned i = 0; i < TABLE; i++) {
    struct stream *s = &table[(h + i) & (TABLE - 1)];
    if (s->key == key) return s;
    if (s->key == 0) {
      s->key = key;
      return s;
    }
  }
  return NULL;
}

static void on_packet(const uint8_t *p, size_t n, uint16_t src_port, int64_t t_ns) {
  /* RTP version 2, not RTCP (payload types 200..204 with the marker bit read as part of them) */
  if (n < 12 || (p[0] >> 6) != 2 || (p[1] >= 200 && p[1] <= 204)) {
    not_rtp++;
    return;
  }
  uint32_t ssrc = (uint32_t)p[8] << 24 | (uint32_t)p[9] << 16 | (uint32_t)p[10] << 8 | p[11];
  uint16_t seq = (uint16_t)(p[2] << 8 | p[3]);
  struct stream *s = find(((uint64_t)ssrc << 16 | src_port) + 1);
  if (!s) {
    table_full++;
    return;
  }
  packets++;
  if (s->received == 0) {
    s->base = s->max = 65536u * 4 + seq; /* room below for late packets of before the first */
  } else {
    int16_t d = (int16_t)(seq - (uint16_t)s->max);
    if (d > 0) s->max += (uint64_t)d;
    else if (d == 0) s->duplicates++;
    else s->out_of_order++;
    int64_t dt = t_ns - s->last_ns;
    if (dt < 0) dt = 0;
    if (dt > max_ns) max_ns = dt;
    uint64_t bin = (uint64_t)dt / BIN_NS;
    hist[bin < BINS ? bin : BINS - 1]++;
    intervals++;
    if (dt < 18000000 || dt > 22000000) out_of_band++;
  }
  s->received++;
  s->last_ns = t_ns;
}

static double percentile_ms(double p) {
  if (intervals == 0) return -1;
  uint64_t rank = (uint64_t)((p / 100.0) * (double)intervals + 0.999999);
  if (rank < 1) rank = 1;
  uint64_t seen = 0;
  for (unsigned i = 0; i < BINS; i++) {
    seen += hist[i];
    if (seen >= rank) return (i + 0.5) * BIN_NS / 1e6;
  }
  return max_ns / 1e6;
}

static void report(void) {
  uint64_t streams = 0, expected = 0, received = 0, dups = 0, ooo = 0;
  for (unsigned i = 0; i < TABLE; i++) {
    const struct stream *s = &table[i];
    if (!s->key) continue;
    streams++;
    expected += s->max - s->base + 1;
    received += s->received;
    dups += s->duplicates;
    ooo += s->out_of_order;
  }
  int64_t lost = (int64_t)expected - (int64_t)(received - dups);
  printf("{\"packets\":%llu,\"streams\":%llu,\"intervals\":%llu,\"p50\":%.3f,\"p99\":%.3f,\"max\":%.3f,"
         "\"outOfBand\":%llu,\"expected\":%llu,\"lost\":%lld,\"outOfOrder\":%llu,\"duplicates\":%llu,"
         "\"kernelDrops\":%u,\"notRtp\":%llu,\"noKernelTimestamp\":%llu,\"tableFull\":%llu}\n",
         (unsigned long long)packets, (unsigned long long)streams, (unsigned long long)intervals,
         percentile_ms(50), percentile_ms(99), max_ns / 1e6, (unsigned long long)out_of_band,
         (unsigned long long)expected, (long long)lost, (unsigned long long)ooo, (unsigned long long)dups,
         drops_now - drops_base, (unsigned long long)not_rtp, (unsigned long long)no_kernel_ts,
         (unsigned long long)table_full);
  fflush(stdout);
}

static int bind_udp(uint16_t port) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
  if (fd < 0) return -1;
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0) {
    close(fd);
    return -1;
  }
  return fd;
}

static uint16_t port_of(int fd) {
  struct sockaddr_in a;
  socklen_t len = sizeof a;
  getsockname(fd, (struct sockaddr *)&a, &len);
  return ntohs(a.sin_port);
}

static void drain(int fd) {
  static struct mmsghdr msgs[BATCH];
  static struct iovec iov[BATCH];
  static uint8_t bufs[BATCH][PKT_MAX];
  static struct sockaddr_in from[BATCH];
  static char ctrl[BATCH][256];
  for (int round = 0; round < 64; round++) { /* bounded: let stdin be read under a flood */
    for (int i = 0; i < BATCH; i++) {
      iov[i] = (struct iovec){bufs[i], PKT_MAX};
      msgs[i].msg_hdr = (struct msghdr){.msg_name = &from[i], .msg_namelen = sizeof from[i], .msg_iov = &iov[i],
                                        .msg_iovlen = 1, .msg_control = ctrl[i], .msg_controllen = sizeof ctrl[i]};
    }
    int n = recvmmsg(fd, msgs, BATCH, MSG_DONTWAIT, NULL);
    if (n <= 0) return;
    for (int i = 0; i < n; i++) {
      int64_t t = -1;
      for (struct cmsghdr *c = CMSG_FIRSTHDR(&msgs[i].msg_hdr); c; c = CMSG_NXTHDR(&msgs[i].msg_hdr, c)) {
        if (c->cmsg_level != SOL_SOCKET) continue;
        if (c->cmsg_type == SCM_TIMESTAMPNS) {
          struct timespec ts;
          memcpy(&ts, CMSG_DATA(c), sizeof ts);
          t = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
        } else if (c->cmsg_type == SO_RXQ_OVFL) {
          memcpy(&drops_now, CMSG_DATA(c), sizeof drops_now);
        }
      }
      if (t < 0) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        t = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
        no_kernel_ts++;
      }
      on_packet(bufs[i], msgs[i].msg_len, ntohs(from[i].sin_port), t);
    }
    if (n < BATCH) return;
  }
}

static void discard(int fd) {
  uint8_t buf[PKT_MAX];
  for (int i = 0; i < 1024 && recv(fd, buf, sizeof buf, MSG_DONTWAIT) >= 0; i++) {}
}

int main(int argc, char **argv) {
  long limit = argc > 1 ? strtol(argv[1], NULL, 10) : 0;
  if (argc != 2 || limit <= 0) {
    fprintf(stderr, "usage: rtp-sink <max-seconds>\n");
    return 2;
  }
  signal(SIGALRM, SIG_DFL);
  alarm((unsigned)limit); /* SIGALRM's default action ends the process */
  int fd = -1, rtcp = -1;
  for (int i = 0; i < 50 && rtcp < 0; i++) { /* an even-or-odd free port whose + 1 is free too */
    if (fd >= 0) close(fd);
    fd = bind_udp(0);
    if (fd < 0) break;
    uint16_t p = port_of(fd);
    if (p < 65535) rtcp = bind_udp((uint16_t)(p + 1));
  }
  if (fd < 0 || rtcp < 0) {
    fprintf(stderr, "rtp-sink: no free UDP port pair on 127.0.0.1: %s\n", strerror(errno));
    return 1;
  }
  int on = 1, size = 32 << 20;
  setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof on);
  setsockopt(fd, SOL_SOCKET, SO_RXQ_OVFL, &on, sizeof on);
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) < 0) /* root only */
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  int got = 0;
  socklen_t len = sizeof got;
  getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &got, &len);
  printf("ready %u rcvbuf %d\n", port_of(fd), got);
  fflush(stdout);

  char line[256];
  size_t have = 0;
  struct pollfd fds[3] = {{fd, POLLIN, 0}, {rtcp, POLLIN, 0}, {STDIN_FILENO, POLLIN, 0}};
  for (;;) {
    if (poll(fds, 3, 1000) < 0 && errno != EINTR) return 1;
    if (fds[0].revents & POLLIN) drain(fd);
    if (fds[1].revents & POLLIN) discard(rtcp);
    if (fds[2].revents & (POLLIN | POLLHUP)) {
      ssize_t n = read(STDIN_FILENO, line + have, sizeof line - 1 - have);
      if (n <= 0) return 0;
      have += (size_t)n;
      char *nl;
      while ((nl = memchr(line, '\n', have))) {
        *nl = 0;
        if (strcmp(line, "reset") == 0) reset();
        else if (strcmp(line, "report") == 0) report();
        else if (strcmp(line, "quit") == 0) return 0;
        size_t used = (size_t)(nl - line) + 1;
        memmove(line, nl + 1, have - used);
        have -= used;
      }
      if (have == sizeof line - 1) have = 0; /* an overlong line: dropped */
    }
  }
}
