#include "generate.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "lora.h"
#include "model.h"
#include "sample.h"
#include "tokenizer.h"

typedef struct {
  const char *prompt, *seed, *max_tokens, *temperature;
  const char *weights, *weights_cid, *lora, *outputs;
  int print_logits, print_tokens;
} Arguments;

/* Arguments come in pairs (--name value) from the module's template; --logits and --tokens are for tests:
 * they print the prompt's token ids and the next token's logits, or the ids and their decoding, as JSON. */
static Arguments parse_arguments(int argc, char **argv) {
  Arguments args = {NULL, "42", "64", "0.5", "/inputs/weights/model.safetensors", NULL, "/inputs/lora", "/outputs", 0, 0};
  for (int i = 1; i < argc; i++) {
    const char *name = argv[i];
    if (strcmp(name, "--logits") == 0) { args.print_logits = 1; continue; }
    if (strcmp(name, "--tokens") == 0) { args.print_tokens = 1; continue; }
    if (i + 1 >= argc) die("argument %s has no value", name);
    const char *value = argv[++i];
    if (strcmp(name, "--prompt") == 0) args.prompt = value;
    else if (strcmp(name, "--seed") == 0) args.seed = value;
    else if (strcmp(name, "--max-tokens") == 0) args.max_tokens = value;
    else if (strcmp(name, "--temperature") == 0) args.temperature = value;
    else if (strcmp(name, "--weights") == 0) args.weights = value;
    else if (strcmp(name, "--weights-cid") == 0) args.weights_cid = value;
    else if (strcmp(name, "--lora") == 0) args.lora = value;
    else if (strcmp(name, "--outputs") == 0) args.outputs = value;
    else die("unknown argument %s", name);
  }
  if (!args.prompt) die("no prompt: pass -i Prompt=TEXT");
  return args;
}

static void print_token_ids(FILE *out, const int *ids, size_t count) {
  fputc('[', out);
  for (size_t i = 0; i < count; i++) fprintf(out, i ? ",%d" : "%d", ids[i]);
  fputc(']', out);
}

/* Feeds `count` tokens from position 0 into an emptied cache; the last one's logits into `logits`. */
static void prime(const Model *model, KvCache *cache, const int *tokens, int count, float *logits) {
  for (int i = 0; i < count; i++) model_forward(model, cache, tokens[i], i, i == count - 1 ? logits : NULL);
}

int generate_main(int argc, char **argv, int with_adapter) {
  Arguments args = parse_arguments(argc, argv);
  uint64_t seed, max_tokens;
  double temperature;
  if (!parse_u64(args.seed, &seed)) die("Seed must be a whole number from 0 to 18446744073709551615, not \"%s\"", args.seed);
  if (!parse_u64(args.max_tokens, &max_tokens) || max_tokens < 1 || max_tokens > GENERATE_MAX_TOKENS)
    die("MaxTokens must be a whole number from 1 to %d, not \"%s\"", GENERATE_MAX_TOKENS, args.max_tokens);
  if (!parse_float(args.temperature, &temperature) || temperature < 0.0 || temperature > 2.0)
    die("Temperature must be a number from 0 to 2, not \"%s\"", args.temperature);

  tokenizer_init();
  size_t prompt_length = strlen(args.prompt), total_tokens;
  int *prompt_tokens = tokenizer_encode((const unsigned char *)args.prompt, prompt_length, &total_tokens);
  if (args.print_tokens) {
    size_t length;
    unsigned char *decoded = tokenizer_decode(prompt_tokens, total_tokens, &length);
    printf("{\"ids\":");
    print_token_ids(stdout, prompt_tokens, total_tokens);
    printf(",\"decoded\":");
    write_json_string(stdout, decoded, length);
    printf("}\n");
    return 0;
  }
  if (total_tokens == 0) die("the prompt is empty: give some text with -i Prompt=TEXT");
  if (!args.weights_cid) die("no weights CID given (--weights-cid)");

  Model model;
  model_load(&model, args.weights);
  if (with_adapter) {
    Adapter adapter;
    lora_load(&adapter, lora_find(args.lora), args.weights_cid);
    lora_merge(&model, &adapter);
  }

  /* The context holds MODEL_CONTEXT tokens: a longer prompt keeps its end, which the continuation follows. */
  size_t used = total_tokens < MODEL_CONTEXT ? total_tokens : MODEL_CONTEXT;
  if (used < total_tokens)
    fprintf(stderr, "%s: the prompt is %zu tokens long and the context holds %d, so it was truncated to its last %zu tokens\n",
            program_name, total_tokens, MODEL_CONTEXT, used);
  const int *prompt = prompt_tokens + (total_tokens - used);

  KvCache *cache = xmalloc(sizeof *cache);
  float logits[MODEL_VOCAB];
  prime(&model, cache, prompt, (int)used, logits);
  if (args.print_logits) {
    printf("{\"ids\":");
    print_token_ids(stdout, prompt, used);
    printf(",\"logits\":[");
    for (int i = 0; i < MODEL_VOCAB; i++) printf(i ? ",%.9g" : "%.9g", logits[i]);
    printf("]}\n");
    return 0;
  }

  /* Every token so far, so that a full context can slide: it restarts from the last half. */
  int *sequence = xmalloc((used + max_tokens) * sizeof *sequence);
  memcpy(sequence, prompt, used * sizeof *sequence);
  size_t length = used;
  int position = (int)used;
  Random random;
  random_seed(&random, seed);
  for (uint64_t step = 0; step < max_tokens; step++) {
    int token = sample_token(logits, MODEL_VOCAB, (float)temperature, &random);
    sequence[length++] = token;
    size_t bytes_length;
    const unsigned char *bytes = tokenizer_token_bytes(token, &bytes_length);
    fwrite(bytes, 1, bytes_length, stdout);
    fflush(stdout); /* each token as it comes: the provider streams stdout to the job creator while the job runs */
    if (step + 1 == max_tokens) break;
    if (position < MODEL_CONTEXT) {
      model_forward(&model, cache, token, position++, logits);
    } else {
      int keep = MODEL_CONTEXT / 2;
      prime(&model, cache, sequence + length - keep, keep, logits);
      position = keep;
    }
  }
  fflush(stdout);

  size_t completion_length;
  unsigned char *completion = tokenizer_decode(sequence + used, max_tokens, &completion_length);
  char path[1024];
  snprintf(path, sizeof path, "%s/completion.json", args.outputs);
  FILE *out = fopen(path, "w");
  if (!out) die("cannot write %s: %s", path, strerror(errno));
  fprintf(out, "{\n  \"prompt\": ");
  write_json_string(out, (const unsigned char *)args.prompt, prompt_length);
  fprintf(out, ",\n  \"completion\": ");
  write_json_string(out, completion, completion_length);
  fprintf(out, ",\n  \"tokens\": {\"prompt\": %zu, \"prompt_used\": %zu, \"completion\": %llu},\n", total_tokens, used,
          (unsigned long long)max_tokens);
  fprintf(out, "  \"seed\": %llu,\n  \"temperature\": %g,\n  \"weights\": ", (unsigned long long)seed, temperature);
  write_json_string(out, (const unsigned char *)args.weights_cid, strlen(args.weights_cid));
  fprintf(out, "\n}\n");
  if (fclose(out) != 0) die("cannot write %s: %s", path, strerror(errno));
  return 0;
}
