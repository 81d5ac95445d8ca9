/*
 * llm:v1 for WASI: a completion of the prompt by the project's small transformer (modules/llm/FORMAT.md),
 * the weights an input by CID. All the work is in src/, which lora-inference shares.
 */
#include "src/common.h"
#include "src/generate.h"

int main(int argc, char **argv) {
  program_name = "llm";
  return generate_main(argc, argv, 0);
}
