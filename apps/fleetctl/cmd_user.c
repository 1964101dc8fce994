/*
 * fleetctl user add|passwd|set|del|list|check: the users file of a state directory
 * (STATE_DIR/users.json), as read by fleetd's gateway.
 * fleetctl token: issue a token for a user (scripts, tests), or verify one
 * and print its claims.
 *
 * Passwords come from standard input: on a terminal they are asked twice
 * without echo; otherwise the first line is the password. They never appear
 * on the command line, where other users could read them in ps.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <jansson.h>

#include <fleet/fleet.h>

#include "fleetctl.h"

static void user_usage(FILE *out)
{
  fprintf(out,
          "usage: fleetctl user add NAME --role admin|viewer [--vehicles LIST] [--state-dir DIR]\n"
          "       fleetctl user passwd NAME [--state-dir DIR]\n"
          "       fleetctl user set NAME [--role admin|viewer] [--vehicles LIST] "
          "[--state-dir DIR]\n"
          "       fleetctl user del NAME [--state-dir DIR]\n"
          "       fleetctl user list [--json] [--state-dir DIR]\n"
          "       fleetctl user check NAME [--state-dir DIR]\n\n"
          "Manage the users of the gateway in DIR/users.json (mode 0600, rewritten\n"
          "atomically). DIR defaults to $FLEET_STATE_DIR and must exist.\n\n"
          "NAME      1-64 characters of [A-Za-z0-9._@-]\n"
          "--role    admin (may change zones, rules, users) or viewer (read only)\n"
          "--vehicles  the vehicles the user may see: '*' (all, the default) or a\n"
          "          comma-separated list of vehicle ids (v-001,v-002); '' for none\n"
          "--json    list as a JSON array\n\n"
          "add and passwd read the password from standard input: on a terminal it is\n"
          "asked twice without echo, otherwise the first line is taken (1-511 bytes,\n"
          "an empty password is refused). check reads a password the same way (asked\n"
          "once) and exits with status 0 when it is the user's, 1 when not.\n");
}

static void token_usage(FILE *out)
{
  fprintf(out,
          "usage: fleetctl token NAME [--ttl SECONDS] [--refresh] [OPTIONS]\n"
          "       fleetctl token --verify [TOKEN|-] [--refresh] [OPTIONS]\n\n"
          "The first form prints a token for user NAME of DIR/users.json, signed with\n"
          "DIR/jwt.secret (created on first use): an access token (default 900 s) or,\n"
          "with --refresh, a refresh token (default 604800 s).\n"
          "The second form verifies TOKEN (or the first line of standard input when\n"
          "TOKEN is '-' or missing) against DIR/jwt.secret and prints its claims as\n"
          "JSON; exit status 1 and the reason on standard error when it is refused.\n"
          "--refresh then expects a refresh token.\n\n"
          "options:\n"
          "  --state-dir DIR   the state directory (default $FLEET_STATE_DIR)\n"
          "  --issuer ISS      write / require this `iss`\n"
          "  --audience AUD    write / require this `aud`\n");
}

/* "--name VALUE" or "--name=VALUE"; advances *i past what it took. */
static int opt_value(const char **out, int argc, char **argv, int *i, const char *name)
{
  size_t n = strlen(name);
  if (strncmp(argv[*i], name, n) != 0)
    return 0;
  if (argv[*i][n] == '=') {
    *out = argv[*i] + n + 1;
    return 1;
  }
  if (argv[*i][n] != '\0')
    return 0;
  if (*i + 1 >= argc) {
    *out = NULL;
    return -1;
  }
  *out = argv[++*i];
  return 1;
}

static const char *state_dir_or_env(const char *dir, const char *cmd)
{
  if (!dir)
    dir = getenv("FLEET_STATE_DIR");
  if (!dir || !*dir) {
    fprintf(stderr, "%s: no state directory: give --state-dir DIR or set FLEET_STATE_DIR\n", cmd);
    return NULL;
  }
  struct stat st;
  if (stat(dir, &st) != 0) {
    fprintf(stderr, "%s: state directory %s: %s\n", cmd, dir, strerror(errno));
    return NULL;
  }
  if (!S_ISDIR(st.st_mode)) {
    fprintf(stderr, "%s: state directory %s: not a directory\n", cmd, dir);
    return NULL;
  }
  return dir;
}

