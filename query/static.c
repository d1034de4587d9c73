/* Static UI files from --ui-dir at /. The requested path is resolved with
 * realpath and must stay inside the UI directory, so "..", symlinks and
 * encoded slashes cannot reach other files. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "query_int.h"

static const struct {
  const char *ext, *type;
} types[] = {
    {".html", "text/html; charset=utf-8"},
    {".htm", "text/html; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},
    {".mjs", "text/javascript; charset=utf-8"},
    {".json", "application/json"},
    {".map", "application/json"},
    {".svg", "image/svg+xml"},
    {".png", "image/png"},
    {".jpg", "image/jpeg"},
    {".jpeg", "image/jpeg"},
    {".gif", "image/gif"},
    {".ico", "image/x-icon"},
    {".webp", "image/webp"},
    {".woff", "font/woff"},
    {".woff2", "font/woff2"},
    {".txt", "text/plain; charset=utf-8"},
    {".wasm", "application/wasm"},
};

const char *q_content_type(const char *path) {
  const char *dot = strrchr(path, '.');
  const char *slash = strrchr(path, '/');
  if (!dot || (slash && dot < slash)) return "application/octet-stream";
  for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
    if (strcasecmp(dot, types[i].ext) == 0) return types[i].type;
  return "application/octet-stream";
}

void h_static(qreq *x) {
  const char *dir = x->q->ui_dir;
  const char *path = x->r->path;
  if (!dir) {
    q_error(x, 404, "not found: %.200s (no UI directory configured)", path);
    return;
  }
  size_t pl = strlen(path);
  if (pl == 0 || path[0] != '/' || pl > 1024 || strstr(path, "/..") || memchr(path, '\\', pl)) {
    q_error(x, 400, "bad path");
    return;
  }
  char root[PATH_MAX], want[PATH_MAX * 2], real[PATH_MAX];
  if (!realpath(dir, root)) {
    q_error(x, 404, "not found: UI directory %.200s is missing", dir);
    return;
  }
  int n = snprintf(want, sizeof want, "%s%s%s", root, path,
                   path[pl - 1] == '/' ? "index.html" : "");
  if (n < 0 || (size_t)n >= sizeof want || !realpath(want, real)) {
    q_error(x, 404, "not found: %.200s", path);
    return;
  }
  size_t rl = strlen(root);
  if (strncmp(real, root, rl) != 0 || (real[rl] != '/' && real[rl] != '\0')) {
    q_error(x, 404, "not found: %.200s", path);
    return;
  }
  struct stat stt;
  if (stat(real, &stt) == 0 && S_ISDIR(stt.st_mode)) {
    size_t l = strlen(real);
    if (l + sizeof "/index.html" > sizeof real) {
      q_error(x, 404, "not found");
      return;
    }
    memcpy(real + l, "/index.html", sizeof "/index.html");
  }
  int fd = open(real, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0 || fstat(fd, &stt) != 0 || !S_ISREG(stt.st_mode)) {
    if (fd >= 0) close(fd);
    q_error(x, 404, "not found: %.200s", path);
    return;
  }
  x->r->fd = fd;
  x->r->fd_size = (uint64_t)stt.st_size;
  x->r->status = 200;
  x->r->content_type = q_content_type(real);
  x->r->cache_control = "no-cache";
}
