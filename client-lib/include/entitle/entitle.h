/*
 * libentitle: the host side of Entitle, as a C ABI.
 *
 * This header is the contract; whatever is not declared here is not API.
 * A GPU host uses it to check out a lease before it creates a vGPU, to renew
 * and release it, to verify a lease token offline, and to give back the
 * seats of vGPUs that no longer exist (reconcile).
 *
 * ABI rules (the libcurl/SQLite model):
 *  - entitle_status values are never renumbered, reused or given another
 *    meaning; new ones are only ever added. Treat unknown values as errors.
 *  - Functions keep their signatures and meaning; new behaviour arrives as
 *    new functions (`_v2`).
 *  - entitle_lease and entitle_lease_list are allocated only by the library,
 *    so fields may be appended in later versions; never allocate, copy by
 *    value or take sizeof of them.
 *  - Everything the library allocates is freed by the one function named in
 *    its documentation (entitle_free, entitle_lease_free,
 *    entitle_lease_list_free). Every free function accepts NULL.
 *  - No C++ exception ever leaves a function of this header.
 *
 * Threads: an entitle_client may be shared by any number of threads; each
 * call is safe against every other, except entitle_client_close, which must
 * be the last call on the handle. Network requests of different threads run
 * in parallel; a handle never holds its lock across a network exchange.
 *
 * Time: a lease is timed by the host's monotonic clock (CLOCK_BOOTTIME, so
 * suspend counts) from the moment it was granted, for `exp - iat` seconds of
 * the token; the host's wall clock is never compared with `exp`, so a wrong
 * host clock neither ends a fresh lease early nor keeps an old one alive.
 */
#ifndef ENTITLE_ENTITLE_H
#define ENTITLE_ENTITLE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define ENTITLE_API __attribute__((visibility("default")))
#else
#define ENTITLE_API
#endif

/* The version of this header. entitle_version() gives the library's own,
 * which may be newer (same major = same ABI). */
#define ENTITLE_VERSION_MAJOR 0
#define ENTITLE_VERSION_MINOR 1
#define ENTITLE_VERSION_PATCH 0
#define ENTITLE_VERSION_STRING "0.1.0"
/* 0xMMmmpp, comparable: ENTITLE_VERSION_NUM >= 0x000100 */
#define ENTITLE_VERSION_NUM \
    ((ENTITLE_VERSION_MAJOR << 16) | (ENTITLE_VERSION_MINOR << 8) | ENTITLE_VERSION_PATCH)

/* Every outcome of a call. The first group is what the server answered
 * (contract section 4), the second what happened on this host. */
typedef enum entitle_status {
    ENTITLE_OK = 0,                /* done; for a checkout: granted */
    ENTITLE_OVERSUBSCRIBED = 1,    /* 409: every admissible entitlement is full */
    ENTITLE_REGION_DENIED = 2,     /* 403: not licensed in this host's region */
    ENTITLE_NO_ENTITLEMENT = 3,    /* 404: no valid entitlement has the feature/GPU */
    ENTITLE_EXPIRED = 4,           /* 410: the lease lapsed or ended; or it lapsed here */
    ENTITLE_UNAUTHORIZED = 5,      /* 401: the host token is unknown or revoked */
    ENTITLE_FORBIDDEN = 6,         /* 403: the lease belongs to another host */
    ENTITLE_NOT_FOUND = 7,         /* 404: no such lease (on the server or held here) */
    ENTITLE_CONFLICT = 8,          /* 409: e.g. the vGPU already holds another lease */
    ENTITLE_INVALID_REQUEST = 9,   /* 400/413: the server refused the request's form */
    ENTITLE_RATE_LIMITED = 10,     /* 429: too many failed authentications */
    ENTITLE_UNAVAILABLE = 11,      /* server unreachable, timed out, or 502/503/504 */
    ENTITLE_TLS_ERROR = 12,        /* the server's certificate does not verify against
                                      the config's ca_pem or does not name the host */
    ENTITLE_INVALID_ARGUMENT = 13, /* a NULL or malformed argument to this call */
    ENTITLE_CONFIG_ERROR = 14,     /* the host configuration file is missing or malformed */
    ENTITLE_TOKEN_INVALID = 15,    /* a lease token fails offline verification */
    ENTITLE_PROTOCOL_ERROR = 16,   /* the server's answer is not what the contract says */
    ENTITLE_STATE_ERROR = 17,      /* the state directory cannot be read or written */
    ENTITLE_SERVER_ERROR = 18,     /* 500 or another unexpected server error */
    ENTITLE_NO_MEMORY = 19,        /* an allocation failed */
    ENTITLE_INTERNAL = 20          /* a bug in libentitle */
} entitle_status;

