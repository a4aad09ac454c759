/* A stand-in for libpythonX.Y.so, for threadlab's tests: only the symbols
 * its interpreter classifier reads. -D switches: FREE_SYMBOLS (the
 * biased-refcount exports of a free-threaded build), FREE_TEXT (its version
 * text), NO_TAKE_GIL (take_gil inlined away). */
const unsigned long Py_Version = 0x030D00F0;
#ifdef FREE_TEXT
static const char version[] = "3.13.0 experimental free-threading build (main) [GCC]";
#else
static const char version[] = "3.13.0 (main) [GCC]";
#endif
const char *Py_GetVersion(void) { return version; }

static volatile int gil_locked;
#ifndef NO_TAKE_GIL
__attribute__((noinline, used)) static void take_gil(void) { gil_locked = 1; }
#endif
__attribute__((noinline, used)) static void drop_gil(void) { gil_locked = 0; }

void Py_Initialize(void) {
#ifndef NO_TAKE_GIL
    take_gil();
#else
    gil_locked = 1;
#endif
    drop_gil();
}

#ifdef FREE_SYMBOLS
void _Py_MergeZeroLocalRefcount(void *op) { (void)op; }
void _Py_DecRefShared(void *op) { (void)op; }
#endif
