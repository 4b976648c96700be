// The RTP side of bench/call-load.sh's phones, in one thread: the agents' echo and the
// callers' voice. SIPp keeps the signalling; this program replaces its `-rtp_echo` (one
// thread that echoed a third of what it was sent at ~3,000 bridges) and its `rtp_stream`
// (a thread per ~20 calls), which took as much CPU as the server they were loading.
//
//   gcc -O2 -o rtp-peer bench/rtp-peer.c
//   ./rtp-peer ECHO_PORT CALLER_PORT_MIN CALLER_PORTS AUDIO_FILE   # until SIGINT/SIGTERM
//
// Agents: every agent desk phone's SDP names ECHO_PORT; each datagram received there is
// sent back to where it came from, unchanged (recvmmsg / sendmmsg in batches).
//
// Callers: CALLER_PORTS phones, phone i on port CALLER_PORT_MIN + 2 i (RTP; the next port,
// RTCP, is bound and never read: the kernel drops what overflows it). SIPp puts the phone's port in the INVITE's SDP from its injection file,
// so each concurrent call has a phone of its own, as in life. A phone starts talking when
// Guichet's first packet reaches it (symmetric RTP: the source of that packet is Guichet's
// port for the call): 160 bytes of the A-law AUDIO_FILE, looped, every 20 ms on the phone's
// own grid, with RTP timestamps that follow the grid (8 units per ms). A phone that hears
// nothing for IDLE_MS stops (the call has ended, or Guichet is silent between prompts) and
// starts again on the same grid when Guichet's audio comes back; a packet from another
// source port is a new call on that phone: new SSRC, new grid. A silent phone waits in epoll
// for its first packet; a talking phone leaves epoll and reads what it was sent (one
// recvmmsg) at each of its own 20 ms ticks, so Guichet's packets do not wake this thread one
// by one. While it talks the phone's socket is connected to Guichet's port (a connected
// send skips the route lookup, ~13 % of a loopback send, docs/performance.md), and it reads
// what came in every LISTEN_TICKS ticks.
//
// On exit prints one line: packets echoed, caller streams started, packets the callers sent
// and received, sends that failed, and how late the callers' own sends were against their
// grid (a phone has its own CPU; this one shares the server's, so its lateness is printed).
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define PACKET_MS 20
#define PAYLOAD 160 // 20 ms of 8 kHz A-law
#define IDLE_MS 600
#define LISTEN_TICKS 5 // a talking phone reads its socket every 100 ms
#define BATCH 64
#define LATE_NS 5000000 // a send more than 5 ms behind its grid is counted late

struct phone {
    int rtp_fd, rtcp_fd;
    int talking; // streaming to `dest`
    int known;   // `dest`, `ssrc`, grid set by a first packet
    struct sockaddr_in dest;
    uint32_t ssrc;
    uint16_t seq;
    uint32_t ts0;
    int64_t t0_ns;     // grid origin
    int64_t next_ns;   // next packet's place on the grid
    int64_t heard_ns;  // last packet from Guichet
    size_t audio_pos;
    int slot;          // index into `wheel[phase]`, or -1
    unsigned ticks;    // packets sent since it started talking
};

static struct phone *phones;
static unsigned phone_count, port_min;
static int ep;
static uint8_t *audio;
static size_t audio_len;
static volatile sig_atomic_t stopping;

// Talking phones by the millisecond of their grid's phase: each millisecond tick visits
// only the phones due in it.
static unsigned *wheel[PACKET_MS];
static unsigned wheel_len[PACKET_MS], wheel_cap[PACKET_MS];

static uint64_t echoed, echo_bytes, echo_send_errors;
static uint64_t streams_started, caller_sent, caller_received, caller_send_errors;
static uint64_t caller_late_sends, caller_skipped;
static int64_t caller_worst_late_ns;

static void on_signal(int sig) {
    (void)sig;
    stopping = 1;
}

static int64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static uint32_t rand32(void) {
    static uint64_t x = 0;
    if (!x) x = (uint64_t)now_ns() ^ ((uint64_t)getpid() << 32) ^ 0x9e3779b97f4a7c15ull;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return (uint32_t)x;
}

static int udp_socket(unsigned port) {
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        perror("rtp-peer: socket");
        exit(1);
    }
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0) {
        fprintf(stderr, "rtp-peer: bind 127.0.0.1:%u: %s (another program holds it: move AGENT_ECHO_PORT or CALLER_MEDIA_PORT)\n", port, strerror(errno));
        exit(1);
    }
    return fd;
}