/* One line of standard input, without its line break; NULL at EOF or error. */
static char *read_line(FILE *in)
{
  char *line = NULL;
  size_t cap = 0;
  ssize_t n = getline(&line, &cap, in);
  if (n < 0) {
    free(line);
    return NULL;
  }
  if ((size_t)n != strlen(line)) {
    /* A NUL byte inside: refuse rather than silently cut the password. */
    explicit_bzero(line, cap);
    free(line);
    return NULL;
  }
  while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
    line[--n] = '\0';
  return line;
}

static void free_secret(char *s)
{
  if (s) {
    explicit_bzero(s, strlen(s));
    free(s);
  }
}

static char *prompt_hidden(const char *prompt)
{
  struct termios old, quiet;
  int have_tty = tcgetattr(STDIN_FILENO, &old) == 0;
  /* Echo goes off (dropping anything typed earlier) before the prompt shows,
   * so an answer typed after the prompt is never flushed away. */
  if (have_tty) {
    quiet = old;
    quiet.c_lflag &= ~(tcflag_t)ECHO;
    quiet.c_lflag |= ECHONL;
    tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
  }
  fputs(prompt, stderr);
  fflush(stderr);
  char *line = read_line(stdin);
  if (have_tty)
    tcsetattr(STDIN_FILENO, TCSADRAIN, &old);
  return line;
}

/* The new password: asked twice on a terminal, else the first line of stdin. */
static char *read_new_password(const char *cmd, const char *name)
{
  char *pw;
  if (isatty(STDIN_FILENO)) {
    char prompt[128];
    snprintf(prompt, sizeof prompt, "New password for %s: ", name);
    pw = prompt_hidden(prompt);
    if (pw && *pw) {
      char *again = prompt_hidden("Repeat the password: ");
      int same = again && !strcmp(pw, again);
      free_secret(again);
      if (!same) {
        free_secret(pw);
        fprintf(stderr, "%s: the passwords differ\n", cmd);
        return NULL;
      }
    }
  } else {
    pw = read_line(stdin);
  }
  if (!pw) {
    fprintf(stderr, "%s: no password on standard input (one line expected)\n", cmd);
    return NULL;
  }
  if (!*pw) {
    free(pw);
    fprintf(stderr, "%s: refusing an empty password\n", cmd);
    return NULL;
  }
  return pw;
}

static char *users_path(const char *dir)
{
  size_t n = strlen(dir) + sizeof FLEET_AUTH_USERS_FILE + 2;
  char *p = malloc(n);
  if (p)
    snprintf(p, n, "%s/%s", dir, FLEET_AUTH_USERS_FILE);
  return p;
}

static int fail(const char *cmd)
{
  fprintf(stderr, "%s: %s\n", cmd, fleet_error_last());
  return FLEETCTL_FAIL;
}

static void format_time(char out[FLEET_TIME_STRLEN], int64_t s)
{
  fleet_time_format(out, s * INT64_C(1000000000));
}

