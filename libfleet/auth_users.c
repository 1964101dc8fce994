/*
 * auth: password hashes (libxcrypt), the users file and the server secret.
 *
 * Hashing uses crypt_rn() with a per-call struct crypt_data (reentrant; the
 * plain crypt() shares a static buffer) and crypt_gensalt_ra(NULL, ...), which
 * picks libxcrypt's preferred method (yescrypt on Debian 12) and takes the salt
 * from the kernel.
 *
 * The users file is rewritten whole on every change, under an flock() of a
 * separate lock file, after re-reading what is on disk: fleetctl and a server
 * may change users at the same time without losing each other's changes. The
 * slow part, hashing a new password, happens before the lock is taken.
 */
#include "common_int.h"

#include <crypt.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "auth_int.h"
#include "fleet/telemetry.h"

/* Largest users file read, in bytes. */
#define USERS_FILE_MAX (64u * 1024u * 1024u)
#define USERS_FORMAT_VERSION 1

/* ------------------------------------------------------------------------ */
/* Passwords                                                                */
/* ------------------------------------------------------------------------ */

static int password_check_input(const char *password)
{
  if (!password)
    return fleet_error__set(FLEET_EINVAL, "password: NULL");
  size_t n = strlen(password);
  if (n == 0)
    return fleet_error__set(FLEET_EINVAL, "password: empty");
  if (n > FLEET_AUTH_PASSWORD_MAX)
    return fleet_error__set(FLEET_EINVAL, "password: %zu bytes, over the %u-byte limit", n,
                            FLEET_AUTH_PASSWORD_MAX);
  if (strpbrk(password, "\r\n"))
    return fleet_error__set(FLEET_EINVAL, "password: contains a line break");
  return 0;
}

/* crypt_rn() into a heap crypt_data (it is 32 KiB); the result is copied. */
static int crypt_into(char out[CRYPT_OUTPUT_SIZE], const char *password, const char *setting)
{
  struct crypt_data *cd = calloc(1, sizeof *cd);
  if (!cd)
    return fleet_error__oom();
  int rc = 0;
  const char *h = crypt_rn(password, setting, cd, (int)sizeof *cd);
  if (!h || h[0] == '*')
    rc = FLEET_EAUTH;
  else
    snprintf(out, CRYPT_OUTPUT_SIZE, "%s", h);
  fleet_auth__wipe(cd, sizeof *cd);
  free(cd);
  return rc;
}

int fleet_auth_password_hash(char **out_hash, const char *password)
{
  if (!out_hash)
    return fleet_error__set(FLEET_EINVAL, "password hash: NULL argument");
  *out_hash = NULL;
  int rc = password_check_input(password);
  if (rc)
    return rc;
  char *setting = crypt_gensalt_ra(NULL, 0, NULL, 0);
  if (!setting)
    setting = crypt_gensalt_ra("$6$", 0, NULL, 0);
  if (!setting)
    return fleet_error__set(errno == ENOMEM ? FLEET_ENOMEM : FLEET_EIO,
                            "password hash: crypt_gensalt: %s", strerror(errno));
  char h[CRYPT_OUTPUT_SIZE];
  rc = crypt_into(h, password, setting);
  free(setting);
  if (rc == FLEET_ENOMEM)
    return rc;
  if (rc)
    return fleet_error__set(FLEET_EINTERNAL, "password hash: crypt_rn failed");
  *out_hash = strdup(h);
  fleet_auth__wipe(h, sizeof h);
  return *out_hash ? 0 : fleet_error__oom();
}

/* Compare all `n` bytes whatever the first difference. */
static int ct_equal(const char *a, const char *b, size_t n)
{
  unsigned char d = 0;
  for (size_t i = 0; i < n; i++)
    d |= (unsigned char)(a[i] ^ b[i]);
  return d == 0;
}

int fleet_auth_password_check(const char *hash, const char *password)
{
  if (!hash || !password)
    return fleet_error__set(FLEET_EINVAL, "password check: NULL argument");
  size_t hn = strlen(hash);
  if (hash[0] != '$' || hn >= CRYPT_OUTPUT_SIZE)
    return fleet_error__set(FLEET_EAUTH, "password check: the stored hash is not a crypt(3) "
                                         "string");
  if (strlen(password) > FLEET_AUTH_PASSWORD_MAX)
    return fleet_error__set(FLEET_EAUTH, "password check: password over %u bytes",
                            FLEET_AUTH_PASSWORD_MAX);
  char h[CRYPT_OUTPUT_SIZE];
  int rc = crypt_into(h, password, hash);
  if (rc == FLEET_ENOMEM)
    return rc;
  if (rc)
    return fleet_error__set(FLEET_EAUTH, "password check: the stored hash is not usable");
  int same = strlen(h) == hn && ct_equal(h, hash, hn);
  fleet_auth__wipe(h, sizeof h);
  return same ? 0 : fleet_error__set(FLEET_EAUTH, "wrong password");
}

