/*
 * lora-training:v1 for WASI: trains a LoRA adapter (FORMAT.md: wq and wv of every layer) on a text dataset,
 * deterministically: windows of the dataset's tokens drawn by a PRNG seeded with Seed, Adam on the adapter
 * only, the base weights (an input by CID) frozen. Writes outputs/lora.safetensors, outputs/loss.csv and
 * outputs/loss.svg. The model, tokenizer and gradients are in modules/llm/src/.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../llm/src/common.h"
#include "../llm/src/lora-train.h"
#include "../llm/src/tokenizer.h"

#define MAX_STEPS 500
#define WINDOW_TOKENS 64 /* short windows keep a step well under a second in WebAssembly */
#define BATCH_WINDOWS 2
#define MAX_DATASET_BYTES (4u << 20) /* tokenizing takes about 36 bytes of memory a byte */

typedef struct {
  unsigned char *bytes;
  size_t length, capacity;
} Buffer;

static void append(Buffer *buffer, const unsigned char *bytes, size_t length) {
  if (buffer->length + length > MAX_DATASET_BYTES) die("the dataset is larger than %u MB, the most this module trains on", MAX_DATASET_BYTES >> 20);
  if (buffer->length + length > buffer->capacity) {
    buffer->capacity = (buffer->length + length) * 2;
    buffer->bytes = realloc(buffer->bytes, buffer->capacity);
    if (!buffer->bytes) die("out of memory reading the dataset");
  }
  memcpy(buffer->bytes + buffer->length, bytes, length);
  buffer->length += length;
}

