/* Seeded random numbers (splitmix64: the same seed gives the same bits everywhere) and token sampling. */
#ifndef LLM_SAMPLE_H
#define LLM_SAMPLE_H

#include <stdint.h>

typedef struct {
  uint64_t state;
} Random;

void random_seed(Random *random, uint64_t seed);
uint64_t random_next(Random *random);
/* Uniform in [0, 1), 24 random bits. */
float random_float(Random *random);
/* Uniform in [0, bound). */
uint32_t random_below(Random *random, uint32_t bound);
/* Approximately normal (mean 0, deviation 1): the sum of 12 uniforms, minus 6. Exact and portable. */
float random_normal(Random *random);

/* A token drawn from softmax(logits / temperature); temperature 0 takes the highest (the lowest id on a tie). */
int sample_token(const float *logits, int vocab, float temperature, Random *random);

#endif