/*
 * A setting of the preferred method with default cost, used to spend the same
 * time on unknown users as on known ones. Made once per process.
 */
static pthread_once_t dummy_once = PTHREAD_ONCE_INIT;
static char dummy_setting[CRYPT_GENSALT_OUTPUT_SIZE] = "$y$j9T$tleTYspMZLRt0hLD26srR/";

static void dummy_init(void)
{
  char buf[CRYPT_GENSALT_OUTPUT_SIZE];
  if (crypt_gensalt_rn(NULL, 0, NULL, 0, buf, (int)sizeof buf))
    memcpy(dummy_setting, buf, sizeof buf);
}

static void dummy_crypt(const char *password)
{
  pthread_once(&dummy_once, dummy_init);
  char h[CRYPT_OUTPUT_SIZE];
  if (crypt_into(h, password, dummy_setting) == 0)
    fleet_auth__wipe(h, sizeof h);
}

/* ------------------------------------------------------------------------ */
/* User records                                                             */
/* ------------------------------------------------------------------------ */

typedef struct user_rec {
  char *name;
  char *hash;
  fleet_auth_role_t role;
  char *vehicles; /* canonical: "*", "" or "a,b" */
  int64_t created;
  int64_t updated;
} user_rec_t;

typedef struct user_list {
  user_rec_t *v; /* sorted by name */
  size_t n;
} user_list_t;

struct fleet_auth_user {
  user_rec_t rec; /* hash is NULL */
};

struct fleet_auth_users {
  char *path;
  char *lock_path;
  pthread_rwlock_t lock;
  user_list_t list;
  /* What was read or written last, to notice changes made by others. */
  int seen_exists;
  dev_t seen_dev;
  ino_t seen_ino;
  off_t seen_size;
  struct timespec seen_mtime;
};

static void rec_free(user_rec_t *r)
{
  free(r->name);
  if (r->hash)
    fleet_auth__wipe(r->hash, strlen(r->hash));
  free(r->hash);
  free(r->vehicles);
  memset(r, 0, sizeof *r);
}

static void list_free(user_list_t *l)
{
  for (size_t i = 0; i < l->n; i++)
    rec_free(&l->v[i]);
  free(l->v);
  l->v = NULL;
  l->n = 0;
}

/* Index of `name`, or -(insertion point) - 1. */
static ptrdiff_t list_find(const user_list_t *l, const char *name)
{
  size_t lo = 0, hi = l->n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = strcmp(l->v[mid].name, name);
    if (c == 0)
      return (ptrdiff_t)mid;
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return -(ptrdiff_t)lo - 1;
}

static int rec_copy(user_rec_t *dst, const user_rec_t *src, int with_hash)
{
  memset(dst, 0, sizeof *dst);
  dst->role = src->role;
  dst->created = src->created;
  dst->updated = src->updated;
  dst->name = strdup(src->name);
  dst->vehicles = strdup(src->vehicles);
  if (with_hash)
    dst->hash = strdup(src->hash);
  if (!dst->name || !dst->vehicles || (with_hash && !dst->hash)) {
    rec_free(dst);
    return fleet_error__oom();
  }
  return 0;
}

/* ------------------------------------------------------------------------ */
/* The file format                                                          */
/* ------------------------------------------------------------------------ */

static int parse_time_field(int64_t *out, json_t *u, const char *field, const char *path,
                            size_t idx)
{
  json_t *t = json_object_get(u, field);
  int64_t ns;
  if (!json_is_string(t) ||
      fleet_time_parse(&ns, json_string_value(t), json_string_length(t)) != 0)
    return fleet_error__set(FLEET_EPARSE, "%s: users[%zu].%s: not an RFC 3339 time", path, idx,
                            field);
  *out = ns / 1000000000;
  return 0;
}

