#include "sample.h"

#include <math.h>

void random_seed(Random *random, uint64_t seed) { random->state = seed; }

uint64_t random_next(Random *random) {
  uint64_t z = (random->state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

float random_float(Random *random) { return (float)(random_next(random) >> 40) * (1.0f / 16777216.0f); }

uint32_t random_below(Random *random, uint32_t bound) { return (uint32_t)((random_next(random) >> 32) * bound >> 32); }

float random_normal(Random *random) {
  float sum = 0.0f;
  for (int i = 0; i < 12; i++) sum += random_float(random);
  return sum - 6.0f;
}

int sample_token(const float *logits, int vocab, float temperature, Random *random) {
  int best = 0;
  for (int i = 1; i < vocab; i++)
    if (logits[i] > logits[best]) best = i;
  if (temperature <= 0.0f) return best;
  float max = logits[best], sum = 0.0f;
  for (int i = 0; i < vocab; i++) sum += expf((logits[i] - max) / temperature);
  float target = random_float(random) * sum, running = 0.0f;
  int last_possible = best;
  for (int i = 0; i < vocab; i++) {
    float weight = expf((logits[i] - max) / temperature);
    if (weight <= 0.0f) continue;
    running += weight;
    last_possible = i;
    if (target < running) return i;
  }
  return last_possible; /* rounding left the draw past the running sum */
}