/* Opaque handle: one host configuration, its held leases, its settings. */
typedef struct entitle_client entitle_client;

/* A lease as this host holds it. Allocated only by the library; free with
 * entitle_lease_free. Strings are NUL-terminated UTF-8 and live as long as
 * the struct. Fields may be appended in later versions. */
typedef struct entitle_lease {
    const char* lease_id;
    const char* token; /* the lease token (JWS compact), contract section 2 */
    const char* feature;
    const char* entitlement; /* "<license jti>/<entitlement id>" */
    const char* gpu_uuid;
    const char* vgpu_id;
    const char* profile;  /* NULL when the checkout named none */
    int64_t issued_at;    /* token iat, server clock, Unix seconds */
    int64_t expires_at;   /* token exp, server clock, Unix seconds */
    int64_t renew_after;  /* server clock, Unix seconds */
    int64_t seconds_left; /* by this host's monotonic clock, when the struct
                             was made; <= 0: lapsed */
    int overage;          /* 1 when granted past count, within the overage margin */
    int token_verified;   /* 1 when the token verified offline when the
                             struct was made (signature, sub, claims) */
} entitle_lease;

typedef struct entitle_lease_list {
    size_t count;
    entitle_lease** items; /* count pointers */
} entitle_lease_list;

/* ---- Library ------------------------------------------------------------ */

/* "MAJOR.MINOR.PATCH" of the library at run time; a static string. */
ENTITLE_API const char* entitle_version(void);
/* The library's ENTITLE_VERSION_NUM. */
ENTITLE_API unsigned entitle_version_num(void);

/* A static, never-NULL string naming `status`: the contract's error code for
 * server answers ("oversubscribed", "region_denied", ...), "ok", or a name
 * for a local outcome ("unavailable", "tls_error", "config_error", ...).
 * Unknown values give "unknown". */
ENTITLE_API const char* entitle_status_str(entitle_status status);

/* Log levels of the log handler. */
#define ENTITLE_LOG_ERROR 0
#define ENTITLE_LOG_WARNING 1
#define ENTITLE_LOG_INFO 2

/* Called with one line (no newline) for events a person should see: a
 * config file readable by others, clock skew past 120 s, a lease lost by the
 * renewer, retries. Never contains a token. May be called from any thread,
 * also the renewer's, while no lock of the library is held. */
typedef void (*entitle_log_fn)(int level, const char* message, void* user_data);

/* Process-wide log handler (as sqlite3_config(SQLITE_CONFIG_LOG)); NULL, the
 * default, drops the messages. Set it before opening handles. */
ENTITLE_API void entitle_set_log_handler(entitle_log_fn fn, void* user_data);

/* Frees memory the library returned through a char** out parameter. NULL ok. */
ENTITLE_API void entitle_free(void* p);
ENTITLE_API void entitle_lease_free(entitle_lease* lease);
ENTITLE_API void entitle_lease_list_free(entitle_lease_list* list);

/* ---- Handle ------------------------------------------------------------- */

/* Opens a handle on the host configuration file written by `entitlectl host
 * add` (contract section 3). Reads and checks the file (server_url https,
 * ca_pem, host_id, host_token, lease_keys) and prepares TLS; it does not
 * contact the server.
 *
 * As with sqlite3_open, *out receives a handle even when the file is
 * missing or malformed (ENTITLE_CONFIG_ERROR): entitle_last_error() says
 * why, every other call on it fails, and it must still be closed. *out is
 * NULL only with ENTITLE_NO_MEMORY or ENTITLE_INVALID_ARGUMENT.
 * A file readable by group or others is accepted with a warning through the
 * log handler (it holds the host token; the file should be mode 0600). */
ENTITLE_API entitle_status entitle_client_open(const char* config_path, entitle_client** out);

/* Stops the renewer (if started), frees everything. NULL is a no-op. Must not
 * be called from the lease-lost callback. */
ENTITLE_API void entitle_client_close(entitle_client* client);

