// What one RTP packet costs the kernel to send, the way the media clock sends it: N UDP
// sockets on loopback (one per session, as each session has its own source port), each
// sending one 172-byte packet (a 20 ms G.711 frame) per round to one sink, which drains
// them between rounds. Three ways: sendto on unconnected sockets (what guichet-media does),
// send on connected sockets, and sendmmsg in batches of 64 on ONE socket (what batching
// would give if the streams could share a source port; they cannot). Prints the sender's
// CPU per packet (the loopback delivery into the sink is part of it).
//
//   gcc -O2 bench/udp-send-cost.c -o /tmp/udp-send-cost && /tmp/udp-send-cost 3000 200
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>
#include <time.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <sys/resource.h>
static double cpu(void){struct timespec t;clock_gettime(CLOCK_PROCESS_CPUTIME_ID,&t);return t.tv_sec*1e9+t.tv_nsec;}
int main(int argc,char**argv){
  int n=argc>1?atoi(argv[1]):3000, rounds=argc>2?atoi(argv[2]):200;
  struct rlimit rl={65536,65536}; setrlimit(RLIMIT_NOFILE,&rl);
  int sink=socket(AF_INET,SOCK_DGRAM,0); struct sockaddr_in a={0}; a.sin_family=AF_INET; a.sin_addr.s_addr=htonl(0x7f000001);
  bind(sink,(void*)&a,sizeof a); socklen_t l=sizeof a; getsockname(sink,(void*)&a,&l);
  int big=64<<20; setsockopt(sink,SOL_SOCKET,SO_RCVBUF,&big,sizeof big); fcntl(sink,F_SETFL,O_NONBLOCK);
  int *s=malloc(n*sizeof(int)); char pkt[172]; memset(pkt,0x55,sizeof pkt); char buf[2048];
  for(int mode=0;mode<2;mode++){
    for(int i=0;i<n;i++){ s[i]=socket(AF_INET,SOCK_DGRAM,0); struct sockaddr_in b={0}; b.sin_family=AF_INET; b.sin_addr.s_addr=htonl(0x7f000001); bind(s[i],(void*)&b,sizeof b); if(mode) connect(s[i],(void*)&a,sizeof a);}
    double send_ns=0; long sent=0;
    for(int r=0;r<rounds;r++){
      double t0=cpu();
      for(int i=0;i<n;i++){ if(mode) send(s[i],pkt,sizeof pkt,0); else sendto(s[i],pkt,sizeof pkt,0,(void*)&a,sizeof a); sent++; }
      send_ns+=cpu()-t0;
      while(recv(sink,buf,sizeof buf,0)>0){}
    }
    printf("%s: %.0f ns CPU per packet sent (%d sockets, %ld packets)\n", mode?"connected send":"sendto", send_ns/sent, n, sent);
    for(int i=0;i<n;i++) close(s[i]);
  }
  { // one shared socket, sendmmsg in batches of 64: what batching would give if every stream
    // could share one source port (they cannot: the SDP gives each session its own).
    int one=socket(AF_INET,SOCK_DGRAM,0); struct mmsghdr m[64]; struct iovec v[64];
    for(int k=0;k<64;k++){ v[k].iov_base=pkt; v[k].iov_len=sizeof pkt; memset(&m[k],0,sizeof m[k]); m[k].msg_hdr.msg_iov=&v[k]; m[k].msg_hdr.msg_iovlen=1; m[k].msg_hdr.msg_name=&a; m[k].msg_hdr.msg_namelen=sizeof a; }
    double send_ns=0; long sent=0;
    for(int r=0;r<rounds;r++){
      double t0=cpu();
      for(int i=0;i<n;i+=64){ int c=n-i<64?n-i:64; sent+=sendmmsg(one,m,c,0); }
      send_ns+=cpu()-t0;
      while(recv(sink,buf,sizeof buf,0)>0){}
    }
    printf("one socket, sendmmsg x64: %.0f ns CPU per packet sent (%ld packets)\n", send_ns/sent, sent);
  }
  return 0;
}