static int parse_user(user_rec_t *r, json_t *u, const char *path, size_t idx)
{
  char q[FLEET_AUTH_QUOTE_MAX];
  memset(r, 0, sizeof *r);
  if (!json_is_object(u))
    return fleet_error__set(FLEET_EPARSE, "%s: users[%zu]: not an object", path, idx);
  json_t *name = json_object_get(u, "name");
  if (!json_is_string(name) || !fleet_auth_username_valid(json_string_value(name)) ||
      strlen(json_string_value(name)) != json_string_length(name))
    return fleet_error__set(FLEET_EPARSE, "%s: users[%zu].name: %s is not a valid user name", path,
                            idx,
                            json_is_string(name) ? fleet_auth__quote(q, json_string_value(name),
                                                                     json_string_length(name))
                                                 : "(not a string)");
  json_t *hash = json_object_get(u, "hash");
  if (!json_is_string(hash) || json_string_value(hash)[0] != '$' ||
      json_string_length(hash) >= CRYPT_OUTPUT_SIZE ||
      strlen(json_string_value(hash)) != json_string_length(hash))
    return fleet_error__set(FLEET_EPARSE, "%s: users[%zu].hash: not a crypt(3) hash", path, idx);
  json_t *role = json_object_get(u, "role");
  if (!json_is_string(role) || fleet_auth_role_parse(&r->role, json_string_value(role)) != 0)
    return fleet_error__set(FLEET_EPARSE, "%s: users[%zu].role: not viewer or admin", path, idx);
  json_t *veh = json_object_get(u, "vehicles");
  fleet_buf_t csv = FLEET_BUF_INIT;
  int rc = 0;
  if (!veh || (json_is_string(veh) && !strcmp(json_string_value(veh), "*"))) {
    rc = fleet_buf__puts(&csv, "*");
  } else if (json_is_array(veh)) {
    size_t i;
    json_t *e;
    json_array_foreach(veh, i, e)
    {
      if (!json_is_string(e) || strchr(json_string_value(e), ',')) {
        rc = fleet_error__set(FLEET_EPARSE, "%s: users[%zu].vehicles[%zu]: not a vehicle id",
                              path, idx, i);
        break;
      }
      if ((i && (rc = fleet_buf__putc(&csv, ',')) != 0) ||
          (rc = fleet_buf__puts(&csv, json_string_value(e))) != 0)
        break;
    }
  } else {
    rc = fleet_error__set(FLEET_EPARSE, "%s: users[%zu].vehicles: neither \"*\" nor an array",
                          path, idx);
  }
  if (rc == 0) {
    rc = fleet_auth__vehicles_canonical(&r->vehicles, csv.ptr ? csv.ptr : "", "vehicles");
    if (rc == FLEET_EINVAL || rc == FLEET_ETOOBIG) {
      char detail[FLEET_ERROR_MAX];
      snprintf(detail, sizeof detail, "%s", fleet_error_last());
      rc = fleet_error__set(FLEET_EPARSE, "%s: users[%zu].%s", path, idx, detail);
    }
  }
  fleet_buf_dispose(&csv);
  if (rc == 0 && ((rc = parse_time_field(&r->created, u, "created", path, idx)) == 0))
    rc = parse_time_field(&r->updated, u, "updated", path, idx);
  if (rc == 0 && (!(r->name = strdup(json_string_value(name))) ||
                  !(r->hash = strdup(json_string_value(hash)))))
    rc = fleet_error__oom();
  if (rc)
    rec_free(r);
  return rc;
}

static int cmp_rec(const void *a, const void *b)
{
  return strcmp(((const user_rec_t *)a)->name, ((const user_rec_t *)b)->name);
}

static int parse_users(user_list_t *out, const char *text, size_t len, const char *path)
{
  memset(out, 0, sizeof *out);
  json_error_t err;
  json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &err);
  if (!root)
    return fleet_error__set(FLEET_EPARSE, "%s: line %d column %d: %s", path, err.line,
                            err.column, err.text);
  int rc = 0;
  json_t *ver = json_object_get(root, "version");
  json_t *users = json_object_get(root, "users");
  if (!json_is_object(root) || !json_is_integer(ver) || !json_is_array(users)) {
    rc = fleet_error__set(FLEET_EPARSE,
                          "%s: not a users file (an object with \"version\" and \"users\")",
                          path);
    goto done;
  }
  if (json_integer_value(ver) != USERS_FORMAT_VERSION) {
    rc = fleet_error__set(FLEET_EVERSION, "%s: users file version %" JSON_INTEGER_FORMAT
                                          " (this library reads version %d)",
                          path, json_integer_value(ver), USERS_FORMAT_VERSION);
    goto done;
  }
  size_t n = json_array_size(users);
  if (n && !(out->v = calloc(n, sizeof *out->v))) {
    rc = fleet_error__oom();
    goto done;
  }
  for (size_t i = 0; i < n; i++) {
    if ((rc = parse_user(&out->v[i], json_array_get(users, i), path, i)) != 0)
      goto done;
    out->n++;
  }
  qsort(out->v, out->n, sizeof *out->v, cmp_rec);
  for (size_t i = 1; i < out->n; i++)
    if (!strcmp(out->v[i - 1].name, out->v[i].name)) {
      rc = fleet_error__set(FLEET_EPARSE, "%s: user '%s' appears twice", path, out->v[i].name);
      goto done;
    }
