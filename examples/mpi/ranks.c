/*
 * An MPI program whose every rank holds its own share of the state, checkpointed with ckpt as
 * one multi-rank checkpoint: each rank writes state-<rank>.bin and runs
 * `ckpt commit --step S --rank R --ranks N state-<rank>.bin`; a checkpoint exists only when all
 * ranks' parts are in it.
 *
 *   mpicc -O2 -o ranks ranks.c -lm
 *   ckpt run -- mpirun -np 2 ./ranks --steps 400 --every 50
 *
 * Each step moves every value by a chaotic map (the logistic map, a rate of its own per value)
 * nudged by the mean over all ranks (MPI_Allreduce), so every rank's state depends on every
 * other's and any difference grows: resuming one rank from one step and another from another, or
 * from a torn file, gives a different result. A checkpoint is taken every
 * --every steps, and at the next step after ckpt's checkpoint signal (SIGUSR2) reached any rank:
 * the ranks agree on it with an MPI_Allreduce, so all commit the same step. A SIGTERM to any
 * rank (SLURM's preemption signals every process of the job) makes all ranks checkpoint and stop
 * with exit 143. At start, a rank resumes from its state-<rank>.bin if there is one (ckpt run
 * restores them), after checking with the others that they all resume from the same step. At the
 * end rank 0 writes result.txt.
 */
#include <math.h>
#include <mpi.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define VALUES 4096

static volatile sig_atomic_t asked = 0, stopping = 0;
static void on_usr2(int sig) { (void)sig; asked = 1; }
static void on_term(int sig) { (void)sig; stopping = 1; }

struct state {
  long step;
  double values[VALUES];
};

static int save(const struct state *s, int rank, int ranks, const char *ckpt) {
  char name[64], tmp[80], command[1024];
  snprintf(name, sizeof name, "state-%d.bin", rank);
  snprintf(tmp, sizeof tmp, "%s.tmp", name);
  FILE *f = fopen(tmp, "wb");
  if (!f || fwrite(s, sizeof *s, 1, f) != 1 || fflush(f) != 0 || fsync(fileno(f)) != 0 || fclose(f) != 0)
    return -1;
  if (rename(tmp, name) != 0) return -1;
  snprintf(command, sizeof command, "%s commit --step %ld --rank %d --ranks %d %s >/dev/null", ckpt, s->step,
           rank, ranks, name);
  // A job that stops signals every process: a commit just started may die of that signal before
  // it can hold it (ckpt commit finishes once it runs). Commit again then; the round is the same.
  for (int attempt = 0; attempt < 3; attempt++) {
    int status = system(command);
    if (status == -1) return -1;
    int by_signal = WIFSIGNALED(status) || (WIFEXITED(status) && WEXITSTATUS(status) > 128);
    if (!by_signal) return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
  }
  return -1;
}

static int load(struct state *s, int rank) {
  char name[64];
  snprintf(name, sizeof name, "state-%d.bin", rank);
  FILE *f = fopen(name, "rb");
  if (!f) return 0;
  int ok = fread(s, sizeof *s, 1, f) == 1;
  fclose(f);
  return ok;
}

int main(int argc, char **argv) {
  long steps = 400, every = 50;
  double step_ms = 5;
  const char *ckpt = getenv("CKPT_BIN") ? getenv("CKPT_BIN") : "ckpt";
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--steps")) steps = atol(argv[i + 1]);
    else if (!strcmp(argv[i], "--every")) every = atol(argv[i + 1]);
    else if (!strcmp(argv[i], "--step-ms")) step_ms = atof(argv[i + 1]);
  }
  MPI_Init(&argc, &argv);
  int rank, ranks;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &ranks);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_usr2;
  sigaction(SIGUSR2, &sa, NULL);
  sa.sa_handler = on_term;
  sigaction(SIGTERM, &sa, NULL);

  struct state s;
  int resumed = load(&s, rank);
  if (!resumed) {
    s.step = 0;
    for (int i = 0; i < VALUES; i++) s.values[i] = 0.1 + 0.8 * fabs(sin(1.0 + i + 1000.0 * rank));
  }
  long lo = resumed ? s.step : -1, hi = lo;
  MPI_Allreduce(MPI_IN_PLACE, &lo, 1, MPI_LONG, MPI_MIN, MPI_COMM_WORLD);
  MPI_Allreduce(MPI_IN_PLACE, &hi, 1, MPI_LONG, MPI_MAX, MPI_COMM_WORLD);
  if (lo != hi) {
    if (rank == 0) fprintf(stderr, "ranks resume from different steps (%ld and %ld)\n", lo, hi);
    MPI_Abort(MPI_COMM_WORLD, 3);
  }
  if (rank == 0) {
    FILE *log = fopen("starts.txt", "a");
    if (log) fprintf(log, "%ld\n", s.step), fclose(log);
  }

  struct timespec pause = {0, (long)(step_ms * 1e6)};
  while (s.step < steps) {
    double local = 0, total = 0;
    for (int i = 0; i < VALUES; i++) local += s.values[i];
    MPI_Allreduce(&local, &total, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
    double mean = total / ((double)VALUES * ranks);
    for (int i = 0; i < VALUES; i++) {
      double rate = 3.7 + 0.29 * (double)((i * 7919 + rank * 104729) % 1000) / 1000.0;
      double x = s.values[i];
      s.values[i] = 0.999 * rate * x * (1 - x) + 0.001 * mean;
    }
    s.step++;
    nanosleep(&pause, NULL);
    int want = (asked || s.step % every == 0) | (stopping ? 2 : 0);
    MPI_Allreduce(MPI_IN_PLACE, &want, 1, MPI_INT, MPI_BOR, MPI_COMM_WORLD);
    if (want && s.step < steps) {
      asked = 0;
      if (save(&s, rank, ranks, ckpt) != 0) {
        fprintf(stderr, "rank %d: checkpoint at step %ld failed\n", rank, s.step);
        MPI_Abort(MPI_COMM_WORLD, 4);
      }
    }
    if ((want & 2) && s.step < steps) {
      // A SIGTERM reached a rank (SLURM signals every process of a preempted job): all ranks
      // have just checkpointed this step; stop, and not with exit 0 (the work is not done).
      MPI_Finalize();
      return 143;
    }
  }
  double local = 0, total = 0;
  for (int i = 0; i < VALUES; i++) local += s.values[i];
  MPI_Reduce(&local, &total, 1, MPI_DOUBLE, MPI_SUM, 0, MPI_COMM_WORLD);
  if (rank == 0) {
    FILE *out = fopen("result.txt", "w");
    fprintf(out, "%.17g\n", total);
    fclose(out);
  }
  MPI_Finalize();
  return 0;
}
