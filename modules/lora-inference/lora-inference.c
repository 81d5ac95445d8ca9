/*
 * lora-inference:v1 for WASI: llm with a LoRA adapter (from a lora-training result, or a .safetensors file)
 * folded into the base weights first. The work is in modules/llm/src/.
 */
#include "../llm/src/common.h"
#include "../llm/src/generate.h"

int main(int argc, char **argv) {
  program_name = "lora-inference";
  return generate_main(argc, argv, 1);
}