static int list_users(const fleet_auth_users_t *u, int as_json)
{
  size_t n = fleet_auth_users_count(u);
  json_t *arr = as_json ? json_array() : NULL;
  if (!as_json)
    printf("%-24s %-7s %-20s %-20s %s\n", "NAME", "ROLE", "CREATED", "UPDATED", "VEHICLES");
  for (size_t i = 0; i < n; i++) {
    fleet_auth_user_t *x;
    if (fleet_auth_users_get_at(&x, u, i) != 0)
      break; /* the list shrank meanwhile */
    char created[FLEET_TIME_STRLEN], updated[FLEET_TIME_STRLEN];
    format_time(created, fleet_auth_user_created(x));
    format_time(updated, fleet_auth_user_updated(x));
    const char *veh = fleet_auth_user_vehicles(x);
    const char *role = fleet_auth_role_name(fleet_auth_user_role(x));
    if (as_json) {
      json_t *v;
      if (!strcmp(veh, "*")) {
        v = json_string("*");
      } else {
        v = json_array();
        for (const char *p = veh; *p;) {
          const char *c = strchr(p, ',');
          size_t len = c ? (size_t)(c - p) : strlen(p);
          json_array_append_new(v, json_stringn(p, len));
          p += len + (c != NULL);
        }
      }
      json_array_append_new(arr, json_pack("{s:s, s:s, s:o, s:s, s:s}", "name",
                                           fleet_auth_user_name(x), "role", role, "vehicles", v,
                                           "created", created, "updated", updated));
    } else {
      printf("%-24s %-7s %-20s %-20s %s\n", fleet_auth_user_name(x), role, created, updated,
             *veh ? veh : "(none)");
    }
    fleet_auth_user_free(x);
  }
  if (as_json) {
    char *s = json_dumps(arr, JSON_INDENT(2));
    if (s)
      printf("%s\n", s);
    free(s);
    json_decref(arr);
  }
  return FLEETCTL_OK;
}

