/* A stand-in for the python executable, for threadlab's tests: it needs
 * libpython through DT_NEEDED. With an argument it sleeps that many seconds
 * (a process to attach to); with a second argument `threads` it also runs
 * two named threads for that long, one always on a CPU ("spinner") and one
 * almost always asleep ("napper", a name it takes 0.3 s after it starts):
 * what a free-threaded build's states-only trace must tell apart. The
 * spinner prints its share of wall time on a CPU at the end
 * (`spinner_cpu_pct N`): what its native share must match. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

void Py_Initialize(void);

static volatile int stop;

static double seconds_of(clockid_t clock) {
    struct timespec now;
    clock_gettime(clock, &now);
    return (double)now.tv_sec + (double)now.tv_nsec / 1e9;
}

static void *spin(void *arg) {
    (void)arg;
    pthread_setname_np(pthread_self(), "spinner");
    double wall = seconds_of(CLOCK_MONOTONIC);
    double cpu = seconds_of(CLOCK_THREAD_CPUTIME_ID);
    while (!stop) {
    }
    wall = seconds_of(CLOCK_MONOTONIC) - wall;
    cpu = seconds_of(CLOCK_THREAD_CPUTIME_ID) - cpu;
    printf("spinner_cpu_pct %.1f\n", wall > 0 ? 100.0 * cpu / wall : 0.0);
    fflush(stdout);
    return 0;
}

static void *nap(void *arg) {
    (void)arg;
    /* Named only after a while, as CPython 3.14 names a thread's OS thread
     * from Python once it runs: the tracer has seen it by then under the
     * process's name, and must pick up the new one. */
    usleep(300000);
    pthread_setname_np(pthread_self(), "napper");
    while (!stop) {
        usleep(20000);
    }
    return 0;
}

int main(int argc, char **argv) {
    Py_Initialize();
    unsigned seconds = argc > 1 ? (unsigned)atoi(argv[1]) : 0;
    if (argc > 2 && strcmp(argv[2], "threads") == 0) {
        pthread_t spinner, napper;
        pthread_create(&spinner, 0, spin, 0);
        pthread_create(&napper, 0, nap, 0);
        sleep(seconds);
        stop = 1;
        pthread_join(spinner, 0);
        pthread_join(napper, 0);
        return 0;
    }
    if (seconds) {
        sleep(seconds);
    }
    return 0;
}
