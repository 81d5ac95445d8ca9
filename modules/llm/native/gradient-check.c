/*
 * Checks the LoRA backward pass (modules/llm/src/lora-train.c) against central finite differences, natively
 * (scripts/build-llm-native.sh builds it):  gradient-check WEIGHTS.safetensors
 * Every adapter tensor gets a non-zero B so that both A's and B's gradients are exercised. Prints the worst
 * relative error among the sampled parameters and exits 1 when it is above 2%. The float32 loss moves in
 * steps of about 5e-7, so a numeric gradient is only good to about 1e-4: the error's denominator has a floor
 * of 1e-2 that keeps such tiny gradients from reading as wrong.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../src/common.h"
#include "../src/lora-train.h"
#include "../src/tokenizer.h"

int main(int argc, char **argv) {
  program_name = "gradient-check";
  if (argc < 2) die("usage: gradient-check WEIGHTS.safetensors");
  Model model;
  model_load(&model, argv[1]);
  tokenizer_init();
  const char *text = "The quick brown fox jumps over the lazy dog, and then it rests.";
  size_t count;
  int *tokens = tokenizer_encode((const unsigned char *)text, strlen(text), &count);
  int length = count < 12 ? (int)count : 12, rank = 3;
  Random random;
  random_seed(&random, 7);
  Adapter adapter, gradients;
  lora_init(&adapter, rank, &random);
  for (int l = 0; l < MODEL_LAYERS; l++)
    for (int t = 0; t < LORA_TARGETS; t++)
      for (int i = 0; i < rank * MODEL_DIM; i++) adapter.b[l][t][i] = random_normal(&random) * 0.05f;
  lora_alloc(&gradients, rank);
  LoraWorkspace *work = lora_workspace(length, rank);
  lora_window_loss(&model, &adapter, work, tokens, length, &gradients, 1.0f);

  double worst = 0.0;
  int checked = 0;
  const float step = 1e-2f;
  for (int l = 0; l < MODEL_LAYERS; l++)
    for (int t = 0; t < LORA_TARGETS; t++)
      for (int which = 0; which < 2; which++) {
        float *parameters = which ? adapter.b[l][t] : adapter.a[l][t], *analytic = which ? gradients.b[l][t] : gradients.a[l][t];
        for (int sample = 0; sample < 6; sample++) {
          int i = (int)random_below(&random, (uint32_t)(rank * MODEL_DIM));
          float saved = parameters[i];
          parameters[i] = saved + step;
          double up = lora_window_loss(&model, &adapter, work, tokens, length, NULL, 0.0f);
          parameters[i] = saved - step;
          double down = lora_window_loss(&model, &adapter, work, tokens, length, NULL, 0.0f);
          parameters[i] = saved;
          double numeric = (up - down) / (2.0 * step), error = fabs(numeric - analytic[i]) / (fabs(numeric) + fabs(analytic[i]) + 1e-2);
          if (error > worst) worst = error;
          checked++;
          printf("layers.%d.%s.lora_%c[%d] analytic %+.6e numeric %+.6e relative error %.4f\n", l, lora_target_names[t], which ? 'b' : 'a', i,
                 analytic[i], numeric, error);
        }
      }
  printf("%d parameters checked, worst relative error %.4f\n", checked, worst);
  return worst > 0.02 ? 1 : 0;
}
