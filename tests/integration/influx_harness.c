/* Harness for the InfluxDB writer tests and benchmark (see influx_harness.h). */
#include "influx_harness.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

extern char **environ;

#ifndef FLEET_INTEGRATION_DIR
#  error "FLEET_INTEGRATION_DIR must name tests/integration"
#endif

const char *ih_script_dir(void)
{
  const char *env = getenv("FLEET_INTEGRATION_DIR");
  return env && *env ? env : FLEET_INTEGRATION_DIR;
}

int64_t ih_now_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void ih_sleep_ms(int64_t ms)
{
  struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
    ;
}

int ih_tmpdir(char *out, size_t cap, const char *tag)
{
  const char *base = getenv("TMPDIR");
  if (!base || !*base)
    base = "/tmp";
  int n = snprintf(out, cap, "%s/fleet-%s-XXXXXX", base, tag);
  if (n < 0 || (size_t)n >= cap || !mkdtemp(out)) {
    fprintf(stderr, "ih_tmpdir: %s\n", strerror(errno));
    return -1;
  }
  return 0;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
  (void)st;
  (void)flag;
  (void)ftw;
  remove(path);
  return 0;
}

void ih_rmrf(const char *dir)
{
  if (dir && *dir)
    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

int ih_free_port(void)
{
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -1;
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  int port = -1;
  if (bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
      getsockname(fd, (struct sockaddr *)&a, &len) == 0)
    port = ntohs(a.sin_port);
  close(fd);
  return port;
}

static int read_small_file(const char *path, char *out, size_t cap)
{
  FILE *f = fopen(path, "r");
  if (!f)
    return -1;
  size_t n = fread(out, 1, cap - 1, f);
  fclose(f);
  out[n] = '\0';
  while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == '\r' || out[n - 1] == ' '))
    out[--n] = '\0';
  return n > 0 ? 0 : -1;
}

int ih_fault_start(ih_server_t *s, const char *dir, int port, const char *script)
{
  memset(s, 0, sizeof *s);
  snprintf(s->dir, sizeof s->dir, "%s", dir);
  char prog[600], portfile[600], portarg[16];
  snprintf(prog, sizeof prog, "%s/faultserver.py", ih_script_dir());
  snprintf(portfile, sizeof portfile, "%s/port", dir);
  snprintf(portarg, sizeof portarg, "%d", port);
  unlink(portfile);
  const char *py = getenv("FLEET_PYTHON");
  if (!py || !*py)
    py = "/usr/bin/python3";
  char *argv[10];
  int i = 0;
  argv[i++] = (char *)py;
  argv[i++] = prog;
  argv[i++] = (char *)"--port";
  argv[i++] = portarg;
  argv[i++] = (char *)"--port-file";
  argv[i++] = portfile;
  if (script) {
    argv[i++] = (char *)"--script";
    argv[i++] = (char *)script;
  }
  argv[i] = NULL;
  if (posix_spawn(&s->pid, py, NULL, NULL, argv, environ) != 0) {
    fprintf(stderr, "ih_fault_start: cannot run %s\n", py);
    return -1;
  }
  char buf[32];
  for (int k = 0; k < 200; k++) { /* 10 s */
    if (read_small_file(portfile, buf, sizeof buf) == 0) {
      s->port = atoi(buf);
      snprintf(s->url, sizeof s->url, "http://127.0.0.1:%d", s->port);
      return 0;
    }
    int status;
    if (waitpid(s->pid, &status, WNOHANG) == s->pid) {
      fprintf(stderr, "ih_fault_start: faultserver exited (status %d)\n", status);
      s->pid = 0;
      return -1;
    }
    ih_sleep_ms(50);
  }
  fprintf(stderr, "ih_fault_start: faultserver did not start\n");
  ih_fault_stop(s);
  return -1;
}

void ih_fault_stop(ih_server_t *s)
{
  if (s->pid <= 0)
    return;
  kill(s->pid, SIGTERM);
  for (int k = 0; k < 100; k++) {
    if (waitpid(s->pid, NULL, WNOHANG) == s->pid) {
      s->pid = 0;
      return;
    }
    ih_sleep_ms(50);
  }
  kill(s->pid, SIGKILL);
  waitpid(s->pid, NULL, 0);
  s->pid = 0;
}

int ih_fault_script(const ih_server_t *s, const char *script)
{
  char url[256];
  snprintf(url, sizeof url, "%s/_control/script", s->url);
  long st = ih_http(NULL, "POST", url, script, strlen(script));
  return st == 200 ? 0 : -1;
}