done:
  json_decref(root);
  if (rc)
    list_free(out);
  return rc;
}

static json_t *time_json(int64_t s)
{
  char t[FLEET_AUTH_TIME_MAX];
  return json_string(fleet_auth__time(t, s));
}

static char *serialize_users(const user_list_t *l)
{
  json_t *root = json_object(), *arr = json_array();
  int bad = !root || !arr;
  if (!bad) {
    bad |= json_object_set_new(root, "version", json_integer(USERS_FORMAT_VERSION));
    bad |= json_object_set_new(root, "users", arr);
  } else {
    json_decref(arr);
  }
  for (size_t i = 0; !bad && i < l->n; i++) {
    const user_rec_t *r = &l->v[i];
    json_t *u = json_object(), *veh;
    if (!strcmp(r->vehicles, "*")) {
      veh = json_string("*");
    } else {
      veh = json_array();
      for (const char *p = r->vehicles; veh && *p;) {
        const char *c = strchr(p, ',');
        size_t n = c ? (size_t)(c - p) : strlen(p);
        if (json_array_append_new(veh, json_stringn(p, n)) != 0) {
          json_decref(veh);
          veh = NULL;
        }
        p += n + (c != NULL);
      }
    }
    bad |= !u || json_array_append_new(arr, u) != 0;
    if (bad) {
      json_decref(veh);
      break;
    }
    bad |= json_object_set_new(u, "name", json_string(r->name));
    bad |= json_object_set_new(u, "hash", json_string(r->hash));
    bad |= json_object_set_new(u, "role", json_string(fleet_auth_role_name(r->role)));
    bad |= json_object_set_new(u, "vehicles", veh);
    bad |= json_object_set_new(u, "created", time_json(r->created));
    bad |= json_object_set_new(u, "updated", time_json(r->updated));
  }
  char *s = bad ? NULL : json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
  json_decref(root);
  return s;
}

static int write_all(int fd, const char *p, size_t n)
{
  while (n) {
    ssize_t w = write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR)
        continue;
      return -1;
    }
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

static int fsync_dir_of(const char *path)
{
  char *copy = strdup(path);
  if (!copy)
    return fleet_error__oom();
  int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  free(copy);
  if (fd < 0)
    return fleet_error__set(FLEET_EIO, "%s: cannot open its directory: %s", path,
                            strerror(errno));
  int rc = fsync(fd) == 0 ? 0
                          : fleet_error__set(FLEET_EIO, "%s: fsync of its directory: %s", path,
                                             strerror(errno));
  close(fd);
  return rc;
}

/*
 * Write `data` to a new temporary file beside `path` (mode 0600), fsync it.
 * On success `tmp` (malloc'ed) names it; the caller renames or links it.
 */
static int write_temp(char **tmp, const char *path, const void *data, size_t len)
{
  size_t n = strlen(path) + 16;
  char *t = malloc(n);
  if (!t)
    return fleet_error__oom();
  snprintf(t, n, "%s.tmp.XXXXXX", path);
  int fd = mkostemp(t, O_CLOEXEC);
  if (fd < 0) {
    int rc = fleet_error__set(FLEET_EIO, "%s: cannot create a temporary file: %s", path,
                              strerror(errno));
    free(t);
    return rc;
  }
  int rc = 0;
  if (fchmod(fd, 0600) != 0 || write_all(fd, data, len) != 0 || fsync(fd) != 0)
    rc = fleet_error__set(FLEET_EIO, "%s: cannot write %s: %s", path, t, strerror(errno));
  if (close(fd) != 0 && rc == 0)
    rc = fleet_error__set(FLEET_EIO, "%s: cannot write %s: %s", path, t, strerror(errno));
  if (rc) {
    unlink(t);
    free(t);
    return rc;
  }
  *tmp = t;
  return 0;
}

/* The whole list to `path`: temporary file, fsync, rename, fsync the directory. */
static int save_users(const char *path, const user_list_t *l)
{
  char *text = serialize_users(l);
  if (!text)
    return fleet_error__oom();
  size_t len = strlen(text);
  char *tmp;
  int rc = write_temp(&tmp, path, text, len);
  free(text);
  if (rc)
    return rc;
  if (rename(tmp, path) != 0) {
    rc = fleet_error__set(FLEET_EIO, "%s: cannot rename %s over it: %s", path, tmp,
                          strerror(errno));
    unlink(tmp);
  }
  free(tmp);
  return rc ? rc : fsync_dir_of(path);
}