/* A message for the last call this thread made on `client` that failed (""
 * if none). Valid until this thread's next call on the handle. Never NULL;
 * with a NULL handle, a static string. */
ENTITLE_API const char* entitle_last_error(entitle_client* client);

/* Copies of the configuration's host id and server URL; free with entitle_free. */
ENTITLE_API entitle_status entitle_host_id(entitle_client* client, char** out);
ENTITLE_API entitle_status entitle_server_url(entitle_client* client, char** out);

/* Deadline for one HTTPS exchange (connect, TLS, request, answer), in ms;
 * default 10000, 100..600000. */
ENTITLE_API entitle_status entitle_client_set_timeout(entitle_client* client, int64_t timeout_ms);

/* Retries of an exchange that ends ENTITLE_UNAVAILABLE: `max_attempts`
 * tries in all (1..100; default 5), sleeping a random time ("full jitter")
 * up to min(max_delay_ms, base_delay_ms * 2^n) between them (defaults 200
 * and 5000 ms; 0..600000). A checkout reuses its request_id on every try,
 * so a lost answer never takes a second seat. */
ENTITLE_API entitle_status entitle_client_set_retry(entitle_client* client, int max_attempts,
                                                    int64_t base_delay_ms, int64_t max_delay_ms);

/* Keeps the held leases in DIR/leases.json (created mode 0600; DIR made mode
 * 0700 if missing), written atomically (temporary file, fsync, rename) under
 * an exclusive lock of DIR/leases.lock, and re-read by every call, so
 * separate processes (hooks) share them: a lease checked out by one process
 * is renewed and released by another. Without it, held leases live in the
 * handle's memory only. Loads the file now: a file of another host is
 * ENTITLE_STATE_ERROR. */
ENTITLE_API entitle_status entitle_client_set_state_dir(entitle_client* client, const char* dir);

/* Milliseconds from a clock; `user_data` as given to entitle_client_set_clock. */
typedef int64_t (*entitle_clock_fn)(void* user_data);

/* Replaces the clocks, for tests: `monotonic_ms` (default CLOCK_BOOTTIME)
 * times leases, `wall_ms` (default the system clock, Unix ms) is used only
 * to report skew and to judge tokens that were not granted here. NULL for
 * either restores the system clock. Leases checked out before the change
 * keep their time reference: set clocks before the first checkout. */
ENTITLE_API entitle_status entitle_client_set_clock(entitle_client* client,
                                                    entitle_clock_fn monotonic_ms,
                                                    entitle_clock_fn wall_ms, void* user_data);

/* ---- Leases ------------------------------------------------------------- */

/* Checks out a lease for one vGPU (POST /v1/leases). `profile` may be NULL;
 * `out` may be NULL when only the status matters, else it receives the lease
 * (free with entitle_lease_free). The token is verified offline before the
 * call succeeds; one that does not verify is released again and the call
 * answers ENTITLE_TOKEN_INVALID.
 *
 * At most one lease per vGPU: when this handle (or its state directory)
 * already holds a lease for `vgpu_id` with the same feature, GPU and
 * profile, that lease is renewed and answered (or answered as it is when the
 * server is unreachable and it has time left); with other values,
 * ENTITLE_CONFLICT. A checkout that failed with ENTITLE_UNAVAILABLE is
 * remembered (in the state directory when set), and the next checkout of the
 * same vGPU with the same values reuses its request_id, so a grant whose
 * answer was lost is answered again, never granted twice. Refusals:
 * ENTITLE_OVERSUBSCRIBED, ENTITLE_REGION_DENIED,
 * ENTITLE_NO_ENTITLEMENT, ... */
ENTITLE_API entitle_status entitle_checkout(entitle_client* client, const char* feature,
                                            const char* gpu_uuid, const char* vgpu_id,
                                            const char* profile, entitle_lease** out);

/* Renews a lease (POST /v1/leases/{id}/renew); `out` may be NULL. A lease
 * not held here is renewed too and becomes held. ENTITLE_EXPIRED when it
 * lapsed (it is then dropped from the held leases). */
ENTITLE_API entitle_status entitle_renew(entitle_client* client, const char* lease_id,
                                         entitle_lease** out);

/* Releases a lease (DELETE /v1/leases/{id}) and drops it from the held
 * leases. Releasing a lease that already ended is ENTITLE_OK. */
