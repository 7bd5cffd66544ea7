#include "http/router.hpp"

#include <algorithm>
#include <chrono>

#include <fmt/format.h>

#include "http/auth_failures.hpp"
#include "http/rate_limiter.hpp"

namespace entitle::http {

namespace {

std::vector<std::string_view> split_path(std::string_view path) {
    std::vector<std::string_view> out;
    std::size_t pos = 1;  // skip the leading '/'
    while (pos <= path.size()) {
        const auto next = path.find('/', pos);
        const auto end = next == std::string_view::npos ? path.size() : next;
        out.push_back(path.substr(pos, end - pos));
        if (next == std::string_view::npos) break;
        pos = next + 1;
    }
    return out;
}

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

std::optional<std::string> percent_decode(std::string_view s, bool plus_is_space) {
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '%') {
            if (i + 2 >= s.size()) return std::nullopt;
            const int hi = hex_value(s[i + 1]), lo = hex_value(s[i + 2]);
            if (hi < 0 || lo < 0) return std::nullopt;
            out.push_back(static_cast<char>(hi * 16 + lo));
            i += 2;
        } else if (plus_is_space && s[i] == '+') {
            out.push_back(' ');
        } else {
            out.push_back(s[i]);
        }
    }
    return out;
}

std::int64_t steady_now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

Response rate_limited(std::string message, std::int64_t retry_after_s) {
    auto res = error_response({ErrorCode::rate_limited, std::move(message)});
    res.set(bhttp::field::retry_after, std::to_string(retry_after_s));
    return res;
}

}  // namespace

std::optional<std::string> RequestContext::query_param(std::string_view name) const {
    std::string_view q = query;
    while (!q.empty()) {
        const auto amp = q.find('&');
        const auto pair = q.substr(0, amp);
        const auto eq = pair.find('=');
        const auto key = pair.substr(0, eq);
        if (percent_decode(key, true) == std::string(name)) {
            if (eq == std::string_view::npos) return std::string();
            return percent_decode(pair.substr(eq + 1), true);
        }
        if (amp == std::string_view::npos) break;
        q.remove_prefix(amp + 1);
    }
    return std::nullopt;
}

void Router::add(bhttp::verb method, std::string_view pattern, Access access, Handler handler) {
    Route r{method, std::string(pattern), {}, std::move(access), std::move(handler)};
    for (auto s : split_path(pattern)) r.segments.emplace_back(s);
    routes_.push_back(std::move(r));
}

void Router::add_sync(bhttp::verb method, std::string_view pattern, Access access,
                      SyncHandler handler) {
    add(method, pattern, std::move(access),
        [h = std::move(handler)](RequestContext& ctx, Reply reply) { reply(h(ctx)); });
}

bool Router::match(const Route& r, const std::vector<std::string_view>& segs,
                   std::map<std::string, std::string, std::less<>>* params) {
    if (r.segments.size() != segs.size()) return false;
    for (std::size_t i = 0; i < segs.size(); ++i) {
        const auto& want = r.segments[i];
        if (want.size() > 2 && want.front() == '{' && want.back() == '}') {
            if (segs[i].empty()) return false;
            if (params) {
                auto decoded = percent_decode(segs[i], false);
                if (!decoded) return false;
                (*params)[want.substr(1, want.size() - 2)] = std::move(*decoded);
            }
        } else if (want != segs[i]) {
            return false;
        }
    }
    return true;
}

void Router::dispatch(const Request& request, DispatchInfo& info, Reply reply) {
    if (per_address_) {
        if (auto wait = per_address_->acquire(info.remote, steady_now_ms())) {
            reply(rate_limited(fmt::format("too many requests from {}; retry in {} s", info.remote, *wait),
                               *wait));
            return;
        }
    }
    const std::string_view target = request.target();
    const auto qpos = target.find('?');
    const std::string_view path = target.substr(0, qpos);
    const std::string_view query =
        qpos == std::string_view::npos ? std::string_view{} : target.substr(qpos + 1);
    if (path.empty() || path.front() != '/') {
        reply(error_response({ErrorCode::invalid_request, "request target must be an absolute path"}));
        return;
    }
    const auto segs = split_path(path);

    const Route* found = nullptr;
    std::vector<std::string_view> allowed;
    for (const auto& r : routes_) {
        if (!match(r, segs, nullptr)) continue;
        if (r.method == request.method()) {
            found = &r;
            break;
        }
        allowed.push_back(bhttp::to_string(r.method));
    }
    if (!found) {
        if (allowed.empty()) {
            reply(error_response({ErrorCode::not_found, fmt::format("no route for {}", path)}));
            return;
        }
        info.route = std::string(path);  // bounded: only paths that match a pattern get here
        for (const auto& r : routes_) {
            if (match(r, segs, nullptr)) {
                info.route = r.pattern;
                break;
            }
        }
        auto res = error_response({ErrorCode::method_not_allowed,
                                   fmt::format("{} is not allowed on {}; allowed: {}",
                                               std::string_view(request.method_string()),
                                               info.route, fmt::join(allowed, ", "))});
        res.set(bhttp::field::allow, fmt::format("{}", fmt::join(allowed, ", ")));
        reply(std::move(res));
        return;
    }
    info.route = found->pattern;

    RequestContext ctx{request, path, query, {}, std::nullopt, info.remote};
    if (!match(*found, segs, &ctx.params)) {
        // Matching without params does not decode; a {name} segment with a
        // broken %-escape must not reach the handler without its param.
        reply(error_response(
            {ErrorCode::invalid_request, "malformed percent-encoding in the request path"}));
        return;
    }
    if (found->access.role) {
        auto who = auth_.authenticate(request[bhttp::field::authorization]);
        if (!who) {
            // A valid token is never throttled (a flood from a shared address
            // must not lock out its legitimate hosts); failures are counted,
            // audited in coalesced form, and past the limit answered 429.
            if (failures_ && who.error().code == ErrorCode::unauthorized) {
                failures_->record_failure(info.remote, who.error().message);
                if (auto wait = failures_->retry_after(info.remote)) {
                    reply(rate_limited(fmt::format("too many failed authentications from {}; retry in {} s",
                                                   info.remote, *wait),
                                       *wait));
                    return;
                }
            }
            reply(error_response(who.error()));
            return;
        }
        info.token_id = who->token_id;
        if (per_token_) {
            if (auto wait = per_token_->acquire(who->token_id, steady_now_ms())) {
                reply(rate_limited(
                    fmt::format("too many requests with token {}; retry in {} s", who->token_id, *wait),
                    *wait));
                return;
            }
        }
        const Role need = *found->access.role;
        const bool allowed_role =
            role_satisfies(who->role, need) ||
            std::ranges::find(found->access.also, who->role) != found->access.also.end();
        if (!allowed_role) {
            reply(error_response({ErrorCode::forbidden,
                                  fmt::format("this call needs the {} role; the token has {}",
                                              role_name(need), role_name(who->role))}));
            return;
        }
        ctx.principal = std::move(*who);
    }
    found->handler(ctx, std::move(reply));
}

}  // namespace entitle::http
