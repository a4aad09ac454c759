/* Stand-in GIL functions for threadlab's disassembly tests: take_gil and
 * drop_gil shaped as CPython's (pthread calls only they make), reached from
 * exported PyEval_RestoreThread/PyEval_SaveThread. -D switches break one
 * shape each: NO_MUTEX (take_gil without pthread_mutex_lock),
 * TAKE_INLINED (take_gil inlined into PyEval_RestoreThread), DROP_CALLS_MORE
 * (drop_gil calls an unrelated function). */
#include <pthread.h>
#include <time.h>
#include <unistd.h>

static pthread_mutex_t mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static pthread_cond_t switch_cond = PTHREAD_COND_INITIALIZER;
static volatile int locked, drop_request;

#ifdef TAKE_INLINED
#define TAKE static inline __attribute__((always_inline))
#else
#define TAKE static __attribute__((noinline))
#endif

TAKE void take_gil(void) {
#ifndef NO_MUTEX
    pthread_mutex_lock(&mutex);
#endif
    while (locked) {
        struct timespec deadline;
        clock_gettime(CLOCK_MONOTONIC, &deadline);
        deadline.tv_nsec += 5000000;
        pthread_cond_timedwait(&cond, &mutex, &deadline);
    }
    locked = 1;
    pthread_cond_signal(&switch_cond);
    pthread_mutex_unlock(&mutex);
}

static __attribute__((noinline)) void drop_gil(void) {
    pthread_mutex_lock(&mutex);
    locked = 0;
    pthread_cond_signal(&cond);
    pthread_mutex_unlock(&mutex);
#ifdef DROP_CALLS_MORE
    getpid();
#endif
    if (drop_request) {
        pthread_mutex_lock(&mutex);
        pthread_cond_wait(&switch_cond, &mutex);
        pthread_mutex_unlock(&mutex);
    }
}

void *PyEval_SaveThread(void) {
    drop_gil();
    return (void *)&locked;
}

void PyEval_RestoreThread(void *state) {
    take_gil();
    locked = state != 0;
}

void Py_Initialize(void) { take_gil(); }