/* Read the file; a missing one is an empty list. Fills `st` (st_ino 0 when missing). */
static int load_users(user_list_t *out, struct stat *st, const char *path)
{
  memset(out, 0, sizeof *out);
  memset(st, 0, sizeof *st);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT)
      return 0;
    return fleet_error__set(FLEET_EIO, "%s: cannot open: %s", path, strerror(errno));
  }
  fleet_buf_t b = FLEET_BUF_INIT;
  int rc = fstat(fd, st) != 0 ? fleet_error__set(FLEET_EIO, "%s: fstat: %s", path,
                                                 strerror(errno))
                              : fleet_auth__read_fd(&b, fd, USERS_FILE_MAX, "users file", path);
  close(fd);
  if (rc == 0)
    rc = parse_users(out, b.ptr ? b.ptr : "", b.len, path);
  fleet_buf_dispose(&b);
  return rc;
}

static void remember_stat(fleet_auth_users_t *u, const struct stat *st)
{
  u->seen_exists = st->st_ino != 0;
  u->seen_dev = st->st_dev;
  u->seen_ino = st->st_ino;
  u->seen_size = st->st_size;
  u->seen_mtime = st->st_mtim;
}

/* ------------------------------------------------------------------------ */
/* The users handle                                                         */
/* ------------------------------------------------------------------------ */

int fleet_auth_users_open(fleet_auth_users_t **out, const char *path)
{
  if (!out || !path || !*path)
    return fleet_error__set(FLEET_EINVAL, "users: NULL or empty argument");
  *out = NULL;
  fleet_auth_users_t *u = calloc(1, sizeof *u);
  if (!u)
    return fleet_error__oom();
  size_t n = strlen(path) + 6;
  u->path = strdup(path);
  u->lock_path = malloc(n);
  if (!u->path || !u->lock_path || pthread_rwlock_init(&u->lock, NULL) != 0) {
    free(u->path);
    free(u->lock_path);
    free(u);
    return fleet_error__oom();
  }
  snprintf(u->lock_path, n, "%s.lock", path);
  struct stat st;
  int rc = load_users(&u->list, &st, path);
  if (rc) {
    fleet_auth_users_free(u);
    return rc;
  }
  remember_stat(u, &st);
  *out = u;
  return 0;
}

void fleet_auth_users_free(fleet_auth_users_t *u)
{
  if (!u)
    return;
  list_free(&u->list);
  pthread_rwlock_destroy(&u->lock);
  free(u->path);
  free(u->lock_path);
  free(u);
}

int fleet_auth_users_reload(int *out_changed, fleet_auth_users_t *u)
{
  if (out_changed)
    *out_changed = 0;
  if (!u)
    return fleet_error__set(FLEET_EINVAL, "users: NULL argument");
  struct stat st;
  int exists = stat(u->path, &st) == 0;
  if (!exists && errno != ENOENT)
    return fleet_error__set(FLEET_EIO, "%s: %s", u->path, strerror(errno));
  pthread_rwlock_rdlock(&u->lock);
  int same = exists == u->seen_exists &&
             (!exists || (st.st_dev == u->seen_dev && st.st_ino == u->seen_ino &&
                          st.st_size == u->seen_size &&
                          st.st_mtim.tv_sec == u->seen_mtime.tv_sec &&
                          st.st_mtim.tv_nsec == u->seen_mtime.tv_nsec));
  pthread_rwlock_unlock(&u->lock);
  if (same)
    return 0;
  user_list_t fresh;
  int rc = load_users(&fresh, &st, u->path);
  if (rc)
    return rc;
  pthread_rwlock_wrlock(&u->lock);
  list_free(&u->list);
  u->list = fresh;
  remember_stat(u, &st);
  pthread_rwlock_unlock(&u->lock);
  if (out_changed)
    *out_changed = 1;
  return 0;
}

typedef enum change_kind { CHANGE_ADD, CHANGE_PASSWORD, CHANGE_UPDATE, CHANGE_DELETE } change_kind_t;

typedef struct change {
  change_kind_t kind;
  const char *name;
  char *hash;     /* ADD, PASSWORD: owned */
  fleet_auth_role_t role;
  char *vehicles; /* ADD, UPDATE: canonical, owned */
} change_t;

