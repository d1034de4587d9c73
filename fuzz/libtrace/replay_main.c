/* Corpus replay for builds without libFuzzer: feeds every file of the
 * given directories to the fuzz target once, like `fuzzer -runs=0 dir/`. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int main(int argc, char **argv) {
  int files = 0;
  for (int i = 1; i < argc; i++) {
    DIR *d = opendir(argv[i]);
    struct dirent *e;
    while (d && (e = readdir(d))) {
      if (e->d_name[0] == '.')
        continue;
      char path[4096];
      snprintf(path, sizeof path, "%s/%s", argv[i], e->d_name);
      FILE *f = fopen(path, "rb");
      if (!f)
        continue;
      uint8_t *buf = malloc(1 << 20);
      size_t n = buf ? fread(buf, 1, 1 << 20, f) : 0;
      fclose(f);
      if (buf)
        LLVMFuzzerTestOneInput(buf, n);
      free(buf);
      files++;
    }
    if (d)
      closedir(d);
  }
  fprintf(stderr, "replayed %d inputs\n", files);
  return files > 0 ? 0 : 1;
}
