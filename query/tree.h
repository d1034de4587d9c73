/* The call tree of one trace: parent links resolved, children ordered by
 * start time, depth, self time, the critical path, spans whose parent never
 * arrived kept as extra roots and marked, and clock-skew adjustment for
 * children on another host that start before or end after their parent
 * (the shift Jaeger's clock-skew adjuster applies). Input order does not
 * matter: the same spans in any order give the same tree. */
#ifndef CS_QUERY_TREE_H
#define CS_QUERY_TREE_H

#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "span.h"

typedef struct cs_tree_node {
  const cs_span *span;
  int32_t parent;       /* index into nodes; -1 for roots and orphans */
  int32_t first_child;  /* children chained in start order; -1 when none */
  int32_t next_sibling;
  uint32_t depth;       /* 0 for roots and orphans */
  uint32_t n_children;
  uint8_t orphan;       /* had a parent ID that is not in the trace */
  uint8_t critical;     /* on the critical path of the main root */
  int64_t skew_ns;      /* shift applied to this span (includes ancestors') */
  uint64_t start_ns, end_ns; /* after the shift */
  uint64_t self_ns;     /* duration minus the union of the children's time */
  uint64_t critical_ns; /* this span's own time that lies on the critical path */
} cs_tree_node;

typedef struct cs_tree {
  cs_tree_node *nodes; /* sorted by (start, span ID) of the input spans */
  size_t n;
  int32_t *order;      /* pre-order walk: roots by start, children by start */
  int32_t *roots;      /* true roots first, then orphans, each by start */
  size_t n_roots;
  int32_t main_root;   /* root whose critical path is computed; -1 if none */
  uint64_t start_ns, end_ns;
  uint32_t max_depth;
  uint32_t n_orphans, n_skewed, n_duplicates;
} cs_tree;

/* Builds the tree of n spans (which must outlive it) in arena a. Spans
 * with a repeated span ID after the first are left out and counted.
 * Returns 0, or -1 when the arena is out of room. */
int cs_tree_build(const cs_span *spans, size_t n, cs_arena *a, cs_tree *out);

/* The host a span ran on, for skew decisions: resource attribute
 * host.name, host.id or service.instance.id, else the service name. */
cs_str cs_span_host(const cs_span *s);

#endif