/* Apply a change to a list read from disk. */
static int apply_change(user_list_t *l, change_t *c, const char *path)
{
  ptrdiff_t at = list_find(l, c->name);
  int64_t now = (int64_t)time(NULL);
  if (c->kind == CHANGE_ADD) {
    if (at >= 0)
      return fleet_error__set(FLEET_EEXISTS, "%s: user '%s' exists already", path, c->name);
    size_t pos = (size_t)(-at - 1);
    user_rec_t *v = realloc(l->v, (l->n + 1) * sizeof *v);
    if (!v)
      return fleet_error__oom();
    l->v = v;
    char *name = strdup(c->name);
    if (!name)
      return fleet_error__oom();
    memmove(&v[pos + 1], &v[pos], (l->n - pos) * sizeof *v);
    v[pos] = (user_rec_t){name, c->hash, c->role, c->vehicles, now, now};
    c->hash = NULL;
    c->vehicles = NULL;
    l->n++;
    return 0;
  }
  if (at < 0)
    return fleet_error__set(FLEET_ENOTFOUND, "%s: no user '%s'", path, c->name);
  user_rec_t *r = &l->v[at];
  switch (c->kind) {
  case CHANGE_PASSWORD:
    fleet_auth__wipe(r->hash, strlen(r->hash));
    free(r->hash);
    r->hash = c->hash;
    c->hash = NULL;
    break;
  case CHANGE_UPDATE:
    free(r->vehicles);
    r->vehicles = c->vehicles;
    c->vehicles = NULL;
    r->role = c->role;
    break;
  case CHANGE_DELETE:
    rec_free(r);
    memmove(r, r + 1, (l->n - (size_t)at - 1) * sizeof *r);
    l->n--;
    return 0;
  case CHANGE_ADD:
    break;
  }
  r->updated = now;
  return 0;
}

/* Lock, re-read, change, write, unlock; then adopt the new list. */
static int commit_change(fleet_auth_users_t *u, change_t *c)
{
  int lfd = open(u->lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lfd < 0)
    return fleet_error__set(FLEET_EIO, "%s: cannot open the lock file: %s", u->lock_path,
                            strerror(errno));
  while (flock(lfd, LOCK_EX) != 0) {
    if (errno != EINTR) {
      int rc = fleet_error__set(FLEET_EIO, "%s: flock: %s", u->lock_path, strerror(errno));
      close(lfd);
      return rc;
    }
  }
  user_list_t l;
  struct stat st;
  int rc = load_users(&l, &st, u->path);
  if (rc == 0)
    rc = apply_change(&l, c, u->path);
  if (rc == 0)
    rc = save_users(u->path, &l);
  if (rc == 0 && stat(u->path, &st) != 0)
    memset(&st, 0, sizeof st);
  close(lfd);
  if (rc) {
    list_free(&l);
    return rc;
  }
  pthread_rwlock_wrlock(&u->lock);
  list_free(&u->list);
  u->list = l;
  remember_stat(u, &st);
  pthread_rwlock_unlock(&u->lock);
  return 0;
}

static int check_name(const char *name)
{
  if (!name)
    return fleet_error__set(FLEET_EINVAL, "user name: NULL");
  if (!fleet_auth_username_valid(name)) {
    char q[FLEET_AUTH_QUOTE_MAX];
    return fleet_error__set(FLEET_EINVAL,
                            "user name: %s is not 1-%u characters of [A-Za-z0-9._@-]",
                            fleet_auth__quote(q, name, strlen(name)), FLEET_AUTH_USERNAME_MAX);
  }
  return 0;
}

static void change_dispose(change_t *c)
{
  if (c->hash)
    fleet_auth__wipe(c->hash, strlen(c->hash));
  free(c->hash);
  free(c->vehicles);
}

int fleet_auth_users_add(fleet_auth_users_t *u, const char *name, const char *password,
                         fleet_auth_role_t role, const char *vehicles)
{
  if (!u)
    return fleet_error__set(FLEET_EINVAL, "users: NULL argument");
  int rc;
  if ((rc = check_name(name)) || (rc = password_check_input(password)))
    return rc;
  if (!fleet_auth_role_name(role))
    return fleet_error__set(FLEET_EINVAL, "role: %d is not a role", (int)role);
  change_t c = {CHANGE_ADD, name, NULL, role, NULL};
  if ((rc = fleet_auth__vehicles_canonical(&c.vehicles, vehicles ? vehicles : "*",
                                           "vehicles")) == 0 &&
      (rc = fleet_auth_password_hash(&c.hash, password)) == 0)
    rc = commit_change(u, &c);
  change_dispose(&c);
  return rc;
}

