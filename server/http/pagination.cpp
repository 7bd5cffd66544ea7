#include "http/pagination.hpp"

#include <charconv>

#include <fmt/format.h>

namespace entitle::http {

namespace {
Result<std::int64_t> parse_int(const std::string& s, std::string_view name, std::int64_t lo, std::int64_t hi) {
    std::int64_t v = 0;
    const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (s.empty() || ec != std::errc{} || ptr != s.data() + s.size() || v < lo || v > hi) {
        return fail(ErrorCode::invalid_request,
                    fmt::format("query parameter {} must be an integer from {} to {}", name, lo, hi));
    }
    return v;
}
}  // namespace

Result<std::int64_t> page_limit(const RequestContext& ctx) {
    auto v = ctx.query_param("limit");
    if (!v) return kDefaultPageLimit;
    return parse_int(*v, "limit", 1, kMaxPageLimit);
}

Result<std::int64_t> integer_after(const RequestContext& ctx) {
    auto v = ctx.query_param("after");
    if (!v) return 0;
    return parse_int(*v, "after", 0, INT64_MAX);
}

}  // namespace entitle::http
