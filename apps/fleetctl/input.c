/* input: the lines of fleetctl's FILE operands, or of standard input. */
#include "input.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

static bool is_stdin(const char *path)
{
  return !strcmp(path, "-");
}

bool fleetctl_input_check(const char *prog, char *const *paths, size_t npaths)
{
  bool ok = true;
  for (size_t i = 0; i < npaths; i++) {
    if (is_stdin(paths[i]))
      continue;
    /* Opening is the real test of permission; a directory opens but cannot be read. */
    FILE *fp = fopen(paths[i], "r");
    struct stat st;
    const char *why = NULL;
    if (!fp)
      why = strerror(errno);
    else if (fstat(fileno(fp), &st) == 0 && S_ISDIR(st.st_mode))
      why = strerror(EISDIR);
    if (fp)
      fclose(fp);
    if (why) {
      fprintf(stderr, "%s: cannot read '%s': %s\n", prog, paths[i], why);
      ok = false;
    }
  }
  return ok;
}

void fleetctl_input_init(fleetctl_input_t *in, const char *prog, char *const *paths,
                         size_t npaths)
{
  memset(in, 0, sizeof *in);
  in->prog = prog;
  in->paths = paths;
  in->npaths = npaths;
}

static void close_current(fleetctl_input_t *in)
{
  if (in->fp && in->fp != stdin)
    fclose(in->fp);
  in->fp = NULL;
}

/* Opens the next operand; false when there is none left. */
static bool open_next(fleetctl_input_t *in)
{
  while (in->next < (in->npaths ? in->npaths : 1)) {
    const char *path = in->npaths ? in->paths[in->next] : "-";
    in->next++;
    in->lineno = 0;
    if (is_stdin(path)) {
      in->fp = stdin;
      in->name = FLEETCTL_STDIN_NAME;
      return true;
    }
    in->fp = fopen(path, "r");
    in->name = path;
    if (in->fp)
      return true;
    fprintf(stderr, "%s: cannot read '%s': %s\n", in->prog, path, strerror(errno));
    in->io_error = true;
  }
  return false;
}

bool fleetctl_input_next(fleetctl_input_t *in)
{
  for (;;) {
    if (!in->fp && !open_next(in))
      return false;
    errno = 0;
    ssize_t n = getline(&in->line, &in->cap, in->fp);
    if (n >= 0) {
      size_t len = (size_t)n;
      if (len && in->line[len - 1] == '\n')
        len--;
      if (len && in->line[len - 1] == '\r')
        len--;
      in->line[len] = '\0';
      in->len = len;
      in->lineno++;
      return true;
    }
    if (ferror(in->fp)) {
      fprintf(stderr, "%s: error reading '%s': %s\n", in->prog, in->name,
              strerror(errno ? errno : EIO));
      in->io_error = true;
      clearerr(in->fp);
    }
    close_current(in);
  }
}

void fleetctl_input_close(fleetctl_input_t *in)
{
  close_current(in);
  free(in->line);
  in->line = NULL;
  in->cap = 0;
  in->len = 0;
}

bool fleetctl_line_blank(const char *line, size_t len)
{
  for (size_t i = 0; i < len; i++)
    if (line[i] != ' ' && line[i] != '\t' && line[i] != '\r')
      return false;
  return true;
}

void fleetctl_input_where(FILE *out, const fleetctl_input_t *in)
{
  if (in->npaths > 1)
    fprintf(out, "%s:%lu: ", in->name, in->lineno);
  else
    fprintf(out, "%lu: ", in->lineno);
}

void fleetctl_bad_option(const char *prog, char *const *argv, int c)
{
  const char *arg = argv[optind - 1];
  size_t len = strcspn(arg, "=");
  if (strncmp(arg, "--", 2) && optopt) {
    if (c == ':')
      fprintf(stderr, "%s: option '-%c' needs a value\n", prog, optopt);
    else
      fprintf(stderr, "%s: unknown option '-%c'\n", prog, optopt);
  } else if (c == ':') {
    fprintf(stderr, "%s: option '%.*s' needs a value\n", prog, (int)len, arg);
  } else {
    fprintf(stderr, "%s: unknown option '%.*s'\n", prog, (int)len, arg);
  }
  fprintf(stderr, "Try '%s --help'.\n", prog);
}

bool fleetctl_flush_stdout(const char *prog)
{
  if (fflush(stdout) == 0 && !ferror(stdout))
    return true;
  fprintf(stderr, "%s: error writing output: %s\n", prog, strerror(errno ? errno : EIO));
  return false;
}
