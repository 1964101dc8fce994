/*
 * input: the lines of fleetctl's FILE operands (or standard input), in order,
 * numbered per input, for every subcommand that reads one payload per line;
 * and the command-line reporting those subcommands share.
 */
#ifndef FLEETCTL_INPUT_H
#define FLEETCTL_INPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/** How standard input is named in messages ("-" on the command line). */
#define FLEETCTL_STDIN_NAME "(stdin)"

/** A reader over the operands. Plain data; set up with fleetctl_input_init(). */
typedef struct fleetctl_input {
  const char *prog;        /* "fleetctl validate", for messages */
  char *const *paths;      /* the operands, borrowed; none means standard input */
  size_t npaths;
  size_t next;             /* operand to open next */
  FILE *fp;                /* the input being read, NULL between inputs */
  const char *name;        /* its display name */
  unsigned long lineno;    /* number of the current line in its input, from 1 */
  char *line;              /* the current line without its line end; may hold NULs */
  size_t len;              /* its length in bytes */
  size_t cap;              /* allocated size of `line` */
  bool io_error;           /* an input could not be opened or read (reported) */
} fleetctl_input_t;

/**
 * Check before reading anything that every operand is a readable file ("-" is
 * standard input). Reports each one that is not on stderr as
 * "PROG: cannot read 'PATH': REASON". Returns true when all are readable.
 */
bool fleetctl_input_check(const char *prog, char *const *paths, size_t npaths);

/** Set up `in` over `paths` (borrowed; npaths 0 reads standard input). */
void fleetctl_input_init(fleetctl_input_t *in, const char *prog, char *const *paths,
                         size_t npaths);

/**
 * Advance to the next line of the inputs, however long (the line end, "\n" or
 * "\r\n", is removed). Returns true with line/len/name/lineno set, false when
 * every input is read. An input that fails to open or read is reported on
 * stderr, sets io_error, and the next one is read.
 */
bool fleetctl_input_next(fleetctl_input_t *in);

/** Close the current input and free the line buffer. */
void fleetctl_input_close(fleetctl_input_t *in);

/** True when the line holds nothing but spaces, tabs and carriage returns. */
bool fleetctl_line_blank(const char *line, size_t len);

/**
 * Print where the current line is, followed by ": ": "LINE: " with one input,
 * "NAME:LINE: " with several.
 */
void fleetctl_input_where(FILE *out, const fleetctl_input_t *in);

/**
 * Report a bad option found by getopt_long() (called with opterr = 0 and an
 * optstring starting with ':'): `c` is what it returned (':' for a missing
 * value, '?' for an unknown option). Prints "PROG: unknown option '--x'" or
 * "PROG: option '--x' needs a value" and a hint to --help on stderr.
 */
void fleetctl_bad_option(const char *prog, char *const *argv, int c);

/**
 * Flush standard output and check it for write errors (a full disk, a closed
 * pipe); reports one on stderr. Returns true when everything was written.
 */
bool fleetctl_flush_stdout(const char *prog);

#endif
