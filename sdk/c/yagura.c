/*
 * yagura.c — the Yagura C rule kit: the component's exports around the rule's `yagura_rule`,
 * and the helpers declared in yagura.h.
 *
 * Ownership follows the canonical ABI as the generated bindings implement it: arguments of an
 * export (the batch, the config) belong to the callee, so the kit frees them after the rule's
 * callback; results (rule-info, findings, error strings) are malloc'd here and freed by the
 * bindings' post-return functions. Those free a list or string only when its length is not
 * 0, so nothing empty is ever allocated.
 */
#include "yagura.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* Formatting without libc's stdio, whose vfprintf drags in stderr and with it WASI's fd_write:
 * stb_sprintf (public domain or MIT, vendor/stb_sprintf.h). */
#define STB_SPRINTF_IMPLEMENTATION
#define STB_SPRINTF_STATIC
#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Wunused-function"
#include "vendor/stb_sprintf.h"
#pragma clang diagnostic pop

/* ---- memory ---------------------------------------------------------------------------- */

/* Out of memory traps: the host counts a fault and gives the rule a fresh instance. */
static void *xmalloc(size_t size) {
  void *p = malloc(size ? size : 1);
  if (!p) __builtin_trap();
  return p;
}

static void *xrealloc(void *ptr, size_t size) {
  void *p = realloc(ptr, size ? size : 1);
  if (!p) __builtin_trap();
  return p;
}

/* Room for one more element of a list of `len` elements whose capacity is the smallest power
 * of two >= len, at least 4 (WIT lists carry no capacity of their own). */
static void *grow(void *ptr, size_t len, size_t elem) {
  if (len == 0) return xmalloc(4 * elem);
  if (len >= 4 && (len & (len - 1)) == 0) return xrealloc(ptr, 2 * len * elem);
  return ptr;
}

/* An owned WIT string; empty is {NULL, 0} (see the ownership note above). */
static yagura_rule_string_t own(const char *ptr, size_t len) {
  yagura_rule_string_t s = {NULL, 0};
  if (ptr && len) {
    s.ptr = xmalloc(len);
    memcpy(s.ptr, ptr, len);
    s.len = len;
  }
  return s;
}

static yagura_rule_string_t own_cstr(const char *s) { return own(s, s ? strlen(s) : 0); }

static yagura_rule_string_t own_str(yg_str s) { return own(s.ptr, s.len); }

/* A borrowed WIT string for an import's argument (imports do not take ownership). */
static yagura_rule_string_t borrow(yg_str s) {
  yagura_rule_string_t w = {(uint8_t *)s.ptr, s.ptr ? s.len : 0};
  return w;
}

static yg_str view(const yagura_rule_string_t *s) {
  yg_str v = {(const char *)s->ptr, s->len};
  if (!v.ptr) v.ptr = "";
  return v;
}

/* The scratch area: chunks freed when the export call returns (the newest one is kept). */
typedef struct chunk {
  struct chunk *next;
  size_t used;
  size_t cap;
  _Alignas(8) char data[];
} chunk;

static chunk *scratch;

static void *scratch_alloc(size_t size) {
  size = (size + 7) & ~(size_t)7;
  if (!scratch || scratch->cap - scratch->used < size) {
    size_t cap = size > 8192 ? size : 8192;
    chunk *c = xmalloc(sizeof *c + cap);
    c->next = scratch;
    c->used = 0;
    c->cap = cap;
    scratch = c;
  }
  void *p = scratch->data + scratch->used;
  scratch->used += size;
  return p;
}

static void scratch_reset(void) {
  if (!scratch) return;
  chunk *rest = scratch->next;
  while (rest) {
    chunk *next = rest->next;
    free(rest);
    rest = next;
  }
  scratch->next = NULL;
  scratch->used = 0;
}

static yg_str scratch_copy(const void *ptr, size_t len) {
  char *p = scratch_alloc(len + 1);
  if (len) memcpy(p, ptr, len);
  p[len] = '\0';
  yg_str s = {p, len};
  return s;
}

static char *vformat_malloc(const char *format, va_list args) {
  va_list copy;
  va_copy(copy, args);
  int n = stbsp_vsnprintf(NULL, 0, format, copy);
  va_end(copy);
  if (n < 0) n = 0;
  char *buf = xmalloc((size_t)n + 1);
  if (n > 0) stbsp_vsnprintf(buf, n + 1, format, args);
  buf[n] = '\0';
  return buf;
}

/* ---- text ------------------------------------------------------------------------------ */