int fleet_auth_users_set_password(fleet_auth_users_t *u, const char *name, const char *password)
{
  if (!u)
    return fleet_error__set(FLEET_EINVAL, "users: NULL argument");
  int rc;
  if ((rc = check_name(name)) || (rc = password_check_input(password)))
    return rc;
  change_t c = {CHANGE_PASSWORD, name, NULL, FLEET_AUTH_ROLE_VIEWER, NULL};
  if ((rc = fleet_auth_password_hash(&c.hash, password)) == 0)
    rc = commit_change(u, &c);
  change_dispose(&c);
  return rc;
}

int fleet_auth_users_update(fleet_auth_users_t *u, const char *name, fleet_auth_role_t role,
                            const char *vehicles)
{
  if (!u)
    return fleet_error__set(FLEET_EINVAL, "users: NULL argument");
  int rc;
  if ((rc = check_name(name)) != 0)
    return rc;
  if (!fleet_auth_role_name(role))
    return fleet_error__set(FLEET_EINVAL, "role: %d is not a role", (int)role);
  change_t c = {CHANGE_UPDATE, name, NULL, role, NULL};
  if ((rc = fleet_auth__vehicles_canonical(&c.vehicles, vehicles ? vehicles : "*",
                                           "vehicles")) == 0)
    rc = commit_change(u, &c);
  change_dispose(&c);
  return rc;
}

int fleet_auth_users_delete(fleet_auth_users_t *u, const char *name)
{
  if (!u)
    return fleet_error__set(FLEET_EINVAL, "users: NULL argument");
  int rc;
  if ((rc = check_name(name)) != 0)
    return rc;
  change_t c = {CHANGE_DELETE, name, NULL, FLEET_AUTH_ROLE_VIEWER, NULL};
  return commit_change(u, &c);
}

size_t fleet_auth_users_count(const fleet_auth_users_t *u)
{
  if (!u)
    return 0;
  fleet_auth_users_t *mu = (fleet_auth_users_t *)u;
  pthread_rwlock_rdlock(&mu->lock);
  size_t n = u->list.n;
  pthread_rwlock_unlock(&mu->lock);
  return n;
}

static int user_out(fleet_auth_user_t **out, const user_rec_t *r)
{
  fleet_auth_user_t *x = malloc(sizeof *x);
  if (!x)
    return fleet_error__oom();
  int rc = rec_copy(&x->rec, r, 0);
  if (rc) {
    free(x);
    return rc;
  }
  *out = x;
  return 0;
}

int fleet_auth_users_get_at(fleet_auth_user_t **out, const fleet_auth_users_t *u, size_t index)
{
  if (!out || !u)
    return fleet_error__set(FLEET_EINVAL, "users: NULL argument");
  *out = NULL;
  fleet_auth_users_t *mu = (fleet_auth_users_t *)u;
  pthread_rwlock_rdlock(&mu->lock);
  int rc = index < u->list.n ? user_out(out, &u->list.v[index])
                             : fleet_error__set(FLEET_ENOTFOUND, "users: no user at index %zu "
                                                                 "(%zu users)",
                                                index, u->list.n);
  pthread_rwlock_unlock(&mu->lock);
  return rc;
}

int fleet_auth_users_get(fleet_auth_user_t **out, const fleet_auth_users_t *u, const char *name)
{
  if (!out || !u || !name)
    return fleet_error__set(FLEET_EINVAL, "users: NULL argument");
  *out = NULL;
  fleet_auth_users_t *mu = (fleet_auth_users_t *)u;
  pthread_rwlock_rdlock(&mu->lock);
  ptrdiff_t at = list_find(&u->list, name);
  char q[FLEET_AUTH_QUOTE_MAX];
  int rc = at >= 0 ? user_out(out, &u->list.v[at])
                   : fleet_error__set(FLEET_ENOTFOUND, "%s: no user %s", u->path,
                                      fleet_auth__quote(q, name, strlen(name)));
  pthread_rwlock_unlock(&mu->lock);
  return rc;
}

int fleet_auth_users_authenticate(fleet_auth_claims_t **out, const fleet_auth_users_t *u,
                                  const char *name, const char *password)
{
  if (!out || !u || !name || !password)
    return fleet_error__set(FLEET_EINVAL, "authenticate: NULL argument");
  *out = NULL;
  char q[FLEET_AUTH_QUOTE_MAX];
  fleet_auth_users_t *mu = (fleet_auth_users_t *)u;
  user_rec_t r;
  int rc = 0, found = 0;
  pthread_rwlock_rdlock(&mu->lock);
  ptrdiff_t at = list_find(&u->list, name);
  if (at >= 0) {
    rc = rec_copy(&r, &u->list.v[at], 1);
    found = rc == 0;
  }
  pthread_rwlock_unlock(&mu->lock);
  if (rc)
    return rc;
  fleet_auth__quote(q, name, strlen(name));
  if (!found) {
    /* Same work as for a real user, so timing does not tell which names exist. */
    dummy_crypt(password);
    return fleet_error__set(FLEET_EAUTH, "user %s: unknown user", q);
  }
  rc = fleet_auth_password_check(r.hash, password);
  if (rc == FLEET_EAUTH) {
    char detail[FLEET_ERROR_MAX];
    snprintf(detail, sizeof detail, "%s", fleet_error_last());
    rc = fleet_error__set(FLEET_EAUTH, "user %s: %s", q, detail);
  } else if (rc == 0) {
    fleet_auth_user_t x = {r};
    rc = fleet_auth_user_claims(out, &x);
  }
  rec_free(&r);
  return rc;
}