static void watch(int fd, uint64_t tag) {
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = tag};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
        perror("rtp-peer: epoll_ctl");
        exit(1);
    }
}

// A talking phone sends to Guichet's port only: connected, the kernel keeps the route.
static void connect_to(struct phone *p) {
    if (connect(p->rtp_fd, (struct sockaddr *)&p->dest, sizeof p->dest) < 0) {
        perror("rtp-peer: connect");
        exit(1);
    }
}

// A silent phone must hear the next call's first packet, from whatever port it comes.
static void disconnect(struct phone *p) {
    struct sockaddr any = {.sa_family = AF_UNSPEC};
    connect(p->rtp_fd, &any, sizeof any);
}

static void unwatch(int fd) {
    if (epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL) < 0) {
        perror("rtp-peer: epoll_ctl");
        exit(1);
    }
}

// The millisecond tick at which phone i's packets are due: the first tick at or after each
// place on its grid (a later tick would send every packet up to a millisecond late).
static unsigned phase_of(const struct phone *p) {
    return (unsigned)(((p->t0_ns + 999999) / 1000000) % PACKET_MS);
}

static void wheel_add(unsigned i) {
    struct phone *p = &phones[i];
    unsigned phase = phase_of(p);
    if (wheel_len[phase] == wheel_cap[phase]) {
        wheel_cap[phase] = wheel_cap[phase] ? wheel_cap[phase] * 2 : 256;
        wheel[phase] = realloc(wheel[phase], wheel_cap[phase] * sizeof **wheel);
        if (!wheel[phase]) {
            perror("rtp-peer: realloc");
            exit(1);
        }
    }
    p->slot = (int)wheel_len[phase];
    wheel[phase][wheel_len[phase]++] = i;
}

static void wheel_remove(unsigned i) {
    struct phone *p = &phones[i];
    if (p->slot < 0) return;
    unsigned phase = phase_of(p);
    unsigned last = wheel[phase][--wheel_len[phase]];
    wheel[phase][p->slot] = last;
    phones[last].slot = p->slot;
    p->slot = -1;
}

// Guichet's audio reached phone i from `from`.
static void heard(unsigned i, const struct sockaddr_in *from, int64_t now) {
    struct phone *p = &phones[i];
    caller_received++;
    p->heard_ns = now;
    int same = p->known && p->dest.sin_port == from->sin_port &&
               p->dest.sin_addr.s_addr == from->sin_addr.s_addr;
    if (!same) {
        // A new call on this phone: its own SSRC, sequence and grid. Only a silent phone
        // hears a new source: a talking one is connected to its call's port.
        unwatch(p->rtp_fd);
        p->known = 1;
        p->dest = *from;
        p->ssrc = rand32();
        p->seq = (uint16_t)rand32();
        p->ts0 = rand32();
        p->t0_ns = now;
        p->next_ns = now;
        p->audio_pos = 0;
        p->talking = 1;
        p->ticks = 0;
        streams_started++;
        connect_to(p);
        wheel_add(i);
    } else if (!p->talking) {
        // Back from a silence: the next place on the same grid.
        int64_t periods = (now - p->t0_ns + PACKET_MS * 1000000 - 1) / (PACKET_MS * 1000000);
        p->next_ns = p->t0_ns + periods * PACKET_MS * 1000000;
        p->talking = 1;
        p->ticks = 0;
        unwatch(p->rtp_fd);
        connect_to(p);
        wheel_add(i);
    }
}

// What a talking phone was sent since its last tick (Guichet's audio, at most a few packets).
static void listen_talking(unsigned i, int64_t now) {
    uint8_t bufs[8][256];
    struct sockaddr_in from[8];
    struct iovec iov[8];
    struct mmsghdr msgs[8];
    for (;;) {
        for (int k = 0; k < 8; k++) {
            iov[k] = (struct iovec){.iov_base = bufs[k], .iov_len = sizeof bufs[k]};
            msgs[k].msg_hdr = (struct msghdr){.msg_name = &from[k], .msg_namelen = sizeof from[k],
                                              .msg_iov = &iov[k], .msg_iovlen = 1};
        }
        int n = recvmmsg(phones[i].rtp_fd, msgs, 8, MSG_DONTWAIT, NULL);
        if (n <= 0) return;
        for (int k = 0; k < n; k++)
            if (msgs[k].msg_len >= 12 && (bufs[k][0] >> 6) == 2) heard(i, &from[k], now);
        if (n < 8) return;
    }
}

