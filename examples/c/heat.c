/*
 * heat.c: a 1-D heat equation that checkpoints itself to state.bin, for `ckpt run --capture`.
 *
 *   make -C examples/c
 *   ckpt run --capture state.bin --settle 0.5s -- ./examples/c/heat [STEPS [CELLS [EVERY]]]
 *   ckpt run --every 10m --capture state.bin -- ./heat 90000000 100000 9000000   # hours; also on request
 *
 * It writes its whole state to state.bin every EVERY steps and when the checkpoint signal
 * (SIGUSR2, ckpt's default) arrives, atomically: state.bin.tmp, fsync, rename, fsync of the
 * directory. So state.bin is always complete, and ckpt captures it into the store once it has
 * stayed unchanged for --settle (2 s by default; write less often than that) and when the
 * program exits 0. After a crash ckpt puts the newest captured state.bin back (setting aside the
 * one the program left) and sets CKPT_RESTORE; the program resumes from it.
 * It ends with the same numbers however often it was killed. It exits 0 only when done.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t checkpoint_requested = 0;

static void on_checkpoint_signal(int sig) {
  (void)sig;
  checkpoint_requested = 1;
}

struct header {
  char magic[8]; /* "HEAT1\0\0\0" */
  uint64_t step;
  uint64_t cells;
  uint64_t checksum; /* FNV-1a 64 of step and the field */
};

static uint64_t fnv1a(uint64_t h, const void *data, size_t n) {
  const unsigned char *p = data;
  for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ULL;
  return h;
}

static uint64_t checksum(uint64_t step, const double *u, uint64_t cells) {
  return fnv1a(fnv1a(0xcbf29ce484222325ULL, &step, sizeof step), u, cells * sizeof *u);
}

static void die(const char *what, const char *path) {
  fprintf(stderr, "heat: %s %s: %s\n", what, path, strerror(errno));
  exit(1); /* not 0: ckpt restarts the program */
}

static void write_all(int fd, const void *data, size_t n, const char *path) {
  const char *p = data;
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) die("cannot write", path);
    p += w;
    n -= (size_t)w;
  }
}

/* tmp file, write, fsync, rename, fsync(dir): readers see the old state.bin or the new one. */
static void save(uint64_t step, const double *u, uint64_t cells) {
  struct header h = {"HEAT1", step, cells, checksum(step, u, cells)};
  int fd = open("state.bin.tmp", O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) die("cannot create", "state.bin.tmp");
  write_all(fd, &h, sizeof h, "state.bin.tmp");
  write_all(fd, u, cells * sizeof *u, "state.bin.tmp");
  if (fsync(fd) != 0) die("cannot fsync", "state.bin.tmp");
  close(fd);
  if (rename("state.bin.tmp", "state.bin") != 0) die("cannot rename to", "state.bin");
  int dir = open(".", O_RDONLY);
  if (dir >= 0) {
    fsync(dir);
    close(dir);
  }
  printf("heat: step %llu written to state.bin\n", (unsigned long long)step);
}

/* Reads $CKPT_RESTORE/state.bin into u; returns its step. Refuses a file that does not fit. */
static uint64_t restore(const char *dir, double *u, uint64_t cells) {
  char path[4096];
  snprintf(path, sizeof path, "%s/state.bin", dir);
  FILE *f = fopen(path, "rb");
  if (!f) die("cannot open", path);
  struct header h;
  if (fread(&h, sizeof h, 1, f) != 1 || memcmp(h.magic, "HEAT1", 6) != 0) {
    fprintf(stderr, "heat: %s is not a heat.c state file\n", path);
    exit(1);
  }
  if (h.cells != cells) {
    fprintf(stderr, "heat: %s holds %llu cells, this run has %llu: pass the same CELLS\n", path,
            (unsigned long long)h.cells, (unsigned long long)cells);
    exit(2);
  }
  if (fread(u, sizeof *u, cells, f) != cells || checksum(h.step, u, cells) != h.checksum) {
    fprintf(stderr, "heat: %s is damaged (short or checksum mismatch)\n", path);
    exit(1);
  }
  fclose(f);
  return h.step;
}

int main(int argc, char **argv) {
  uint64_t steps = argc > 1 ? strtoull(argv[1], NULL, 10) : 60000;
  uint64_t cells = argc > 2 ? strtoull(argv[2], NULL, 10) : 100000;
  uint64_t every = argc > 3 ? strtoull(argv[3], NULL, 10) : 20000;
  if (cells < 3 || every < 1) {
    fprintf(stderr, "usage: heat [STEPS [CELLS>=3 [EVERY>=1]]]\n");
    return 2;
  }
  setvbuf(stdout, NULL, _IOLBF, 0);

  /* First thing: ckpt sends its checkpoint signal only to processes that handle it. */
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_checkpoint_signal;
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGUSR2, &sa, NULL);
  const char *want = getenv("CKPT_SIGNAL");
  if (want && strcmp(want, "SIGUSR2") != 0)
    fprintf(stderr, "heat: CKPT_SIGNAL is %s, but heat listens for SIGUSR2 (ckpt run --signal SIGUSR2)\n", want);

  double *u = malloc(cells * sizeof *u), *next = malloc(cells * sizeof *u);
  if (!u || !next) {
    fprintf(stderr, "heat: out of memory for %llu cells\n", (unsigned long long)cells);
    return 1;
  }
  uint64_t step = 0;
  const char *restore_dir = getenv("CKPT_RESTORE");
  if (restore_dir && *restore_dir) {
    step = restore(restore_dir, u, cells);
    printf("heat: pid %d, resumed at step %llu (restart %s)\n", (int)getpid(),
           (unsigned long long)step, getenv("CKPT_RESTARTS") ? getenv("CKPT_RESTARTS") : "?");
  } else {
    for (uint64_t i = 0; i < cells; i++) /* a hot band in the middle, a warm ramp on the left */
      u[i] = (i > cells / 3 && i < cells / 2 ? 100.0 : 0.0) + (i < cells / 4 ? (double)i / cells : 0.0);
    printf("heat: pid %d, fresh start (%llu cells, %llu steps)\n", (int)getpid(),
           (unsigned long long)cells, (unsigned long long)steps);
  }

  const double alpha = 0.25; /* stable for alpha <= 0.5 */
  while (step < steps) {
    next[0] = u[0];
    next[cells - 1] = u[cells - 1];
    for (uint64_t i = 1; i < cells - 1; i++) next[i] = u[i] + alpha * (u[i - 1] - 2 * u[i] + u[i + 1]);
    double *t = u;
    u = next;
    next = t;
    step++;
    if (step % every == 0 || checkpoint_requested) {
      checkpoint_requested = 0;
      save(step, u, cells);
    }
  }
  printf("result: step=%llu checksum=%016llx u[mid]=%.17g\n", (unsigned long long)step,
         (unsigned long long)checksum(step, u, cells), u[cells / 2]);
  free(u);
  free(next);
  return 0;
}
