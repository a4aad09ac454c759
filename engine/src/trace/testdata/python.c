/* A stand-in for the python executable, for threadlab's tests: it needs
 * libpython through DT_NEEDED; with an argument it sleeps that many seconds
 * (a process to attach to). */
#include <stdlib.h>
#include <unistd.h>

void Py_Initialize(void);

int main(int argc, char **argv) {
    Py_Initialize();
    if (argc > 1) {
        sleep((unsigned)atoi(argv[1]));
    }
    return 0;
}
