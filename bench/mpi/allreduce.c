/* The baseline of bench/mpi/allreduce.ts: a float32 buffer summed over the ranks from plain C,
   by MPI_Allreduce and by MPI_Iallreduce + MPI_Wait (what theano-ts calls).
   mpicc -O2 bench/mpi/allreduce.c -o /tmp/mpi_allreduce && mpirun -np 2 /tmp/mpi_allreduce [MB] [runs] */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  int rank, size;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  double mb = argc > 1 ? atof(argv[1]) : 100;
  int runs = argc > 2 ? atoi(argv[2]) : 10;
  size_t n = (size_t)(mb * 1e6 / 4);
  float *x = malloc(n * 4), *y = malloc(n * 4);
  for (size_t i = 0; i < n; i++) x[i] = (float)(i % 1000) * 0.001f + rank;
  double *t = malloc(sizeof(double) * runs);
  for (int nb = 0; nb < 2; nb++) { /* blocking MPI_Allreduce, then MPI_Iallreduce + MPI_Wait */
    for (int r = -2; r < runs; r++) { /* two warm-ups */
      MPI_Barrier(MPI_COMM_WORLD);
      double t0 = MPI_Wtime();
      if (nb) {
        MPI_Request req;
        MPI_Iallreduce(x, y, (int)n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, &req);
        MPI_Wait(&req, MPI_STATUS_IGNORE);
      } else {
        MPI_Allreduce(x, y, (int)n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
      }
      if (r >= 0) t[r] = MPI_Wtime() - t0;
    }
    qsort(t, runs, sizeof(double), cmp);
    if (rank == 0) printf("C %-27s %d processes, %.0f MB float32: median %.1f ms, %.2f GB/s (buffer bytes / time)\n", nb ? "MPI_Iallreduce+MPI_Wait" : "MPI_Allreduce", size, mb, t[runs / 2] * 1e3, mb / 1e3 / t[runs / 2]);
  }
  MPI_Finalize();
  return 0;
}