json_t *ih_fault_requests(const ih_server_t *s)
{
  char url[256];
  snprintf(url, sizeof url, "%s/_control/requests", s->url);
  fleet_buf_t b = FLEET_BUF_INIT;
  json_t *j = NULL;
  if (ih_http(&b, "GET", url, NULL, 0) == 200)
    j = json_loadb(b.ptr, b.len, 0, NULL);
  fleet_buf_dispose(&b);
  return j;
}

static int run_influxd_sh(const char *cmd, const char *dir)
{
  char line[1400];
  snprintf(line, sizeof line, "'%s/influxd.sh' %s '%s' >/dev/null", ih_script_dir(), cmd, dir);
  int rc = system(line);
  return (rc != -1 && WIFEXITED(rc) && WEXITSTATUS(rc) == 0) ? 0 : -1;
}

int ih_influxd_start(ih_server_t *s, const char *dir)
{
  if (s->dir != dir) {
    memset(s, 0, sizeof *s);
    snprintf(s->dir, sizeof s->dir, "%s", dir);
  }
  if (run_influxd_sh("start", s->dir)) {
    fprintf(stderr, "ih_influxd_start: influxd.sh start %s failed\n", s->dir);
    return -1;
  }
  char path[600];
  snprintf(path, sizeof path, "%s/url", s->dir);
  if (read_small_file(path, s->url, sizeof s->url))
    return -1;
  const char *colon = strrchr(s->url, ':');
  s->port = colon ? atoi(colon + 1) : 0;
  return 0;
}

void ih_influxd_stop(ih_server_t *s)
{
  if (s->dir[0])
    run_influxd_sh("stop", s->dir);
}

static size_t collect(char *p, size_t size, size_t n, void *ud)
{
  if (ud && fleet_buf_append(ud, p, size * n))
    return 0;
  return size * n;
}

long ih_http(fleet_buf_t *body, const char *method, const char *url, const char *data,
             size_t len)
{
  CURL *c = curl_easy_init();
  if (!c)
    return -1;
  if (body)
    fleet_buf_clear(body);
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 60000L);
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, body);
  if (data) {
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, data);
  }
  long status = -1;
  CURLcode rc = curl_easy_perform(c);
  if (rc == CURLE_OK)
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_cleanup(c);
  return status;
}

json_t *ih_influx_query(const char *url, const char *db, const char *q)
{
  CURL *c = curl_easy_init();
  if (!c)
    return NULL;
  char *eq = curl_easy_escape(c, q, 0);
  char *edb = db ? curl_easy_escape(c, db, 0) : NULL;
  fleet_buf_t form = FLEET_BUF_INIT, body = FLEET_BUF_INIT, u = FLEET_BUF_INIT;
  fleet_buf_append(&u, url, strlen(url));
  fleet_buf_append(&u, "/query", 6);
  /* Integer nanosecond timestamps, so tests compare them exactly. */
  fleet_buf_append(&form, "epoch=ns&q=", 11);
  fleet_buf_append(&form, eq, strlen(eq));
  if (edb) {
    fleet_buf_append(&form, "&db=", 4);
    fleet_buf_append(&form, edb, strlen(edb));
  }
  curl_free(eq);
  curl_free(edb);
  curl_easy_cleanup(c);
  json_t *j = NULL;
  if (ih_http(&body, "POST", u.ptr, form.ptr, form.len) == 200)
    j = json_loadb(body.ptr, body.len, 0, NULL);
  else
    fprintf(stderr, "ih_influx_query: %s -> %s\n", q, body.ptr ? body.ptr : "(no answer)");
  fleet_buf_dispose(&form);
  fleet_buf_dispose(&body);
  fleet_buf_dispose(&u);
  return j;
}

int64_t ih_influx_count(const char *url, const char *db, const char *field,
                        const char *measurement, const char *where)
{
  char q[512];
  snprintf(q, sizeof q, "SELECT count(\"%s\") FROM \"%s\"%s%s", field, measurement,
           where ? " WHERE " : "", where ? where : "");
  json_t *j = ih_influx_query(url, db, q);
  if (!j)
    return -1;
  int64_t n = -1;
  json_t *res = json_array_get(json_object_get(j, "results"), 0);
  json_t *series = json_object_get(res, "series");
  if (json_object_get(res, "error"))
    n = -1;
  else if (!series)
    n = 0; /* no point at all */
  else {
    json_t *v = json_array_get(json_array_get(json_object_get(json_array_get(series, 0),
                                                              "values"),
                                              0),
                               1);
    if (json_is_integer(v))
      n = json_integer_value(v);
  }
  json_decref(j);
  return n;
}
