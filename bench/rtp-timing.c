// Timing of the RTP the callers receive, for bench/call-load.sh.
//
// Captures, on the loopback interface, every UDP datagram whose destination port is in
// [PORT_MIN, PORT_MAX] (the SIPp callers' media ports) with the kernel's arrival timestamp,
// through a TPACKET_V3 ring (one copy per packet, no system call per packet, so the
// measurement costs little next to the load it measures). Needs CAP_NET_RAW (root).
//
// Each stream (destination port + SSRC) has its own grid: the RTP timestamp says when a
// packet is due (8 timestamp units per millisecond, PCMA/PCMU at 8 kHz); a packet's offset
// is its arrival minus that due time, and the grid is anchored on the stream's earliest
// offset. A packet is late when its offset exceeds the anchor by more than 5 ms. Guichet
// derives its RTP timestamps from its media clock's tick, so silence between a prompt and
// the music is not counted as lateness, and a packet sent after its tick is.
//
//   gcc -O2 -o rtp-timing bench/rtp-timing.c
//   ./rtp-timing PORT_MIN PORT_MAX [SRC_MIN SRC_MAX] > report.txt   # until SIGINT/SIGTERM
//
// With SRC_MIN SRC_MAX only datagrams from those source ports count (e.g. what the callers
// send to Guichet, told apart from what the agents send it).
//
// Prints: streams, packets, late > 5 ms (count and %), late > 20 ms, worst lateness,
// 99th and 99.9th percentile lateness, and the kernel's count of packets the ring dropped.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/filter.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#define BLOCK_SIZE (1u << 18) // 256 KiB: small enough to allocate without a compaction stall
#define BLOCK_COUNT 256u
#define FRAME_SIZE 2048u
#define LATE_US 5000
#define VERY_LATE_US 20000

struct stream {
    uint16_t port;
    uint32_t ssrc;
    int have_first;
    uint32_t ts0;
    int64_t t0_us;
    int64_t *offsets; // arrival minus due time, microseconds, relative to the first packet
    int64_t *arrivals; // arrival, microseconds after the stream's first packet (for the dump)
    size_t len, cap;
    struct stream *next; // hash chain
};

#define BUCKETS 65536u
static struct stream *table[BUCKETS];
static size_t stream_count;
static unsigned src_min = 0, src_max = 65535;
static volatile sig_atomic_t stopping;

static void on_signal(int sig) {
    (void)sig;
    stopping = 1;
}

static struct stream *stream_of(uint16_t port, uint32_t ssrc) {
    uint32_t h = (port * 2654435761u) ^ ssrc;
    h &= BUCKETS - 1;
    for (struct stream *s = table[h]; s; s = s->next)
        if (s->port == port && s->ssrc == ssrc) return s;
    struct stream *s = calloc(1, sizeof *s);
    if (!s) {
        perror("calloc");
        exit(1);
    }
    s->port = port;
    s->ssrc = ssrc;
    s->next = table[h];
    table[h] = s;
    stream_count++;
    return s;
}

