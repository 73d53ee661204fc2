// SPDX-License-Identifier: Apache-2.0
// core/records.h: the records.config settings table (ATS 9 syntax, the subset tlsedge uses).
//
// Each module declares the names it knows, with a type and a default, into one table before the
// file is read; the file then sets values. A line is
//     CONFIG|LOCAL name INT|STRING|FLOAT value
// with `#` comment lines and blank lines allowed and leading whitespace ignored. As in ATS:
// a STRING value is the rest of the line, trimmed, and the value NULL means the empty string;
// an INT is decimal with an optional sign and an optional single suffix K, M, G or T (powers of
// 1024), or hexadecimal written 0x...; a FLOAT is anything strtod() reads completely. Unlike
// ATS, trailing garbage after a number is an error rather than being ignored. A name that no
// module declared is a warning (reported once per name and load) and is ignored, so an ATS
// records.config carries over; a malformed line or a bad value is an error naming the file and
// line. All problems of a file are collected in one pass. A later line overrides an earlier one.
//
// Threads: a table is built by one thread (the main thread: declare, load, set) and is not
// locked. Once built it is never changed again (reload builds a new table), so any number of
// threads may then call the getters on it concurrently; the getters only read. Lookups are a
// binary search over the sorted names: fine at configuration build time, not meant for hot paths
// (modules copy what they need into their own snapshot parts).
//
// Ownership: the table owns every name and string it holds; strings handed out by
// core_records_get_str() live as long as the table.
#ifndef TLSEDGE_CORE_RECORDS_H
#define TLSEDGE_CORE_RECORDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct core_err;
struct core_records;

// enum core_rec_type: the value types of records.config (the TYPE keyword of a line).
enum core_rec_type {
    CORE_REC_INT,    // "INT": int64_t
    CORE_REC_STRING, // "STRING": text, possibly empty
    CORE_REC_FLOAT,  // "FLOAT": double
};

// core_records_new returns an empty table, or NULL when memory runs out. The caller owns it
// and releases it with core_records_free(). Any thread; the table is then used by one thread
// until it is complete.
struct core_records *core_records_new(void);

// core_records_free releases r and everything it owns. r may be NULL (nothing happens). No
// other thread may still be reading r.
void core_records_free(struct core_records *r);

// core_records_declare makes name known with type and the default default_value, written as it
// would be in the file ("4K", "0x10", "1.5", "NULL"; NULL means the empty string for a STRING).
// The record starts out "not set" (core_records_is_set() is false). Returns 0; -EEXIST when name
// is already declared (whatever its type); -EINVAL when name is empty or contains whitespace,
// or when default_value does not parse as type (a programming error in the declaring module,
// reported rather than asserted so a test can check it); -ENOMEM. name and default_value are
// struct core_rec_decl: one name a module knows, for core_records_declare_all.
struct core_rec_decl {
    const char *name;
    enum core_rec_type type;
    const char *default_value;
};

// core_records_declare_all declares the n names of decls (see core_records_declare). Returns 0,
// or the first failure's negative errno. Main thread.
int core_records_declare_all(struct core_records *r, const struct core_rec_decl *decls, size_t n);

// borrowed (copied). Building thread only.
int core_records_declare(struct core_records *r, const char *name, enum core_rec_type type,
                         const char *default_value);

// core_records_load reads the file at path and applies it to r (see core_records_parse; each
// problem is recorded as path:line, with path as given). Returns 0 when the file had no error
// (warnings do not count); -ENOENT when the file does not exist, with nothing recorded, so the
// caller can fall back to the defaults; -EINVAL when the file had one or more errors (all
// recorded in err); another negative errno when the file cannot be read (recorded). On -EINVAL
// the lines that were valid have been applied: a caller that must not see a half-applied file
// loads into a copy (core_records_dup) and keeps the old table on failure. err may be NULL.
// Building thread only.
int core_records_load(struct core_records *r, const char *path, struct core_err *err);

// core_records_parse applies the len bytes of records.config text at text (need not be
// NUL-terminated) to r, naming the source name (may be NULL) in every error and warning.
// Returns 0 when there was no error, -EINVAL when there was at least one (each recorded in err
// with its line), -ENOMEM. text is borrowed. err may be NULL. Building thread only.
int core_records_parse(struct core_records *r, const char *text, size_t len, const char *name,
                       struct core_err *err);

// core_records_set sets the declared record name to value and marks it set, e.g. from the
// command line. value uses the file syntax for the record's type: a STRING is trimmed and NULL
// (the text, or a NULL value) means empty, so whatever can be set can be written and read back.
// Returns 0; -ENOENT when name is not declared; -EINVAL when value does not parse as the
// record's type or (for a STRING) holds a line break; -ENOMEM. Each failure is
// recorded in err (no file, line 0). err may be NULL. name and value are borrowed. Building
// thread only.
int core_records_set(struct core_records *r, const char *name, const char *value,
                     struct core_err *err);

// core_records_get_int returns the value of the INT record name. Asking for a name that is not
// declared, or not declared as INT, is a programming error: CORE_ASSERT aborts. Any thread
// once r is built.
int64_t core_records_get_int(const struct core_records *r, const char *name);

// core_records_get_float returns the value of the FLOAT record name; aborts (CORE_ASSERT) when
// name is not declared as FLOAT. Any thread once r is built.
double core_records_get_float(const struct core_records *r, const char *name);

// core_records_get_str returns the value of the STRING record name, never NULL ("" for an empty
// value). r keeps ownership; the string lives until r is freed or the record is set again.
// Aborts (CORE_ASSERT) when name is not declared as STRING. Any thread once r is built.
const char *core_records_get_str(const struct core_records *r, const char *name);

// core_records_format writes the value of the declared record name, whatever its type, into
// buf (len bytes, truncated) as text: an INT in decimal, a FLOAT with the fewest digits that
// read back, a STRING as is. Returns 0, or -ENOENT when name is not declared. Any thread once r
// is built.
int core_records_format(const struct core_records *r, const char *name, char *buf, size_t len);

// core_records_is_set is true when the declared record name got its value from a file or from
// core_records_set(), false when it still holds its default. Aborts (CORE_ASSERT) when name is
// not declared. Any thread once r is built.
bool core_records_is_set(const struct core_records *r, const char *name);

// core_records_dup returns a deep copy of r (declarations, values and set marks), owned by the
// caller, or NULL when memory runs out. Reload keeps a table that holds only the declarations
// and copies it for each new load. r is only read; any thread once r is built.
struct core_records *core_records_dup(const struct core_records *r);

// core_records_write writes every declared record to out as "CONFIG name TYPE value" lines,
// sorted by name, with each current value (an empty STRING is written NULL, an INT in decimal,
// a FLOAT with the fewest digits that read back to the same double), for
// `tlsedge --write-default-config`. Loading the output into a table with the same declarations
// gives the same values. Returns 0, or -EIO when a write to out failed. out is borrowed. Any
// thread once r is built.
int core_records_write(const struct core_records *r, FILE *out);

#endif