static inline char lower(char c) { return (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c; }

static bool eq_nocase_n(const char *a, const char *b, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

yg_str yg_cstr(const char *s) {
  yg_str v = {s, s ? strlen(s) : 0};
  return v;
}

bool yg_eq(yg_str a, const char *b) {
  size_t n = strlen(b);
  return a.ptr && a.len == n && memcmp(a.ptr, b, n) == 0;
}

bool yg_eq_nocase(yg_str a, const char *b) {
  size_t n = strlen(b);
  return a.ptr && a.len == n && eq_nocase_n(a.ptr, b, n);
}

bool yg_starts_with_nocase(yg_str text, const char *prefix) {
  size_t n = strlen(prefix);
  return text.ptr && text.len >= n && eq_nocase_n(text.ptr, prefix, n);
}

bool yg_ends_with_nocase(yg_str text, const char *suffix) {
  size_t n = strlen(suffix);
  return text.ptr && text.len >= n && eq_nocase_n(text.ptr + text.len - n, suffix, n);
}

bool yg_contains_nocase(yg_str text, const char *needle) {
  size_t n = strlen(needle);
  if (!text.ptr || n > text.len) return false;
  for (size_t i = 0; i + n <= text.len; i++) {
    if (eq_nocase_n(text.ptr + i, needle, n)) return true;
  }
  return false;
}

int yg_contains_any(yg_str text, const char *const *needles, size_t count) {
  for (size_t i = 0; i < count; i++) {
    if (yg_contains_nocase(text, needles[i])) return (int)i;
  }
  return -1;
}

yg_str yg_basename(yg_str path) {
  if (!path.ptr) return path;
  size_t start = path.len;
  while (start > 0 && path.ptr[start - 1] != '\\' && path.ptr[start - 1] != '/') start--;
  yg_str base = {path.ptr + start, path.len - start};
  return base;
}

yg_str yg_vfmt(const char *format, va_list args) {
  va_list copy;
  va_copy(copy, args);
  int n = stbsp_vsnprintf(NULL, 0, format, copy);
  va_end(copy);
  if (n < 0) n = 0;
  char *buf = scratch_alloc((size_t)n + 1);
  if (n > 0) stbsp_vsnprintf(buf, n + 1, format, args);
  buf[n] = '\0';
  yg_str s = {buf, (size_t)n};
  return s;
}

int yg_snprintf(char *buf, size_t size, const char *format, ...) {
  va_list args;
  va_start(args, format);
  int n = stbsp_vsnprintf(buf, size > INT32_MAX ? INT32_MAX : (int)size, format, args);
  va_end(args);
  return n;
}

yg_str yg_fmt(const char *format, ...) {
  va_list args;
  va_start(args, format);
  yg_str s = yg_vfmt(format, args);
  va_end(args);
  return s;
}

/* ---- errors and config ----------------------------------------------------------------- */

bool yg_fail(yg_error *err, const char *format, ...) {
  va_list args;
  va_start(args, format);
  char *message = vformat_malloc(format, args);
  va_end(args);
  free(err->message);
  err->message = message;
  return false;
}

struct yg_config {
  const yg_rule_info *info;
  const exports_yagura_detection_rule_list_tuple2_string_value_t *given;
  /* the first misuse of the config by the rule; `init` fails with it */
  char *error;
};

static void config_error(yg_config *config, const char *format, ...)
    __attribute__((format(printf, 2, 3)));

static void config_error(yg_config *config, const char *format, ...) {
  if (config->error) return;
  va_list args;
  va_start(args, format);
  config->error = vformat_malloc(format, args);
  va_end(args);
}

static const char *type_name(yg_param_type type) {
  switch (type) {
    case YG_PARAM_BOOL: return "a boolean";
    case YG_PARAM_INT: return "an integer";
    case YG_PARAM_FLOAT: return "a float";
    case YG_PARAM_TEXT: return "a text";
    case YG_PARAM_TEXT_LIST: return "a text list";
  }
  return "a value";
}

/* The declared parameter `name` of type `type`, or NULL (with the config's error set). */
static const yg_param *declared(const yg_config *config, const char *name, yg_param_type type) {
  yg_config *c = (yg_config *)config;
  for (size_t i = 0; i < c->info->n_params; i++) {
    const yg_param *p = &c->info->params[i];
    if (strcmp(p->name, name) != 0) continue;
    if (p->type != type) {
      config_error(c, "the rule reads parameter `%s` as %s, but its info declares %s", name,
                   type_name(type), type_name(p->type));
      return NULL;
    }
    return p;
  }
  config_error(c, "the rule reads `%s`, which is not a parameter of its info", name);
  return NULL;
}

/* The given value of `name` with the tag of `type`, or NULL for the default. */
static const yagura_detection_types_value_t *given(const yg_config *config, const char *name,
                                                   uint8_t tag) {
  yg_str wanted = yg_cstr(name);
  for (size_t i = 0; i < config->given->len; i++) {
    const yagura_detection_types_value_t *v = &config->given->ptr[i].f1;
    yg_str key = view(&config->given->ptr[i].f0);
    if (key.len == wanted.len && memcmp(key.ptr, wanted.ptr, key.len) == 0 && v->tag == tag) {
      return v;
    }
  }
  return NULL;
}

bool yg_config_bool(const yg_config *config, const char *name) {
  const yg_param *p = declared(config, name, YG_PARAM_BOOL);
  if (!p) return false;
  const yagura_detection_types_value_t *v =
      given(config, name, YAGURA_DETECTION_TYPES_VALUE_BOOLEAN);
  return v ? v->val.boolean : p->boolean;
}

int64_t yg_config_int(const yg_config *config, const char *name) {
  const yg_param *p = declared(config, name, YG_PARAM_INT);
  if (!p) return 0;
  const yagura_detection_types_value_t *v =
      given(config, name, YAGURA_DETECTION_TYPES_VALUE_INTEGER);
  return v ? v->val.integer : p->integer;
}

int64_t yg_config_int_in(const yg_config *config, const char *name, int64_t min, int64_t max) {
  int64_t n = yg_config_int(config, name);
  if (n < min || n > max) {
    config_error((yg_config *)config, "`%s` must be between %" PRId64 " and %" PRId64 ", not %" PRId64,
                 name, min, max, n);
    return n < min ? min : max;
  }
  return n;
}

double yg_config_float(const yg_config *config, const char *name) {
  const yg_param *p = declared(config, name, YG_PARAM_FLOAT);
  if (!p) return 0.0;
  const yagura_detection_types_value_t *v =
      given(config, name, YAGURA_DETECTION_TYPES_VALUE_FLOAT);
  return v ? v->val.float_ : p->number;
}

yg_str yg_config_text(const yg_config *config, const char *name) {
  const yg_param *p = declared(config, name, YG_PARAM_TEXT);
  if (!p) return yg_cstr("");
  const yagura_detection_types_value_t *v = given(config, name, YAGURA_DETECTION_TYPES_VALUE_TEXT);
  return v ? view(&v->val.text) : yg_cstr(p->text ? p->text : "");
}

yg_str_list yg_config_text_list(const yg_config *config, const char *name) {
  yg_str_list list = {NULL, 0};
  const yg_param *p = declared(config, name, YG_PARAM_TEXT_LIST);
  if (!p) return list;
  const yagura_detection_types_value_t *v =
      given(config, name, YAGURA_DETECTION_TYPES_VALUE_TEXT_LIST);
  size_t n = v ? v->val.text_list.len : p->n_text_list;
  if (n == 0) return list;
  yg_str *items = scratch_alloc(n * sizeof *items);
  for (size_t i = 0; i < n; i++) {
    items[i] = v ? view(&v->val.text_list.ptr[i]) : yg_cstr(p->text_list[i]);
  }
  list.items = items;
  list.len = n;
  return list;
}

/* ---- events ---------------------------------------------------------------------------- */

yg_event yg_batch_event(const yg_batch *batch, size_t index) {
  const yagura_detection_types_event_t *raw = &batch->events.ptr[index];
  yg_event ev = {
      .batch = batch,
      .raw = raw,
      .index = index,
      .seq = raw->seq,
      .time = raw->time,
      .activity = raw->activity,
      .outcome = raw->outcome,
      .code = raw->code,
  };
  return ev;
}

static yg_str span(const yg_event *ev, yagura_detection_types_text_t t) {
  const yagura_rule_list_u8_t *strings = &ev->batch->strings;
  /* the host guarantees spans in bounds; a bad one reads as empty rather than past the end */
  if ((size_t)t.start > strings->len || (size_t)t.len > strings->len - t.start) {
    return yg_cstr("");
  }
  yg_str s = {(const char *)strings->ptr + t.start, t.len};
  if (!s.ptr) s.ptr = "";
  return s;
}

yg_str yg_text(const yg_event *ev, yagura_detection_types_option_text_t text) {
  if (!text.is_some) {
    yg_str none = {NULL, 0};
    return none;
  }
  return span(ev, text.val);
}

yg_event_class yg_class(const yg_event *ev) {
  /* the body's cases are the event classes, in the same order */
  return (yg_event_class)ev->raw->body.tag;
}

yg_str yg_hostname(const yg_event *ev) { return yg_text(ev, ev->raw->hostname); }

#define BODY(ev) (&(ev)->raw->body)

const yg_authentication *yg_authentication_of(const yg_event *ev) {
  return BODY(ev)->tag == YAGURA_DETECTION_TYPES_BODY_AUTHENTICATION
             ? &BODY(ev)->val.authentication
             : NULL;
}

const yg_process_activity *yg_process_activity_of(const yg_event *ev) {
  return BODY(ev)->tag == YAGURA_DETECTION_TYPES_BODY_PROCESS ? &BODY(ev)->val.process : NULL;
}

const yg_network_activity *yg_network_of(const yg_event *ev) {
  return BODY(ev)->tag == YAGURA_DETECTION_TYPES_BODY_NETWORK ? &BODY(ev)->val.network : NULL;
}

const yg_file_activity *yg_file_of(const yg_event *ev) {
  return BODY(ev)->tag == YAGURA_DETECTION_TYPES_BODY_FILE ? &BODY(ev)->val.file : NULL;
}

const yg_registry_activity *yg_registry_of(const yg_event *ev) {
  return BODY(ev)->tag == YAGURA_DETECTION_TYPES_BODY_REGISTRY ? &BODY(ev)->val.registry : NULL;
}

const yg_query_activity *yg_query_of(const yg_event *ev) {
  switch (BODY(ev)->tag) {
    case YAGURA_DETECTION_TYPES_BODY_DNS: return &BODY(ev)->val.dns;
    case YAGURA_DETECTION_TYPES_BODY_HTTP: return &BODY(ev)->val.http;
    default: return NULL;
  }
}

const yg_job_activity *yg_job_of(const yg_event *ev) {
  return BODY(ev)->tag == YAGURA_DETECTION_TYPES_BODY_JOB ? &BODY(ev)->val.job : NULL;
}

const yg_script_activity *yg_script_of(const yg_event *ev) {
  return BODY(ev)->tag == YAGURA_DETECTION_TYPES_BODY_SCRIPT ? &BODY(ev)->val.script : NULL;
}

/* The launched process (process events only). */
static const yg_process *process(const yg_event *ev) {
  const yg_process_activity *p = yg_process_activity_of(ev);
  return p ? &p->process : NULL;
}

/* The actor process of a network, file, registry, DNS, HTTP or script event. */
static const yg_actor_process *actor(const yg_event *ev) {
  const yagura_detection_types_option_actor_process_t *p = NULL;
  const yagura_detection_types_body_t *body = BODY(ev);
  switch (body->tag) {
    case YAGURA_DETECTION_TYPES_BODY_NETWORK: p = &body->val.network.process; break;
    case YAGURA_DETECTION_TYPES_BODY_FILE: p = &body->val.file.process; break;
    case YAGURA_DETECTION_TYPES_BODY_REGISTRY: p = &body->val.registry.process; break;
    case YAGURA_DETECTION_TYPES_BODY_DNS: p = &body->val.dns.process; break;
    case YAGURA_DETECTION_TYPES_BODY_HTTP: p = &body->val.http.process; break;
    case YAGURA_DETECTION_TYPES_BODY_SCRIPT: p = &body->val.script.process; break;
    default: return NULL;
  }
  return p->is_some ? &p->val : NULL;
}

static yg_str absent(void) {
  yg_str none = {NULL, 0};
  return none;
}

yg_str yg_process_image(const yg_event *ev) {
  const yg_process *p = process(ev);
  if (p) return yg_text(ev, p->image);
  const yg_actor_process *a = actor(ev);
  return a ? yg_text(ev, a->image) : absent();
}

yg_str yg_process_cmd_line(const yg_event *ev) {
  const yg_process *p = process(ev);
  return p ? yg_text(ev, p->cmd_line) : absent();
}

uint32_t yg_process_pid(const yg_event *ev) {
  const yg_process *p = process(ev);
  if (p) return p->pid;
  const yg_actor_process *a = actor(ev);
  return a ? a->pid : 0;
}

yg_str yg_process_guid(const yg_event *ev) {
  const yg_process *p = process(ev);
  if (p) return p->guid.is_some ? yg_format_guid(&p->guid.val) : absent();
  const yg_actor_process *a = actor(ev);
  return a && a->guid.is_some ? yg_format_guid(&a->guid.val) : absent();
}

yg_str yg_parent_image(const yg_event *ev) {
  const yg_process *p = process(ev);
  return p ? yg_text(ev, p->parent_image) : absent();
}

yg_str yg_parent_cmd_line(const yg_event *ev) {
  const yg_process *p = process(ev);
  return p ? yg_text(ev, p->parent_cmd_line) : absent();
}

uint32_t yg_parent_pid(const yg_event *ev) {
  const yg_process *p = process(ev);
  return p ? p->parent_pid : 0;
}

yg_str yg_parent_guid(const yg_event *ev) {
  const yg_process *p = process(ev);
  return p && p->parent_guid.is_some ? yg_format_guid(&p->parent_guid.val) : absent();
}

static yg_str label(yg_str image, uint32_t pid) {
  yg_str name = yg_basename(image);
  if (name.len && pid) return yg_fmt(YG_FMT " (pid %" PRIu32 ")", YG_ARG(name), pid);
  if (name.len) return name;
  if (pid) return yg_fmt("pid %" PRIu32, pid);
  return absent();
}

yg_str yg_process_label(const yg_event *ev) {
  return label(yg_process_image(ev), yg_process_pid(ev));
}

yg_str yg_parent_label(const yg_event *ev) {
  return label(yg_parent_image(ev), yg_parent_pid(ev));
}

static const yg_user *option_user(const yagura_detection_types_option_user_t *u) {
  return u->is_some ? &u->val : NULL;
}

const yg_user *yg_user_of(const yg_event *ev) {
  const yagura_detection_types_body_t *body = BODY(ev);
  switch (body->tag) {
    case YAGURA_DETECTION_TYPES_BODY_AUTHENTICATION: return &body->val.authentication.user;
    case YAGURA_DETECTION_TYPES_BODY_PROCESS: return option_user(&body->val.process.user);
    case YAGURA_DETECTION_TYPES_BODY_NETWORK: return option_user(&body->val.network.user);
    case YAGURA_DETECTION_TYPES_BODY_FILE: return option_user(&body->val.file.user);
    case YAGURA_DETECTION_TYPES_BODY_REGISTRY: return option_user(&body->val.registry.user);
    case YAGURA_DETECTION_TYPES_BODY_DNS: return option_user(&body->val.dns.user);
    case YAGURA_DETECTION_TYPES_BODY_HTTP: return option_user(&body->val.http.user);
    case YAGURA_DETECTION_TYPES_BODY_JOB: return option_user(&body->val.job.user);
    case YAGURA_DETECTION_TYPES_BODY_SCRIPT: return option_user(&body->val.script.user);
    default: return NULL;
  }
}

yg_str yg_user_name(const yg_event *ev) {
  const yg_user *u = yg_user_of(ev);
  return u ? yg_text(ev, u->name) : absent();
}

yg_str yg_user_domain(const yg_event *ev) {
  const yg_user *u = yg_user_of(ev);
  return u ? yg_text(ev, u->domain) : absent();
}

yg_str yg_qualified_user(const yg_event *ev) {
  yg_str name = yg_user_name(ev);
  if (!name.len) return absent();
  yg_str domain = yg_user_domain(ev);
  if (!domain.len) return name;
  return yg_fmt(YG_FMT "\\" YG_FMT, YG_ARG(domain), YG_ARG(name));
}

const yg_endpoint *yg_src(const yg_event *ev) {
  const yagura_detection_types_body_t *body = BODY(ev);
  switch (body->tag) {
    case YAGURA_DETECTION_TYPES_BODY_AUTHENTICATION: return &body->val.authentication.src;
    case YAGURA_DETECTION_TYPES_BODY_NETWORK: return &body->val.network.src;
    case YAGURA_DETECTION_TYPES_BODY_FILE: return &body->val.file.src;
    case YAGURA_DETECTION_TYPES_BODY_DNS: return &body->val.dns.src;
    case YAGURA_DETECTION_TYPES_BODY_HTTP: return &body->val.http.src;
    default: return NULL;
  }
}

const yg_endpoint *yg_dst(const yg_event *ev) {
  const yagura_detection_types_body_t *body = BODY(ev);
  switch (body->tag) {
    case YAGURA_DETECTION_TYPES_BODY_NETWORK: return &body->val.network.dst;
    case YAGURA_DETECTION_TYPES_BODY_DNS: return &body->val.dns.dst;
    case YAGURA_DETECTION_TYPES_BODY_HTTP: return &body->val.http.dst;
    default: return NULL;
  }
}

static yg_str endpoint_ip(const yg_endpoint *e) {
  return e && e->ip.is_some ? yg_format_ip(&e->ip.val) : absent();
}

yg_str yg_src_ip(const yg_event *ev) { return endpoint_ip(yg_src(ev)); }
yg_str yg_dst_ip(const yg_event *ev) { return endpoint_ip(yg_dst(ev)); }

uint16_t yg_src_port(const yg_event *ev) {
  const yg_endpoint *e = yg_src(ev);
  return e ? e->port : 0;
}

uint16_t yg_dst_port(const yg_event *ev) {
  const yg_endpoint *e = yg_dst(ev);
  return e ? e->port : 0;
}

yg_str yg_src_hostname(const yg_event *ev) {
  const yg_endpoint *e = yg_src(ev);
  return e ? yg_text(ev, e->hostname) : absent();
}

yg_str yg_dst_hostname(const yg_event *ev) {
  const yg_endpoint *e = yg_dst(ev);
  return e ? yg_text(ev, e->hostname) : absent();
}

yg_str yg_attribute(const yg_event *ev, const char *key) {
  const yagura_detection_types_list_attribute_t *attrs = &ev->batch->attributes;
  /* ordered by event index: find the first of this event by binary search */
  size_t lo = 0, hi = attrs->len;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (attrs->ptr[mid].event < ev->index) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  for (size_t i = lo; i < attrs->len && attrs->ptr[i].event == ev->index; i++) {
    if (yg_eq_nocase(span(ev, attrs->ptr[i].key), key)) return span(ev, attrs->ptr[i].value);
  }
  return absent();
}

yg_str yg_format_ip(const yg_ip *ip) {
  if (ip->tag == YAGURA_DETECTION_TYPES_IP_ADDRESS_V4) {
    uint32_t v = ip->val.v4;
    return yg_fmt("%u.%u.%u.%u", (unsigned)(v >> 24), (unsigned)((v >> 16) & 255),
                  (unsigned)((v >> 8) & 255), (unsigned)(v & 255));
  }
  uint16_t groups[8];
  uint64_t hi = ip->val.v6.f0, lo = ip->val.v6.f1;
  for (int i = 0; i < 4; i++) {
    groups[i] = (uint16_t)(hi >> (48 - 16 * i));
    groups[4 + i] = (uint16_t)(lo >> (48 - 16 * i));
  }
  /* IPv4-mapped (::ffff:a.b.c.d) is written as Rust's std writes it */
  if (hi == 0 && (lo >> 32) == 0xffff) {
    uint32_t v = (uint32_t)lo;
    return yg_fmt("::ffff:%u.%u.%u.%u", (unsigned)(v >> 24), (unsigned)((v >> 16) & 255),
                  (unsigned)((v >> 8) & 255), (unsigned)(v & 255));
  }
  /* RFC 5952: the longest run of two or more zero groups (the first of equals) becomes "::" */
  int best = -1, best_len = 1;
  for (int i = 0; i < 8;) {
    if (groups[i] != 0) {
      i++;
      continue;
    }
    int j = i;
    while (j < 8 && groups[j] == 0) j++;
    if (j - i > best_len) {
      best = i;
      best_len = j - i;
    }
    i = j;
  }
  char buf[48];
  size_t n = 0;
  for (int i = 0; i < 8; i++) {
    if (i == best) {
      n += (size_t)stbsp_snprintf(buf + n, (int)(sizeof buf - n), "::");
      i += best_len - 1;
      continue;
    }
    bool after_gap = best >= 0 && i == best + best_len;
    n += (size_t)stbsp_snprintf(buf + n, (int)(sizeof buf - n), "%s%x", (i == 0 || after_gap) ? "" : ":",
                          (unsigned)groups[i]);
  }
  return scratch_copy(buf, n);
}

yg_str yg_format_guid(const yg_guid *guid) {
  return yg_fmt("{%08" PRIX32 "-%04" PRIX32 "-%04" PRIX32 "-%04" PRIX32 "-%012" PRIX64 "}",
                (uint32_t)(guid->hi >> 32), (uint32_t)((guid->hi >> 16) & 0xFFFF),
                (uint32_t)(guid->hi & 0xFFFF), (uint32_t)(guid->lo >> 48),
                guid->lo & 0xFFFFFFFFFFFFull);
}

/* ---- matchers -------------------------------------------------------------------------- */

void yg_name_set_free(yg_name_set *set) {
  for (size_t i = 0; i < set->len; i++) free(set->names[i]);
  free(set->names);
  free(set->lens);
  set->names = NULL;
  set->lens = NULL;
  set->len = set->cap = 0;
}

void yg_name_set_init(yg_name_set *set, const char *const *names, size_t count) {
  yg_name_set_free(set);
  for (size_t i = 0; i < count; i++) yg_name_set_add(set, yg_cstr(names[i]));
}

void yg_name_set_add(yg_name_set *set, yg_str name) {
  if (!name.len || yg_name_set_contains(set, name)) return;
  if (set->len == set->cap) {
    set->cap = set->cap ? 2 * set->cap : 8;
    set->names = xrealloc(set->names, set->cap * sizeof *set->names);
    set->lens = xrealloc(set->lens, set->cap * sizeof *set->lens);
  }
  char *copy = xmalloc(name.len);
  for (size_t i = 0; i < name.len; i++) copy[i] = lower(name.ptr[i]);
  set->names[set->len] = copy;
  set->lens[set->len] = name.len;
  set->len++;
}

void yg_name_set_add_list(yg_name_set *set, yg_str_list names) {
  for (size_t i = 0; i < names.len; i++) yg_name_set_add(set, names.items[i]);
}

bool yg_name_set_contains(const yg_name_set *set, yg_str name) {
  if (!name.len) return false;
  for (size_t i = 0; i < set->len; i++) {
    if (set->lens[i] == name.len && eq_nocase_n(set->names[i], name.ptr, name.len)) return true;
  }
  return false;
}

bool yg_name_set_contains_path(const yg_name_set *set, yg_str path) {
  return yg_name_set_contains(set, yg_basename(path));
}

/* ---- findings -------------------------------------------------------------------------- */

yg_finding *yg_report(yg_findings *out, const char *title_format, ...) {
  if (out->len == out->cap) {
    out->cap = out->cap ? 2 * out->cap : 4;
    out->items = xrealloc(out->items, out->cap * sizeof *out->items);
  }
  yg_finding *f = xmalloc(sizeof *f);
  memset(f, 0, sizeof *f);
  out->items[out->len++] = f;
  va_list args;
  va_start(args, title_format);
  char *title = vformat_malloc(title_format, args);
  va_end(args);
  f->title = own_cstr(title);
  free(title);
  f->severity = YG_SEVERITY_MEDIUM;
  f->confidence = 50;
  return f;
}

static void set_formatted(yagura_rule_string_t *field, const char *format, va_list args) {
  char *text = vformat_malloc(format, args);
  yagura_rule_string_free(field);
  *field = own_cstr(text);
  free(text);
}

void yg_set_description(yg_finding *f, const char *format, ...) {
  va_list args;
  va_start(args, format);
  set_formatted(&f->description, format, args);
  va_end(args);
}

void yg_set_dedup_key(yg_finding *f, const char *format, ...) {
  va_list args;
  va_start(args, format);
  set_formatted(&f->dedup_key, format, args);
  va_end(args);
}

void yg_set_severity(yg_finding *f, yg_severity severity) {
  f->severity = severity <= YG_SEVERITY_CRITICAL ? severity : YG_SEVERITY_CRITICAL;
}

void yg_set_confidence(yg_finding *f, unsigned confidence) {
  f->confidence = (uint8_t)(confidence > 100 ? 100 : confidence);
}

void yg_set_time(yg_finding *f, int64_t time_ms) { f->time = time_ms; }

void yg_add_technique(yg_finding *f, const char *id) {
  yg_str wanted = yg_cstr(id);
  if (!wanted.len) return;
  yagura_rule_list_string_t *list = &f->techniques;
  for (size_t i = 0; i < list->len; i++) {
    yg_str have = view(&list->ptr[i]);
    if (have.len == wanted.len && memcmp(have.ptr, wanted.ptr, have.len) == 0) return;
  }
  list->ptr = grow(list->ptr, list->len, sizeof *list->ptr);
  list->ptr[list->len++] = own_str(wanted);
}

void yg_add_evidence(yg_finding *f, uint64_t seq) {
  yagura_rule_list_u64_t *list = &f->evidence;
  for (size_t i = 0; i < list->len; i++) {
    if (list->ptr[i] == seq) return;
  }
  list->ptr = grow(list->ptr, list->len, sizeof *list->ptr);
  list->ptr[list->len++] = seq;
}

void yg_add_event(yg_finding *f, const yg_event *ev) {
  yg_add_evidence(f, ev->seq);
  f->time = ev->time;
}

void yg_add_entity(yg_finding *f, yg_entity_kind kind, yg_str value, const char *role) {
  if (!value.len) return;
  yagura_detection_types_list_entity_t *list = &f->entities;
  list->ptr = grow(list->ptr, list->len, sizeof *list->ptr);
  yagura_detection_types_entity_t *e = &list->ptr[list->len++];
  memset(e, 0, sizeof *e);
  e->kind = kind;
  e->value = own_str(value);
  if (role && *role) {
    e->role.is_some = true;
    e->role.val = own_cstr(role);
  }
}

void yg_add_host(yg_finding *f, yg_str name, const char *role) {
  yg_add_entity(f, YG_ENTITY_HOST, name, role);
}

void yg_add_user(yg_finding *f, yg_str name, const char *role) {
  yg_add_entity(f, YG_ENTITY_USER, name, role);
}

void yg_add_ip(yg_finding *f, yg_str address, const char *role) {
  yg_add_entity(f, YG_ENTITY_IP, address, role);
}

void yg_add_process(yg_finding *f, yg_str label, const char *role) {
  yg_add_entity(f, YG_ENTITY_PROCESS, label, role);
}

void yg_add_file(yg_finding *f, yg_str path, const char *role) {
  yg_add_entity(f, YG_ENTITY_FILE, path, role);
}

void yg_add_context(yg_finding *f, const char *key, yg_str value) {
  if (!value.ptr) return;
  yagura_rule_list_tuple2_string_string_t *list = &f->context;
  list->ptr = grow(list->ptr, list->len, sizeof *list->ptr);
  yagura_rule_tuple2_string_string_t *pair = &list->ptr[list->len++];
  pair->f0 = own_cstr(key);
  pair->f1 = own_str(value);
}

void yg_add_context_int(yg_finding *f, const char *key, int64_t value) {
  yg_add_context(f, key, yg_fmt("%" PRId64, value));
}

/* ---- host state and log ---------------------------------------------------------------- */

static yg_state_error last_state_error;

yg_state_error yg_last_state_error(void) { return last_state_error; }

const char *yg_state_error_name(yg_state_error error) {
  switch (error) {
    case YAGURA_DETECTION_STATE_STATE_ERROR_QUOTA_EXCEEDED: return "quota-exceeded";
    case YAGURA_DETECTION_STATE_STATE_ERROR_TOO_LARGE: return "too-large";
    default: return "invalid";
  }
}

bool yg_counter_add(yg_str key, int64_t at, uint64_t window_ms, int64_t delta, int64_t *sum) {
  yagura_rule_string_t k = borrow(key);
  int64_t total = 0;
  bool ok = yagura_detection_state_counter_add(&k, at, window_ms, delta, &total,
                                               &last_state_error);
  if (sum) *sum = ok ? total : 0;
  return ok;
}

int64_t yg_counter_sum(yg_str key, int64_t at, uint64_t window_ms) {
  yagura_rule_string_t k = borrow(key);
  return yagura_detection_state_counter_sum(&k, at, window_ms);
}

bool yg_distinct_add(yg_str key, yg_str item, int64_t at, uint64_t window_ms, uint32_t *count) {
  yagura_rule_string_t k = borrow(key), i = borrow(item);
  uint32_t n = 0;
  bool ok = yagura_detection_state_distinct_add(&k, &i, at, window_ms, &n, &last_state_error);
  if (count) *count = ok ? n : 0;
  return ok;
}

uint32_t yg_distinct_items(yg_str key, int64_t at, uint64_t window_ms, uint32_t limit,
                           yg_str_list *items) {
  yagura_rule_string_t k = borrow(key);
  yagura_rule_tuple2_u32_list_string_t ret;
  yagura_detection_state_distinct_items(&k, at, window_ms, limit, &ret);
  if (items) {
    yg_str *copies = ret.f1.len ? scratch_alloc(ret.f1.len * sizeof *copies) : NULL;
    for (size_t i = 0; i < ret.f1.len; i++) {
      copies[i] = scratch_copy(ret.f1.ptr[i].ptr, ret.f1.ptr[i].len);
    }
    items->items = copies;
    items->len = ret.f1.len;
  }
  uint32_t count = ret.f0;
  yagura_rule_tuple2_u32_list_string_free(&ret);
  return count;
}

yg_str yg_state_get(yg_str key, int64_t at) {
  yagura_rule_string_t k = borrow(key);
  yagura_rule_list_u8_t value;
  if (!yagura_detection_state_get(&k, at, &value)) return absent();
  yg_str copy = scratch_copy(value.ptr, value.len);
  yagura_rule_list_u8_free(&value);
  return copy;
}

bool yg_state_set(yg_str key, const void *value, size_t len, int64_t expires_at) {
  yagura_rule_string_t k = borrow(key);
  yagura_rule_list_u8_t v = {(uint8_t *)value, value ? len : 0};
  return yagura_detection_state_set(&k, &v, expires_at, &last_state_error);
}

void yg_state_remove(yg_str key) {
  yagura_rule_string_t k = borrow(key);
  yagura_detection_state_remove(&k);
}

bool yg_mark_once(yg_str key, int64_t at, int64_t expires_in_ms) {
  if (!yg_none(yg_state_get(key, at))) return false;
  if (expires_in_ms < 0) expires_in_ms = 0;
  int64_t expires_at = at > INT64_MAX - expires_in_ms ? INT64_MAX : at + expires_in_ms;
  return yg_state_set(key, "1", 1, expires_at);
}

void yg_log(yg_log_level level, const char *format, ...) {
  va_list args;
  va_start(args, format);
  char *text = vformat_malloc(format, args);
  va_end(args);
  yagura_rule_string_t message = {(uint8_t *)text, strlen(text)};
  yagura_detection_log_log(level, &message);
  free(text);
}

/* ---- the exports ----------------------------------------------------------------------- */

static yagura_detection_types_value_t param_default(const yg_param *p) {
  yagura_detection_types_value_t v;
  memset(&v, 0, sizeof v);
  switch (p->type) {
    case YG_PARAM_BOOL:
      v.tag = YAGURA_DETECTION_TYPES_VALUE_BOOLEAN;
      v.val.boolean = p->boolean;
      break;
    case YG_PARAM_INT:
      v.tag = YAGURA_DETECTION_TYPES_VALUE_INTEGER;
      v.val.integer = p->integer;
      break;
    case YG_PARAM_FLOAT:
      v.tag = YAGURA_DETECTION_TYPES_VALUE_FLOAT;
      v.val.float_ = p->number;
      break;
    case YG_PARAM_TEXT:
      v.tag = YAGURA_DETECTION_TYPES_VALUE_TEXT;
      v.val.text = own_cstr(p->text);
      break;
    case YG_PARAM_TEXT_LIST:
      v.tag = YAGURA_DETECTION_TYPES_VALUE_TEXT_LIST;
      if (p->n_text_list) {
        v.val.text_list.ptr = xmalloc(p->n_text_list * sizeof *v.val.text_list.ptr);
        for (size_t i = 0; i < p->n_text_list; i++) {
          v.val.text_list.ptr[i] = own_cstr(p->text_list[i]);
        }
        v.val.text_list.len = p->n_text_list;
      }
      break;
  }
  return v;
}

void exports_yagura_detection_rule_info(exports_yagura_detection_rule_rule_info_t *ret) {
  const yg_rule_info *info = yagura_rule.info;
  memset(ret, 0, sizeof *ret);
  ret->id = own_cstr(info->id);
  ret->name = own_cstr(info->name);
  ret->description = own_cstr(info->description);
  ret->version = own_cstr(info->version);
  ret->severity = info->severity;
  if (info->n_techniques) {
    ret->techniques.ptr = xmalloc(info->n_techniques * sizeof *ret->techniques.ptr);
    for (size_t i = 0; i < info->n_techniques; i++) {
      ret->techniques.ptr[i] = own_cstr(info->techniques[i]);
    }
    ret->techniques.len = info->n_techniques;
  }
  if (info->n_subscriptions) {
    ret->subscriptions.ptr = xmalloc(info->n_subscriptions * sizeof *ret->subscriptions.ptr);
    memcpy(ret->subscriptions.ptr, info->subscriptions,
           info->n_subscriptions * sizeof *ret->subscriptions.ptr);
    ret->subscriptions.len = info->n_subscriptions;
  }
  if (info->n_params) {
    ret->params.ptr = xmalloc(info->n_params * sizeof *ret->params.ptr);
    for (size_t i = 0; i < info->n_params; i++) {
      const yg_param *p = &info->params[i];
      ret->params.ptr[i].name = own_cstr(p->name);
      ret->params.ptr[i].description = own_cstr(p->description);
      ret->params.ptr[i].default_ = param_default(p);
    }
    ret->params.len = info->n_params;
  }
  scratch_reset();
}

/* The error string of a failed callback: its message, or `fallback` when it set none. */
static yagura_rule_string_t error_string(yg_error *err, const char *fallback) {
  yagura_rule_string_t s = own_cstr(err->message ? err->message : fallback);
  if (!s.len) s = own_cstr(fallback);
  free(err->message);
  err->message = NULL;
  return s;
}

bool exports_yagura_detection_rule_init(
    exports_yagura_detection_rule_list_tuple2_string_value_t *config, yagura_rule_string_t *err) {
  yg_config c = {.info = yagura_rule.info, .given = config, .error = NULL};
  yg_error e = {NULL};
  bool ok = yagura_rule.init ? yagura_rule.init(&c, &e) : true;
  if (ok && c.error) {
    ok = false;
    e.message = c.error;
    c.error = NULL;
  }
  free(c.error);
  if (!ok) {
    *err = error_string(&e, "init failed (the rule set no message with yg_fail)");
  } else {
    free(e.message);
  }
  exports_yagura_detection_rule_list_tuple2_string_value_free(config);
  scratch_reset();
  return ok;
}

/* Hands the findings to the bindings, or frees them and reports the error. */
static bool finish(bool ok, yg_findings *out, yg_error *e,
                   exports_yagura_detection_rule_list_finding_t *ret, yagura_rule_string_t *err,
                   const char *what) {
  ret->ptr = NULL;
  ret->len = 0;
  if (ok && out->len) {
    /* the ABI wants the findings side by side */
    ret->ptr = xmalloc(out->len * sizeof *ret->ptr);
    for (size_t i = 0; i < out->len; i++) {
      yg_finding *f = out->items[i];
      if (!f->dedup_key.len) f->dedup_key = own((const char *)f->title.ptr, f->title.len);
      ret->ptr[i] = *f;
    }
    ret->len = out->len;
  }
  for (size_t i = 0; i < out->len; i++) {
    if (!ok) yagura_detection_types_finding_free(out->items[i]);
    free(out->items[i]);
  }
  free(out->items);
  if (ok) {
    free(e->message);
  } else {
    *err = error_string(e, what);
  }
  scratch_reset();
  return ok;
}

bool exports_yagura_detection_rule_on_events(exports_yagura_detection_rule_batch_t *batch,
                                             exports_yagura_detection_rule_list_finding_t *ret,
                                             yagura_rule_string_t *err) {
  yg_findings out = {NULL, 0, 0};
  yg_error e = {NULL};
  bool ok = yagura_rule.on_events
                ? yagura_rule.on_events(batch, &out, &e)
                : yg_fail(&e, "the rule defines no on_events callback in yagura_rule");
  yagura_detection_types_batch_free(batch);
  return finish(ok, &out, &e, ret, err, "on_events failed (the rule set no message with yg_fail)");
}

bool exports_yagura_detection_rule_on_tick(int64_t watermark,
                                           exports_yagura_detection_rule_list_finding_t *ret,
                                           yagura_rule_string_t *err) {
  yg_findings out = {NULL, 0, 0};
  yg_error e = {NULL};
  bool ok = yagura_rule.on_tick ? yagura_rule.on_tick(watermark, &out, &e) : true;
  return finish(ok, &out, &e, ret, err, "on_tick failed (the rule set no message with yg_fail)");
}