static void record(const uint8_t *ip, uint32_t len, int64_t t_us) {
    if (len < 20) return;
    uint32_t ihl = (ip[0] & 0x0f) * 4u;
    if (ip[9] != 17 || len < ihl + 8 + 12) return;
    const uint8_t *udp = ip + ihl;
    uint16_t port = (uint16_t)((udp[2] << 8) | udp[3]);
    uint16_t src = (uint16_t)((udp[0] << 8) | udp[1]);
    if (src < src_min || src > src_max) return;
    const uint8_t *rtp = udp + 8;
    if ((rtp[0] >> 6) != 2) return;       // not RTP version 2
    uint8_t pt = rtp[1] & 0x7f;
    if (pt != 0 && pt != 8) return;        // audio only (telephone-event has its own timing)
    uint32_t ts = ((uint32_t)rtp[4] << 24) | ((uint32_t)rtp[5] << 16) | ((uint32_t)rtp[6] << 8) | rtp[7];
    uint32_t ssrc = ((uint32_t)rtp[8] << 24) | ((uint32_t)rtp[9] << 16) | ((uint32_t)rtp[10] << 8) | rtp[11];
    struct stream *s = stream_of(port, ssrc);
    if (!s->have_first) {
        s->have_first = 1;
        s->ts0 = ts;
        s->t0_us = t_us;
    }
    // Due time from the RTP timestamp: 8 units per ms at 8 kHz (signed: reordering).
    int64_t due_us = (int64_t)(int32_t)(ts - s->ts0) * 125;
    if (s->len == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 512;
        s->offsets = realloc(s->offsets, s->cap * sizeof *s->offsets);
        s->arrivals = realloc(s->arrivals, s->cap * sizeof *s->arrivals);
        if (!s->offsets || !s->arrivals) {
            perror("realloc");
            exit(1);
        }
    }
    s->arrivals[s->len] = t_us - s->t0_us;
    s->offsets[s->len++] = (t_us - s->t0_us) - due_us;
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    if (argc != 3 && argc != 5) {
        fprintf(stderr, "usage: %s PORT_MIN PORT_MAX [SRC_MIN SRC_MAX]\n", argv[0]);
        return 2;
    }
    if (argc == 5) {
        src_min = (unsigned)atoi(argv[3]);
        src_max = (unsigned)atoi(argv[4]);
    }
    unsigned port_min = (unsigned)atoi(argv[1]), port_max = (unsigned)atoi(argv[2]);
    // Only datagrams received on the host (ETH_P_IP sockets do not see the transmit path),
    // IPv4/UDP, not fragments, destination port in range; 128 bytes are enough.
    struct sock_filter code[] = {
        BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 9),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 17, 0, 7),
        BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 6),
        BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, 0x1fff, 5, 0),
        BPF_STMT(BPF_LDX | BPF_B | BPF_MSH, 0),
        BPF_STMT(BPF_LD | BPF_H | BPF_IND, 2),
        BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, port_min, 0, 2),
        BPF_JUMP(BPF_JMP | BPF_JGT | BPF_K, port_max, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, 128),
        BPF_STMT(BPF_RET | BPF_K, 0),
    };
    struct sock_fprog prog = {.len = sizeof code / sizeof code[0], .filter = code};

    int fd = socket(AF_PACKET, SOCK_DGRAM, htons(ETH_P_IP));
    if (fd < 0) {
        perror("rtp-timing: socket(AF_PACKET) (needs root or CAP_NET_RAW)");
        return 1;
    }
    if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog) < 0) {
        perror("SO_ATTACH_FILTER");
        return 1;
    }
    int version = TPACKET_V3;
    if (setsockopt(fd, SOL_PACKET, PACKET_VERSION, &version, sizeof version) < 0) {
        perror("PACKET_VERSION");
        return 1;
    }
    struct tpacket_req3 req = {
        .tp_block_size = BLOCK_SIZE,
        .tp_block_nr = BLOCK_COUNT,
        .tp_frame_size = FRAME_SIZE,
        .tp_frame_nr = (BLOCK_SIZE / FRAME_SIZE) * BLOCK_COUNT,
        .tp_retire_blk_tov = 20, // ms: hand a partly filled block over when it is this old
    };
    if (setsockopt(fd, SOL_PACKET, PACKET_RX_RING, &req, sizeof req) < 0) {
        perror("PACKET_RX_RING");
        return 1;
    }
    size_t ring_len = (size_t)BLOCK_SIZE * BLOCK_COUNT;
    uint8_t *ring = mmap(NULL, ring_len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (ring == MAP_FAILED) {
        perror("mmap");
        return 1;
    }
    struct sockaddr_ll where = {.sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_IP),
                                .sll_ifindex = (int)if_nametoindex("lo")};
    if (bind(fd, (struct sockaddr *)&where, sizeof where) < 0) {
        perror("bind lo");
        return 1;
    }
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    fprintf(stderr, "rtp-timing: capturing UDP to ports %u-%u on lo\n", port_min, port_max);

    unsigned block = 0;
    uint64_t packets = 0;
    while (!stopping) {
        struct tpacket_block_desc *bd = (struct tpacket_block_desc *)(ring + (size_t)block * BLOCK_SIZE);
        if (!(bd->hdr.bh1.block_status & TP_STATUS_USER)) {
            struct pollfd p = {.fd = fd, .events = POLLIN | POLLERR};
            poll(&p, 1, 100);
            continue;
        }
        struct tpacket3_hdr *h = (struct tpacket3_hdr *)((uint8_t *)bd + bd->hdr.bh1.offset_to_first_pkt);
        for (uint32_t i = 0; i < bd->hdr.bh1.num_pkts; i++) {
            int64_t t_us = (int64_t)h->tp_sec * 1000000 + h->tp_nsec / 1000;
            record((uint8_t *)h + h->tp_net, h->tp_snaplen, t_us);
            packets++;
            h = (struct tpacket3_hdr *)((uint8_t *)h + h->tp_next_offset);
        }
        __sync_synchronize();
        bd->hdr.bh1.block_status = TP_STATUS_KERNEL;
        block = (block + 1) % BLOCK_COUNT;
    }

    struct tpacket_stats_v3 st = {0};
    socklen_t st_len = sizeof st;
    getsockopt(fd, SOL_PACKET, PACKET_STATISTICS, &st, &st_len);

    // Every stream's offsets against its own anchor (its earliest offset).
    uint64_t total = 0, late = 0, very_late = 0;
    int64_t *all = malloc(sizeof(int64_t) * (packets ? packets : 1));
    if (!all) {
        perror("malloc");
        return 1;
    }
    int64_t worst = 0;
    // RTP_TIMING_DUMP=N: the first N streams' packets (arrival ms, lateness ms) on stderr.
    const char *dump_env = getenv("RTP_TIMING_DUMP");
    int dump = dump_env ? atoi(dump_env) : 0;
    for (unsigned b = 0; b < BUCKETS; b++) {
        for (struct stream *s = table[b]; s; s = s->next) {
            int64_t anchor = s->offsets[0];
            for (size_t i = 1; i < s->len; i++)
                if (s->offsets[i] < anchor) anchor = s->offsets[i];
            if (dump > 0) {
                dump--;
                fprintf(stderr, "stream port %u ssrc %08x t0 %.3f:", s->port, s->ssrc, s->t0_us / 1e6);
                for (size_t i = 0; i < s->len; i++)
                    fprintf(stderr, " %.1f/%.1f", s->arrivals[i] / 1000.0, (s->offsets[i] - anchor) / 1000.0);
                fprintf(stderr, "\n");
            }
            for (size_t i = 0; i < s->len; i++) {
                int64_t e = s->offsets[i] - anchor;
                all[total++] = e;
                if (e > LATE_US) late++;
                if (e > VERY_LATE_US) very_late++;
                if (e > worst) worst = e;
            }
        }
    }
    qsort(all, total, sizeof *all, cmp_i64);
    double p99 = total ? all[(size_t)((double)(total - 1) * 0.99)] / 1000.0 : 0;
    double p999 = total ? all[(size_t)((double)(total - 1) * 0.999)] / 1000.0 : 0;
    printf("rtp timing: streams %zu, packets %lu, late > 5 ms %lu (%.3f %%), late > 20 ms %lu (%.3f %%), "
           "p99 %.1f ms, p99.9 %.1f ms, worst %.1f ms, capture drops %u\n",
           stream_count, (unsigned long)total, (unsigned long)late, total ? 100.0 * late / total : 0.0,
           (unsigned long)very_late, total ? 100.0 * very_late / total : 0.0, p99, p999, worst / 1000.0,
           st.tp_drops);
    return 0;
}
