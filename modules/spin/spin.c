/*
 * spin for WASI: busy work that takes time, deterministically. The first argument is how many million
 * rounds of a 64-bit linear congruential generator with an xor-shift to run; it prints the final value. The fault tests use
 * it for a job slow enough to kill a process in the middle of.
 *
 * No stdio: only write(), so the module stays small.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void put(const char *text) { write(1, text, strlen(text)); }

static void put_u64(unsigned long long value) {
  char digits[24];
  int at = sizeof digits;
  digits[--at] = '\0';
  do {
    digits[--at] = (char)('0' + value % 10);
    value /= 10;
  } while (value && at > 0);
  put(digits + at);
}

int main(int argc, char **argv) {
  unsigned long long millions = argc > 1 ? strtoull(argv[1], NULL, 10) : 1;
  unsigned long long state = 0x9E3779B97F4A7C15ull;
  for (unsigned long long round = 0; round < millions * 1000000ull; round++) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    state ^= state >> 29; /* no closed form, so the compiler cannot skip the rounds */
  }
  put("spun ");
  put_u64(millions);
  put(" million rounds: ");
  put_u64(state);
  put("\n");
  return 0;
}