static void send_due(unsigned i, int64_t now) {
    struct phone *p = &phones[i];
    if (p->next_ns > now) return; // a phone (re)started in this pass: its first tick is later
    if (p->ticks % LISTEN_TICKS == 0) listen_talking(i, now);
    if (now - p->heard_ns > (int64_t)IDLE_MS * 1000000) {
        // Silent: back to waiting in epoll for Guichet's next packet.
        p->talking = 0;
        wheel_remove(i);
        disconnect(p);
        watch(p->rtp_fd, 3 + (uint64_t)i);
        return;
    }
    // A phone that fell behind by more than 3 packets skips ahead rather than bursting.
    if (now - p->next_ns > 3 * PACKET_MS * 1000000) {
        int64_t behind = (now - p->next_ns) / (PACKET_MS * 1000000);
        caller_skipped += (uint64_t)behind;
        p->next_ns += behind * PACKET_MS * 1000000;
    }
    while (p->next_ns <= now) {
        int64_t late = now - p->next_ns;
        if (late > LATE_NS) caller_late_sends++;
        if (late > caller_worst_late_ns) caller_worst_late_ns = late;
        uint8_t pkt[12 + PAYLOAD];
        uint32_t ts = p->ts0 + (uint32_t)((p->next_ns - p->t0_ns) / 125000);
        pkt[0] = 0x80;
        pkt[1] = 8; // PCMA
        pkt[2] = (uint8_t)(p->seq >> 8);
        pkt[3] = (uint8_t)p->seq;
        pkt[4] = (uint8_t)(ts >> 24);
        pkt[5] = (uint8_t)(ts >> 16);
        pkt[6] = (uint8_t)(ts >> 8);
        pkt[7] = (uint8_t)ts;
        pkt[8] = (uint8_t)(p->ssrc >> 24);
        pkt[9] = (uint8_t)(p->ssrc >> 16);
        pkt[10] = (uint8_t)(p->ssrc >> 8);
        pkt[11] = (uint8_t)p->ssrc;
        for (size_t k = 0; k < PAYLOAD; k++) {
            pkt[12 + k] = audio[p->audio_pos];
            p->audio_pos = (p->audio_pos + 1) % audio_len;
        }
        // ECONNREFUSED: Guichet's port is closed, the call has ended; the phone falls silent.
        if (send(p->rtp_fd, pkt, sizeof pkt, 0) < 0) {
            if (errno == ECONNREFUSED) p->heard_ns = now - (int64_t)IDLE_MS * 1000000 - 1;
            else caller_send_errors++;
        } else {
            caller_sent++;
        }
        p->ticks++;
        p->seq++;
        p->next_ns += PACKET_MS * 1000000;
    }
}

static void echo_all(int fd) {
    static uint8_t bufs[BATCH][2048];
    static struct sockaddr_in from[BATCH];
    static struct iovec iov[BATCH];
    static struct mmsghdr msgs[BATCH];
    for (;;) {
        for (int k = 0; k < BATCH; k++) {
            iov[k] = (struct iovec){.iov_base = bufs[k], .iov_len = sizeof bufs[k]};
            msgs[k].msg_hdr = (struct msghdr){.msg_name = &from[k], .msg_namelen = sizeof from[k],
                                              .msg_iov = &iov[k], .msg_iovlen = 1};
        }
        int n = recvmmsg(fd, msgs, BATCH, MSG_DONTWAIT, NULL);
        if (n <= 0) return;
        for (int k = 0; k < n; k++) {
            iov[k].iov_len = msgs[k].msg_len;
            echo_bytes += msgs[k].msg_len;
        }
        int done = 0;
        while (done < n) {
            int s = sendmmsg(fd, msgs + done, (unsigned)(n - done), 0);
            if (s <= 0) {
                echo_send_errors += (uint64_t)(n - done);
                break;
            }
            done += s;
        }
        echoed += (uint64_t)done;
        if (n < BATCH) return;
    }
}

// A silent phone's first packet(s): it starts talking (and leaves epoll).
static void wake_phone(unsigned i) {
    if (phones[i].talking) return;
    uint8_t buf[2048];
    struct sockaddr_in from;
    socklen_t len = sizeof from;
    ssize_t n = recvfrom(phones[i].rtp_fd, buf, sizeof buf, MSG_DONTWAIT, (struct sockaddr *)&from, &len);
    if (n >= 12 && (buf[0] >> 6) == 2) heard(i, &from, now_ns());
}