int cmd_user(int argc, char **argv)
{
  if (argc < 2) {
    user_usage(stderr);
    return FLEETCTL_USAGE;
  }
  const char *sub = argv[1];
  if (!strcmp(sub, "--help") || !strcmp(sub, "-h") || !strcmp(sub, "help")) {
    user_usage(stdout);
    return FLEETCTL_OK;
  }
  char cmd[64];
  snprintf(cmd, sizeof cmd, "fleetctl user %.32s", sub);
  const char *name = NULL, *role_s = NULL, *vehicles = NULL, *dir = NULL;
  int as_json = 0;
  for (int i = 2; i < argc; i++) {
    const char *v;
    int r;
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      user_usage(stdout);
      return FLEETCTL_OK;
    } else if ((r = opt_value(&v, argc, argv, &i, "--role")) != 0) {
      role_s = v;
    } else if ((r = opt_value(&v, argc, argv, &i, "--vehicles")) != 0) {
      vehicles = v;
    } else if ((r = opt_value(&v, argc, argv, &i, "--state-dir")) != 0) {
      dir = v;
    } else if (!strcmp(argv[i], "--json")) {
      as_json = 1;
      continue;
    } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
      fprintf(stderr, "%s: unknown option %s\n", cmd, argv[i]);
      user_usage(stderr);
      return FLEETCTL_USAGE;
    } else if (!name) {
      name = argv[i];
      continue;
    } else {
      fprintf(stderr, "%s: unexpected argument %s\n", cmd, argv[i]);
      return FLEETCTL_USAGE;
    }
    if (r < 0) {
      fprintf(stderr, "%s: %s needs a value\n", cmd, argv[i]);
      return FLEETCTL_USAGE;
    }
  }
  int is_add = !strcmp(sub, "add"), is_passwd = !strcmp(sub, "passwd"),
      is_set = !strcmp(sub, "set"), is_del = !strcmp(sub, "del") || !strcmp(sub, "delete"),
      is_list = !strcmp(sub, "list"), is_check = !strcmp(sub, "check");
  if (!is_add && !is_passwd && !is_set && !is_del && !is_list && !is_check) {
    fprintf(stderr, "fleetctl user: unknown subcommand '%s'\n", sub);
    user_usage(stderr);
    return FLEETCTL_USAGE;
  }
  if (is_list ? name != NULL : name == NULL) {
    fprintf(stderr, "%s: %s\n", cmd, is_list ? "takes no NAME" : "NAME is missing");
    return FLEETCTL_USAGE;
  }
  if ((role_s || vehicles) && !is_add && !is_set) {
    fprintf(stderr, "%s: --role and --vehicles belong to add and set\n", cmd);
    return FLEETCTL_USAGE;
  }
  if (as_json && !is_list) {
    fprintf(stderr, "%s: --json belongs to list\n", cmd);
    return FLEETCTL_USAGE;
  }
  fleet_auth_role_t role = FLEET_AUTH_ROLE_VIEWER;
  if (is_add && !role_s) {
    fprintf(stderr, "%s: --role admin|viewer is required\n", cmd);
    return FLEETCTL_USAGE;
  }
  if (role_s && fleet_auth_role_parse(&role, role_s) != 0) {
    fprintf(stderr, "%s: --role: '%s' is not admin or viewer\n", cmd, role_s);
    return FLEETCTL_USAGE;
  }
  if (name && !fleet_auth_username_valid(name)) {
    fprintf(stderr, "%s: '%s' is not a user name (1-64 characters of [A-Za-z0-9._@-])\n", cmd,
            name);
    return FLEETCTL_USAGE;
  }
  if (!(dir = state_dir_or_env(dir, cmd)))
    return FLEETCTL_FAIL;
  char *path = users_path(dir);
  fleet_auth_users_t *u = NULL;
  if (!path || fleet_auth_users_open(&u, path) != 0) {
    free(path);
    return fail(cmd);
  }
  free(path);

  int status = FLEETCTL_OK;
  if (is_list) {
    status = list_users(u, as_json);
  } else if (is_add || is_passwd) {
    fleet_auth_user_t *x = NULL;
    int exists = fleet_auth_users_get(&x, u, name) == 0;
    fleet_auth_user_free(x);
    if (is_add && exists) {
      fprintf(stderr, "%s: user '%s' exists already (use passwd or set)\n", cmd, name);
      status = FLEETCTL_FAIL;
    } else if (is_passwd && !exists) {
      fprintf(stderr, "%s: no user '%s'\n", cmd, name);
      status = FLEETCTL_FAIL;
    } else {
      char *pw = read_new_password(cmd, name);
      if (!pw)
        status = FLEETCTL_FAIL;
      else if ((is_add ? fleet_auth_users_add(u, name, pw, role, vehicles ? vehicles : "*")
                       : fleet_auth_users_set_password(u, name, pw)) != 0)
        status = fail(cmd);
      else
        fprintf(stderr, "%s: %s '%s'\n", cmd, is_add ? "added" : "changed the password of",
                name);
      free_secret(pw);
    }
  } else if (is_check) {
    char *pw = isatty(STDIN_FILENO) ? prompt_hidden("Password: ") : read_line(stdin);
    fleet_auth_claims_t *c = NULL;
    if (!pw) {
      fprintf(stderr, "%s: no password on standard input (one line expected)\n", cmd);
      status = FLEETCTL_FAIL;
    } else if (fleet_auth_users_authenticate(&c, u, name, pw) != 0) {
      status = fail(cmd);
    } else {
      printf("ok: %s (%s)\n", name, fleet_auth_role_name(fleet_auth_claims_role(c)));
    }
    fleet_auth_claims_free(c);
    free_secret(pw);
  } else if (is_set) {
    fleet_auth_user_t *x = NULL;
    if (fleet_auth_users_get(&x, u, name) != 0) {
      status = fail(cmd);
    } else {
      if (!role_s)
        role = fleet_auth_user_role(x);
      if (fleet_auth_users_update(u, name, role, vehicles ? vehicles : fleet_auth_user_vehicles(x)))
        status = fail(cmd);
      fleet_auth_user_free(x);
    }
  } else if (fleet_auth_users_delete(u, name) != 0) {
    status = fail(cmd);
  } else {
    fprintf(stderr, "%s: deleted '%s'\n", cmd, name);
  }
  fleet_auth_users_free(u);
  return status;
}