void fleet_auth_user_free(fleet_auth_user_t *x)
{
  if (!x)
    return;
  rec_free(&x->rec);
  free(x);
}

const char *fleet_auth_user_name(const fleet_auth_user_t *x)
{
  return x ? x->rec.name : "";
}

fleet_auth_role_t fleet_auth_user_role(const fleet_auth_user_t *x)
{
  return x ? x->rec.role : FLEET_AUTH_ROLE_VIEWER;
}

const char *fleet_auth_user_vehicles(const fleet_auth_user_t *x)
{
  return x ? x->rec.vehicles : "";
}

int64_t fleet_auth_user_created(const fleet_auth_user_t *x)
{
  return x ? x->rec.created : 0;
}

int64_t fleet_auth_user_updated(const fleet_auth_user_t *x)
{
  return x ? x->rec.updated : 0;
}

int fleet_auth_user_claims(fleet_auth_claims_t **out, const fleet_auth_user_t *x)
{
  if (!out || !x)
    return fleet_error__set(FLEET_EINVAL, "user claims: NULL argument");
  *out = NULL;
  fleet_auth_claims_t *c;
  int rc = fleet_auth_claims_new(&c, x->rec.name, x->rec.role);
  if (rc == 0 && (rc = fleet_auth_claims_set_vehicles(c, x->rec.vehicles)) != 0) {
    fleet_auth_claims_free(c);
    return rc;
  }
  if (rc == 0)
    *out = c;
  return rc;
}

/* ------------------------------------------------------------------------ */
/* Server secret                                                            */
/* ------------------------------------------------------------------------ */

static int secret_create(const char *path)
{
  unsigned char raw[FLEET_AUTH_SECRET_CREATE_BYTES];
  int rc = fleet_auth__random(raw, sizeof raw);
  char *tmp = NULL;
  if (rc == 0)
    rc = write_temp(&tmp, path, raw, sizeof raw);
  fleet_auth__wipe(raw, sizeof raw);
  if (rc)
    return rc;
  /* link() fails when the file exists: a process that lost the race to
   * create the secret reads the winner's instead of replacing it. */
  if (link(tmp, path) != 0 && errno != EEXIST)
    rc = fleet_error__set(FLEET_EIO, "%s: cannot create: %s", path, strerror(errno));
  unlink(tmp);
  free(tmp);
  return rc ? rc : fsync_dir_of(path);
}

int fleet_auth_secret_load_or_create(fleet_buf_t *out, const char *path)
{
  if (!out || !path)
    return fleet_error__set(FLEET_EINVAL, "secret: NULL argument");
  fleet_buf_clear(out);
  struct stat st;
  if (lstat(path, &st) != 0) {
    if (errno != ENOENT)
      return fleet_error__set(FLEET_EIO, "%s: %s", path, strerror(errno));
    int rc = secret_create(path);
    if (rc)
      return rc;
    if (lstat(path, &st) != 0)
      return fleet_error__set(FLEET_EIO, "%s: %s", path, strerror(errno));
  }
  if (!S_ISREG(st.st_mode))
    return fleet_error__set(FLEET_EINVAL, "%s: not a regular file", path);
  if (st.st_mode & 077)
    return fleet_error__set(FLEET_EINVAL,
                            "%s: mode %04o lets other users read the signing secret; "
                            "chmod 600 it",
                            path, (unsigned int)(st.st_mode & 07777));
  int rc = fleet_auth__read_file(out, path, FLEET_AUTH_KEY_MAX, "secret");
  if (rc == 0 && out->len < FLEET_AUTH_SECRET_MIN)
    rc = fleet_error__set(FLEET_EINVAL, "%s: %zu bytes; a secret needs at least %u", path,
                          out->len, FLEET_AUTH_SECRET_MIN);
  if (rc) {
    fleet_auth__wipe(out->ptr, out->cap);
    fleet_buf_clear(out);
  }
  return rc;
}
