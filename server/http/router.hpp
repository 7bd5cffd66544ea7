// Maps method + path to a handler, running authentication and the role
// check first (one middleware for every route). Patterns are literal
// segments and `{name}` placeholders: "/v1/leases/{id}/renew".
//
// A handler gets the request context by reference and a Reply it must call
// exactly once, possibly later and from another thread (e.g. after a store
// commit). Whatever the handler needs after it returns it must copy out of
// the context. Routes are added before serving starts; dispatch is then
// safe from any thread.
#pragma once

#include <concepts>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/role.hpp"
#include "http/authenticator.hpp"
#include "http/message.hpp"

namespace entitle::http {

struct RequestContext {
    const Request& request;
    std::string_view path;   // without the query string
    std::string_view query;  // after '?', undecoded
    std::map<std::string, std::string, std::less<>> params;  // {name} -> segment
    std::optional<Principal> principal;                      // set on authenticated routes
    std::string_view remote;                                 // client address

    // The decoded value of ?name=..., or nullopt.
    [[nodiscard]] std::optional<std::string> query_param(std::string_view name) const;
};

// The way a handler answers. `reply(res)` answers with a finished response;
// `reply.build(fn)` hands over a function that makes the response, which the
// session runs on its own I/O thread. Store completions run on the store's
// syncer thread, one after another for a whole batch, so anything costly
// there (signing a lease token, rendering JSON, even building an empty
// answer's headers) goes through build() to keep them short.
// `reply(file_res)` answers with a body streamed from an open file.
// A Reply made from a plain callable (tests, fuzzing) runs the builder at
// once on the calling thread and hands it the answer with its body in
// memory (`buffered`).
class Reply {
public:
    using Build = std::move_only_function<Answer()>;
    using Sink = std::move_only_function<void(Build)>;

    Reply() = default;
    template <class F>
        requires(!std::same_as<std::remove_cvref_t<F>, Reply> && std::invocable<F&, Response>)
    Reply(F f)  // NOLINT(google-explicit-constructor): any callback answers a request
        : sink_([f = std::move(f)](Build b) mutable { f(buffered(b())); }) {}
    // Builders go to `sink`, which decides where they run.
    [[nodiscard]] static Reply deferred(Sink sink) {
        Reply r;
        r.sink_ = std::move(sink);
        return r;
    }

    // A finished answer: a Response or a FileResponse.
    void operator()(Answer res) {
        sink_([res = std::move(res)]() mutable { return std::move(res); });
    }
    void build(Build fn) { sink_(std::move(fn)); }
    explicit operator bool() const noexcept { return static_cast<bool>(sink_); }

private:
    Sink sink_;
};
using Handler = std::function<void(RequestContext&, Reply)>;
using SyncHandler = std::function<Response(RequestContext&)>;

// Who may call a route: nobody needs a token (`public_route`), or a role.
struct Access {
    std::optional<Role> role;  // nullopt = public
    // Extra roles admitted besides `role` and what role_satisfies allows.
    std::vector<Role> also;
};
inline const Access public_route{};
[[nodiscard]] inline Access requires_role(Role r, std::vector<Role> also = {}) {
    return Access{r, std::move(also)};
}

// What the session logs and counts for a request.
struct DispatchInfo {
    std::string route = "unmatched";  // the pattern, never the raw path
    std::string token_id;             // empty when unauthenticated
    std::string remote;               // client address, set by the session before dispatch
};

class AuthFailureTracker;
class RateLimiter;

class Router {
public:
    explicit Router(Authenticator& auth) : auth_(auth) {}

    void add(bhttp::verb method, std::string_view pattern, Access access, Handler handler);
    void add_sync(bhttp::verb method, std::string_view pattern, Access access, SyncHandler handler);
    // Throttles and audits failed authentication (optional; not owned).
    void set_auth_failure_tracker(AuthFailureTracker* tracker) { failures_ = tracker; }
    // Request rate limits (optional; not owned): per client address, checked
    // before anything else, and per access token, checked once the token is
    // authenticated. Both answer 429 `rate_limited` with Retry-After.
    void set_rate_limiters(RateLimiter* per_address, RateLimiter* per_token) {
        per_address_ = per_address;
        per_token_ = per_token;
    }

    // Finds the route (404 unknown path, 405 known path with another method,
    // with an Allow header), authenticates (401) and checks the role (403),
    // then calls the handler. Fills `info` before any reply.
    void dispatch(const Request& request, DispatchInfo& info, Reply reply);

private:
    struct Route {
        bhttp::verb method;
        std::string pattern;
        std::vector<std::string> segments;
        Access access;
        Handler handler;
    };
    static bool match(const Route& r, const std::vector<std::string_view>& segs,
                      std::map<std::string, std::string, std::less<>>* params);

    Authenticator& auth_;
    AuthFailureTracker* failures_ = nullptr;
    RateLimiter* per_address_ = nullptr;
    RateLimiter* per_token_ = nullptr;
    std::vector<Route> routes_;
};

}  // namespace entitle::http