static void drain(int fd) {
    uint8_t buf[2048];
    while (recv(fd, buf, sizeof buf, MSG_DONTWAIT) >= 0) {
    }
}

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: %s ECHO_PORT CALLER_PORT_MIN CALLER_PORTS AUDIO_FILE\n", argv[0]);
        return 2;
    }
    unsigned echo_port = (unsigned)atoi(argv[1]);
    port_min = (unsigned)atoi(argv[2]);
    phone_count = (unsigned)atoi(argv[3]);
    if (port_min + 2 * phone_count > 65535 || echo_port == 0 || phone_count == 0) {
        fprintf(stderr, "rtp-peer: ports out of range\n");
        return 2;
    }
    FILE *f = fopen(argv[4], "rb");
    if (!f) {
        perror(argv[4]);
        return 1;
    }
    struct stat st;
    if (fstat(fileno(f), &st) < 0 || st.st_size < PAYLOAD) {
        fprintf(stderr, "rtp-peer: %s: too short\n", argv[4]);
        return 1;
    }
    audio_len = (size_t)st.st_size;
    audio = malloc(audio_len);
    if (!audio || fread(audio, 1, audio_len, f) != audio_len) {
        fprintf(stderr, "rtp-peer: cannot read %s\n", argv[4]);
        return 1;
    }
    fclose(f);

    ep = epoll_create1(EPOLL_CLOEXEC);
    // Tags: 0 timer, 1 echo, 2 echo RTCP, 3 + i phone i's RTP while it is silent.
    int echo_fd = udp_socket(echo_port);
    int echo_rtcp_fd = udp_socket(echo_port + 1);
    int rcvbuf = 4 << 20;
    setsockopt(echo_fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    watch(echo_fd, 1);
    watch(echo_rtcp_fd, 2);
    phones = calloc(phone_count, sizeof *phones);
    if (!phones) {
        perror("rtp-peer: calloc");
        return 1;
    }
    for (unsigned i = 0; i < phone_count; i++) {
        phones[i].rtp_fd = udp_socket(port_min + 2 * i);
        phones[i].rtcp_fd = udp_socket(port_min + 2 * i + 1);
        phones[i].slot = -1;
        int small = 2048; // RTCP to a phone is dropped by the kernel once this is full
        setsockopt(phones[i].rtcp_fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
        watch(phones[i].rtp_fd, 3 + (uint64_t)i);
    }
    int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    struct itimerspec every_ms = {.it_interval = {0, 1000000}, .it_value = {0, 1000000}};
    timerfd_settime(tfd, 0, &every_ms, NULL);
    watch(tfd, 0);

    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    fprintf(stderr, "rtp-peer: echo on %u, %u caller phones on %u-%u\n", echo_port, phone_count,
            port_min, port_min + 2 * phone_count - 1);

    int64_t done_ms = now_ns() / 1000000;
    struct epoll_event evs[256];
    while (!stopping) {
        int n = epoll_wait(ep, evs, 256, 5);
        if (n < 0 && errno != EINTR) {
            perror("rtp-peer: epoll_wait");
            return 1;
        }
        for (int k = 0; k < n; k++) {
            uint64_t tag = evs[k].data.u64;
            if (tag == 0) {
                uint64_t expirations;
                (void)!read(tfd, &expirations, sizeof expirations);
            } else if (tag == 1) {
                echo_all(echo_fd);
            } else if (tag == 2) {
                drain(echo_rtcp_fd);
            } else {
                wake_phone((unsigned)(tag - 3));
            }
        }
        // Every millisecond since the last pass, the phones whose phase it is.
        int64_t now = now_ns();
        int64_t now_ms = now / 1000000;
        if (now_ms - done_ms > PACKET_MS) done_ms = now_ms - PACKET_MS;
        while (done_ms < now_ms) {
            done_ms++;
            unsigned phase = (unsigned)(done_ms % PACKET_MS);
            // Back to front: send_due may remove the phone it visits (swap with the last).
            for (unsigned j = wheel_len[phase]; j-- > 0;) send_due(wheel[phase][j], now);
        }
    }
    printf("rtp-peer: echoed %llu packets (%llu bytes, %llu send errors); callers: %llu streams, "
           "sent %llu, received %llu, send errors %llu, sends late > 5 ms %llu (%.3f %%), worst %.1f ms, "
           "skipped %llu\n",
           (unsigned long long)echoed, (unsigned long long)echo_bytes,
           (unsigned long long)echo_send_errors, (unsigned long long)streams_started,
           (unsigned long long)caller_sent, (unsigned long long)caller_received,
           (unsigned long long)caller_send_errors, (unsigned long long)caller_late_sends,
           caller_sent ? 100.0 * (double)caller_late_sends / (double)caller_sent : 0.0,
           (double)caller_worst_late_ns / 1e6, (unsigned long long)caller_skipped);
    return 0;
}