ENTITLE_API entitle_status entitle_release(entitle_client* client, const char* lease_id);

/* Releases every lease of this host for `vgpu_id`: the held one, and any the
 * server lists for it (a lease whose answer was lost, or held by a process
 * whose state is gone). *released (may be NULL) receives how many. */
ENTITLE_API entitle_status entitle_release_vgpu(entitle_client* client, const char* vgpu_id,
                                                size_t* released);

/* The leases held here, each with seconds_left and token_verified computed
 * now, offline. Free with entitle_lease_list_free. */
ENTITLE_API entitle_status entitle_held_leases(entitle_client* client, entitle_lease_list** out);

/* Verifies a held lease offline: its token's signature (a key of the
 * config's lease_keys), typ, sub = this host, and time left by the monotonic
 * clock. ENTITLE_OK with *seconds_left (may be NULL) > 0; ENTITLE_EXPIRED
 * when it lapsed; ENTITLE_TOKEN_INVALID; ENTITLE_NOT_FOUND when not held. */
ENTITLE_API entitle_status entitle_lease_verify(entitle_client* client, const char* lease_id,
                                                int64_t* seconds_left);

/* Verifies any lease token offline (signature, typ, sub = this host) and
 * judges `exp` against the server's time as estimated from this host's wall
 * clock plus the skew last measured (entitle_clock_skew). `out` (may be NULL)
 * receives its claims. ENTITLE_OK, ENTITLE_EXPIRED or ENTITLE_TOKEN_INVALID. */
ENTITLE_API entitle_status entitle_token_verify(entitle_client* client, const char* token,
                                                entitle_lease** out);

/* Gives back the seats of vGPUs that no longer exist. `vgpu_ids` are the
 * vGPUs that really exist on this host now (count may be 0: none do).
 * Lists the host's active leases on the server (GET /v1/leases) and releases
 * every one whose vGPU is not in the list, then drops from the held leases
 * every lease not in the list or no longer active on the server. `released`
 * (may be NULL) receives the released leases (free with
 * entitle_lease_list_free). When the server is unreachable nothing changes
 * and the call answers ENTITLE_UNAVAILABLE. A lease being checked out
 * concurrently for a vGPU not yet created would be released: reconcile when
 * no vGPU is being created. */
ENTITLE_API entitle_status entitle_reconcile(entitle_client* client, const char* const* vgpu_ids,
                                             size_t count, entitle_lease_list** released);

/* The server's clock minus this host's, in seconds, as last measured from a
 * server answer (its Date header, or a fresh token's iat when the answer has
 * no Date). ENTITLE_NOT_FOUND before any answer. Past 120 s either way the
 * log handler gets a warning. */
ENTITLE_API entitle_status entitle_clock_skew(entitle_client* client, int64_t* server_minus_host);

/* ---- Background renewer ------------------------------------------------- */

/* Called once for each held lease the renewer could not keep: the server
 * refused the renewal (`why` = ENTITLE_EXPIRED, ENTITLE_NOT_FOUND,
 * ENTITLE_FORBIDDEN, ENTITLE_UNAUTHORIZED, ...) or the lease lapsed here while
 * the server was unreachable (ENTITLE_EXPIRED). The lease is no longer held
 * when it is called. Runs on the renewer thread with no lock held: it may
 * call functions of this header, but not entitle_renewer_stop or
 * entitle_client_close on this handle. */
typedef void (*entitle_lease_lost_fn)(const char* lease_id, const char* vgpu_id, entitle_status why,
                                      void* user_data);

/* Starts one thread that renews each held lease at its renew_after (timed by
 * the monotonic clock), retrying an unreachable server with exponential
 * backoff and jitter until the lease's time runs out. With a state
 * directory it re-reads the file at least every 30 s, so it renews leases
 * other processes check out. `lost` may be NULL. ENTITLE_CONFLICT if it runs
 * already. */
ENTITLE_API entitle_status entitle_renewer_start(entitle_client* client, entitle_lease_lost_fn lost,
                                                 void* user_data);

/* Stops and joins the renewer; ENTITLE_OK also when none runs. */
ENTITLE_API entitle_status entitle_renewer_stop(entitle_client* client);

#ifdef __cplusplus
}
#endif

#endif /* ENTITLE_ENTITLE_H */
