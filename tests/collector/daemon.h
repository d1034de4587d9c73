/* Test helper: runs the real callscope-collector binary on loopback with
 * ephemeral ports and a temporary data directory, reads the bound ports
 * from its log, and talks to it over TCP and UDP like a sender would. */
#ifndef CS_TEST_DAEMON_H
#define CS_TEST_DAEMON_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "wire.h"

typedef struct daemon {
  pid_t pid;
  int tcp_port, udp_port;
  char log_path[512];
} daemon_t;

/* Makes a fresh temporary directory (mkdtemp) into out. */
int tmpdir_make(char *out, size_t n);
/* rm -rf of a directory made by tmpdir_make. */
void tmpdir_remove(const char *dir);

/* Starts bin with --data-dir data_dir, ephemeral ports, the extra args
 * (NULL-terminated), stderr to log_path. Waits up to 10 s for both
 * "listening" lines. Returns 0 or -1. */
int daemon_start(daemon_t *d, const char *bin, const char *data_dir, const char *log_path,
                 const char *const *extra);
/* SIGTERM and wait (up to 20 s); returns the exit status or -1. */
int daemon_stop(daemon_t *d);
/* Waits up to timeout_ms for the process to exit; returns its exit status,
 * or -1 on timeout (the process is left running). */
int daemon_wait(daemon_t *d, int timeout_ms);
/* SIGKILL and reap. */
void daemon_kill9(daemon_t *d);
/* True while the process runs. */
int daemon_alive(daemon_t *d);
/* Counts occurrences of needle in the log. */
int daemon_log_count(const daemon_t *d, const char *needle);

int tcp_connect(int port);
int send_all(int fd, const void *p, size_t n);
/* Reads one ACK frame; waits up to timeout_ms. Returns 0, or -1 on
 * timeout/EOF/garbage (errno-free: tests only need "no ack"). */
int read_ack(int fd, int timeout_ms, uint64_t *seq, cs_ack *ack);
/* Waits for the peer to close: returns 1 on EOF/reset, 0 on timeout. */
int wait_closed(int fd, int timeout_ms);
int udp_socket(void);
int udp_send(int fd, int port, const void *p, size_t n);

#endif