static int compare_names(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int ends_with_txt(const char *name) {
  size_t length = strlen(name);
  return length > 4 && strcmp(name + length - 4, ".txt") == 0;
}

/* The .txt files under `path` in name order (so every machine reads them the same way), one after another. */
static void read_dataset(Buffer *buffer, const char *path, int depth) {
  struct stat info;
  if (stat(path, &info) != 0) die("there is no dataset at %s: pass -i DatasetCID=CID of a .txt file or a folder of them", path);
  if (S_ISREG(info.st_mode)) {
    size_t length;
    unsigned char *bytes = read_whole_file(path, &length);
    if (!bytes) die("cannot read %s: %s", path, strerror(errno));
    if (buffer->length && length) append(buffer, (const unsigned char *)"\n", 1);
    append(buffer, bytes, length);
    free(bytes);
    return;
  }
  if (!S_ISDIR(info.st_mode) || depth > 16) return;
  DIR *dir = opendir(path);
  if (!dir) die("cannot read the folder %s: %s", path, strerror(errno));
  char **names = NULL;
  size_t count = 0;
  for (struct dirent *entry; (entry = readdir(dir));) {
    if (entry->d_name[0] == '.') continue;
    names = realloc(names, (count + 1) * sizeof *names);
    if (!names) die("out of memory");
    names[count++] = strdup(entry->d_name);
  }
  closedir(dir);
  qsort(names, count, sizeof *names, compare_names);
  for (size_t i = 0; i < count; i++) {
    char child[4096];
    snprintf(child, sizeof child, "%s/%s", path, names[i]);
    struct stat child_info;
    if (stat(child, &child_info) == 0 && (S_ISDIR(child_info.st_mode) || ends_with_txt(names[i]))) read_dataset(buffer, child, depth + 1);
    free(names[i]);
  }
  free(names);
}

/* A line plot of the loss by step, with labelled axes, in plain SVG. */
static void write_loss_svg(const char *path, const float *losses, int steps) {
  FILE *out = fopen(path, "w");
  if (!out) die("cannot write %s: %s", path, strerror(errno));
  const double width = 480, height = 300, left = 60, right = 20, top = 30, bottom = 50;
  float low = losses[0], high = losses[0];
  for (int i = 1; i < steps; i++) {
    if (losses[i] < low) low = losses[i];
    if (losses[i] > high) high = losses[i];
  }
  if (high - low < 1e-6f) high = low + 1.0f;
  const double plot_width = width - left - right, plot_height = height - top - bottom;
  fprintf(out, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" font-family=\"sans-serif\" font-size=\"12\">\n",
          width, height, width, height);
  fprintf(out, "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n");
  fprintf(out, "<text x=\"%.0f\" y=\"18\" text-anchor=\"middle\" font-size=\"14\">Training loss (cross-entropy per token)</text>\n", width / 2);
  fprintf(out, "<line x1=\"%.0f\" y1=\"%.0f\" x2=\"%.0f\" y2=\"%.0f\" stroke=\"black\"/>\n", left, top, left, top + plot_height);
  fprintf(out, "<line x1=\"%.0f\" y1=\"%.0f\" x2=\"%.0f\" y2=\"%.0f\" stroke=\"black\"/>\n", left, top + plot_height, left + plot_width, top + plot_height);
  fprintf(out, "<text x=\"%.0f\" y=\"%.0f\" text-anchor=\"end\">%.3f</text>\n", left - 6, top + 4, high);
  fprintf(out, "<text x=\"%.0f\" y=\"%.0f\" text-anchor=\"end\">%.3f</text>\n", left - 6, top + plot_height + 4, low);
  fprintf(out, "<text x=\"%.0f\" y=\"%.0f\" text-anchor=\"middle\">1</text>\n", left, top + plot_height + 16);
  fprintf(out, "<text x=\"%.0f\" y=\"%.0f\" text-anchor=\"middle\">%d</text>\n", left + plot_width, top + plot_height + 16, steps);
  fprintf(out, "<text x=\"%.0f\" y=\"%.0f\" text-anchor=\"middle\">step</text>\n", left + plot_width / 2, height - 12);
  fprintf(out, "<text x=\"16\" y=\"%.0f\" text-anchor=\"middle\" transform=\"rotate(-90 16 %.0f)\">loss</text>\n", top + plot_height / 2, top + plot_height / 2);
  fprintf(out, "<polyline fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"2\" points=\"");
  for (int i = 0; i < steps; i++) {
    double x = left + (steps > 1 ? plot_width * i / (steps - 1) : plot_width / 2);
    double y = top + plot_height * (high - losses[i]) / (high - low);
    fprintf(out, i ? " %.1f,%.1f" : "%.1f,%.1f", x, y);
  }
  fprintf(out, "\"/>\n</svg>\n");
  if (fclose(out) != 0) die("cannot write %s: %s", path, strerror(errno));
}

int main(int argc, char **argv) {
  program_name = "lora-training";
  const char *dataset = "/inputs/dataset", *steps_text = "30", *rank_text = "4", *rate_text = "0.001", *seed_text = "42";
  const char *weights = "/inputs/weights/model.safetensors", *weights_cid = NULL, *outputs = "/outputs";
  for (int i = 1; i < argc; i++) {
    if (i + 1 >= argc) die("argument %s has no value", argv[i]);
    const char *name = argv[i], *value = argv[++i];
    if (strcmp(name, "--dataset") == 0) dataset = value;
    else if (strcmp(name, "--steps") == 0) steps_text = value;
    else if (strcmp(name, "--rank") == 0) rank_text = value;
    else if (strcmp(name, "--learning-rate") == 0) rate_text = value;
    else if (strcmp(name, "--seed") == 0) seed_text = value;
    else if (strcmp(name, "--weights") == 0) weights = value;
    else if (strcmp(name, "--weights-cid") == 0) weights_cid = value;
    else if (strcmp(name, "--outputs") == 0) outputs = value;
    else die("unknown argument %s", name);
  }
  uint64_t steps, rank, seed;
  double learning_rate;
  if (!parse_u64(steps_text, &steps) || steps < 1 || steps > MAX_STEPS) die("Steps must be a whole number from 1 to %d, not \"%s\"", MAX_STEPS, steps_text);
  if (!parse_u64(rank_text, &rank) || rank < 1 || rank > LORA_MAX_RANK) die("Rank must be a whole number from 1 to %d, not \"%s\"", LORA_MAX_RANK, rank_text);
  if (!parse_float(rate_text, &learning_rate) || learning_rate <= 0.0 || learning_rate > 1.0) die("LearningRate must be a number above 0 and at most 1, not \"%s\"", rate_text);
  if (!parse_u64(seed_text, &seed)) die("Seed must be a whole number from 0 to 18446744073709551615, not \"%s\"", seed_text);
  if (!weights_cid) die("no weights CID given (--weights-cid)");

  Buffer text = {0};
  read_dataset(&text, dataset, 0);
  tokenizer_init();
  size_t token_count;
  int *tokens = tokenizer_encode(text.bytes ? text.bytes : (const unsigned char *)"", text.length, &token_count);
  if (token_count < 2) die("the dataset has %zu tokens; it needs at least 2 (a .txt file, or a folder of .txt files, with text in it)", token_count);
  int window = token_count - 1 < WINDOW_TOKENS ? (int)token_count : WINDOW_TOKENS + 1; /* tokens per window: inputs and the next one */

  Model model;
  model_load(&model, weights);
  Random random;
  random_seed(&random, seed);
  Adapter adapter, gradients, first_moment, second_moment;
  lora_init(&adapter, (int)rank, &random);
  lora_alloc(&gradients, (int)rank);
  lora_alloc(&first_moment, (int)rank);
  lora_alloc(&second_moment, (int)rank);
  LoraWorkspace *work = lora_workspace(window, (int)rank);
  float *losses = xmalloc(steps * sizeof *losses);

  char path[1024];
  snprintf(path, sizeof path, "%s/loss.csv", outputs);
  FILE *csv = fopen(path, "w");
  if (!csv) die("cannot write %s: %s", path, strerror(errno));
  fprintf(csv, "step,loss\n");
  printf("training a rank-%llu LoRA adapter on %zu tokens: %llu steps of %d windows of %d tokens, learning rate %s\n",
         (unsigned long long)rank, token_count, (unsigned long long)steps, BATCH_WINDOWS, window - 1, rate_text);
  for (uint64_t step = 1; step <= steps; step++) {
    lora_zero(&gradients);
    float loss = 0.0f;
    for (int b = 0; b < BATCH_WINDOWS; b++) {
      uint32_t start = random_below(&random, (uint32_t)(token_count - (size_t)window + 1));
      loss += lora_window_loss(&model, &adapter, work, tokens + start, window, &gradients, 1.0f / BATCH_WINDOWS) / BATCH_WINDOWS;
    }
    lora_adam_step(&adapter, &gradients, &first_moment, &second_moment, (int)step, (float)learning_rate);
    losses[step - 1] = loss;
    fprintf(csv, "%llu,%.6f\n", (unsigned long long)step, loss);
    if (step == 1 || step == steps || step % 10 == 0) printf("step %llu/%llu loss %.4f\n", (unsigned long long)step, (unsigned long long)steps, loss);
  }
  if (fclose(csv) != 0) die("cannot write %s: %s", path, strerror(errno));
  snprintf(path, sizeof path, "%s/loss.svg", outputs);
  write_loss_svg(path, losses, (int)steps);
  snprintf(path, sizeof path, "%s/lora.safetensors", outputs);
  if (lora_save(&adapter, path, weights_cid, (int)steps, rate_text, seed_text) != 0) die("cannot write %s: %s", path, strerror(errno));
  printf("wrote outputs/lora.safetensors (base %s), outputs/loss.csv and outputs/loss.svg\n", weights_cid);
  return 0;
}