int cmd_token(int argc, char **argv)
{
  const char *cmd = "fleetctl token";
  const char *name = NULL, *dir = NULL, *ttl_s = NULL, *issuer = NULL, *audience = NULL;
  const char *token_arg = NULL;
  int refresh = 0, verify = 0;
  for (int i = 1; i < argc; i++) {
    const char *v;
    int r;
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      token_usage(stdout);
      return FLEETCTL_OK;
    } else if (!strcmp(argv[i], "--refresh")) {
      refresh = 1;
      continue;
    } else if (!strcmp(argv[i], "--verify")) {
      verify = 1;
      if (i + 1 < argc && (argv[i + 1][0] != '-' || !strcmp(argv[i + 1], "-")))
        token_arg = argv[++i];
      continue;
    } else if ((r = opt_value(&v, argc, argv, &i, "--state-dir")) != 0) {
      dir = v;
    } else if ((r = opt_value(&v, argc, argv, &i, "--ttl")) != 0) {
      ttl_s = v;
    } else if ((r = opt_value(&v, argc, argv, &i, "--issuer")) != 0) {
      issuer = v;
    } else if ((r = opt_value(&v, argc, argv, &i, "--audience")) != 0) {
      audience = v;
    } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
      fprintf(stderr, "%s: unknown option %s\n", cmd, argv[i]);
      token_usage(stderr);
      return FLEETCTL_USAGE;
    } else if (!name) {
      name = argv[i];
      continue;
    } else {
      fprintf(stderr, "%s: unexpected argument %s\n", cmd, argv[i]);
      return FLEETCTL_USAGE;
    }
    if (r < 0) {
      fprintf(stderr, "%s: %s needs a value\n", cmd, argv[i]);
      return FLEETCTL_USAGE;
    }
  }
  if (verify ? name != NULL || ttl_s != NULL : name == NULL) {
    fprintf(stderr, "%s: %s\n", cmd,
            verify ? "--verify takes a token, not a NAME or --ttl" : "NAME is missing");
    token_usage(stderr);
    return FLEETCTL_USAGE;
  }
  int64_t ttl = 0;
  if (ttl_s) {
    char *end;
    errno = 0;
    long long t = strtoll(ttl_s, &end, 10);
    if (errno || end == ttl_s || *end || t < 1 || t > FLEET_AUTH_TTL_MAX) {
      fprintf(stderr, "%s: --ttl: '%s' is not a number of seconds in 1-%d\n", cmd, ttl_s,
              FLEET_AUTH_TTL_MAX);
      return FLEETCTL_USAGE;
    }
    ttl = t;
  }
  if (!(dir = state_dir_or_env(dir, cmd)))
    return FLEETCTL_FAIL;
  fleet_auth_options_t o = FLEET_AUTH_OPTIONS_INIT;
  o.issuer = issuer;
  o.audience = audience;
  fleet_auth_t *auth = NULL;
  if (fleet_auth_open(&auth, dir, &o) != 0)
    return fail(cmd);
  fleet_auth_token_type_t type = refresh ? FLEET_AUTH_TOKEN_REFRESH : FLEET_AUTH_TOKEN_ACCESS;
  int status = FLEETCTL_OK;
  if (verify) {
    char *line = NULL;
    const char *tok = token_arg;
    if (!tok || !strcmp(tok, "-")) {
      line = read_line(stdin);
      tok = line ? line : "";
    }
    fleet_auth_claims_t *c = NULL;
    if (fleet_auth_verify(&c, fleet_auth_verifier(auth), tok, strlen(tok), type) != 0) {
      fprintf(stderr, "%s: refused: %s\n", cmd, fleet_error_last());
      status = FLEETCTL_FAIL;
    } else {
      fleet_buf_t b = FLEET_BUF_INIT;
      if (fleet_auth_claims_to_json(&b, c) != 0) {
        status = fail(cmd);
      } else {
        printf("%s\n", b.ptr);
      }
      fleet_buf_dispose(&b);
    }
    fleet_auth_claims_free(c);
    free(line);
  } else {
    fleet_auth_user_t *x = NULL;
    fleet_auth_claims_t *who = NULL;
    char *tok = NULL;
    if (fleet_auth_users_get(&x, fleet_auth_users(auth), name) != 0 ||
        fleet_auth_user_claims(&who, x) != 0 ||
        fleet_auth_signer_issue(&tok, NULL, fleet_auth_signer(auth), who, type, ttl) != 0)
      status = fail(cmd);
    else
      printf("%s\n", tok);
    fleet_free(tok);
    fleet_auth_claims_free(who);
    fleet_auth_user_free(x);
  }
  fleet_auth_free(auth);
  return status;
}
