#include "http/metrics.hpp"

#include <boost/beast/http/verb.hpp>
#include <fmt/format.h>

namespace entitle::http {

namespace {

// HTTP lets a client send any token as a method; each distinct one would be
// a new series kept for the life of the process. Methods Beast does not
// know share one label.
std::string_view method_label(std::string_view method) {
    return boost::beast::http::string_to_verb(method) == boost::beast::http::verb::unknown ? "other"
                                                                                          : method;
}

}  // namespace

void Metrics::observe_request(const std::string& route, std::string_view method, int status,
                              double seconds) {
    std::size_t bucket = kBuckets.size();
    for (std::size_t i = 0; i < kBuckets.size(); ++i) {
        if (seconds <= kBuckets[i]) {
            bucket = i;
            break;
        }
    }
    method = method_label(method);
    std::lock_guard lock(mutex_);
    ++requests_[{route, std::string(method), status}];
    auto& l = latency_[{route, std::string(method)}];
    if (bucket < kBuckets.size()) ++l.buckets[bucket];
    ++l.count;
    l.sum += seconds;
}

std::string prometheus_label(std::string_view value) {
    std::string out;
    out.reserve(value.size());
    for (char c : value) {
        if (c == '\\' || c == '"') out.push_back('\\');
        if (c == '\n') {
            out += "\\n";
            continue;
        }
        out.push_back(c);
    }
    return out;
}

void Metrics::count_checkout(std::string_view result) {
    std::lock_guard lock(mutex_);
    auto it = checkouts_.find(result);
    if (it == checkouts_.end()) it = checkouts_.emplace(std::string(result), 0).first;
    ++it->second;
}

std::string Metrics::render() const {
    std::string out;
    out += "# HELP entitle_http_requests_total HTTP requests answered, by route pattern, method and status.\n";
    out += "# TYPE entitle_http_requests_total counter\n";
    std::lock_guard lock(mutex_);
    for (const auto& [key, n] : requests_) {
        const auto& [route, method, status] = key;
        out += fmt::format("entitle_http_requests_total{{route=\"{}\",method=\"{}\",status=\"{}\"}} {}\n",
                           route, method, status, n);
    }
    out += "# HELP entitle_http_request_duration_seconds Time from a complete request to its answer being queued.\n";
    out += "# TYPE entitle_http_request_duration_seconds histogram\n";
    for (const auto& [key, l] : latency_) {
        const auto& [route, method] = key;
        std::uint64_t cumulative = 0;
        for (std::size_t i = 0; i < kBuckets.size(); ++i) {
            cumulative += l.buckets[i];
            out += fmt::format(
                "entitle_http_request_duration_seconds_bucket{{route=\"{}\",method=\"{}\",le=\"{}\"}} {}\n",
                route, method, kBuckets[i], cumulative);
        }
        out += fmt::format(
            "entitle_http_request_duration_seconds_bucket{{route=\"{}\",method=\"{}\",le=\"+Inf\"}} {}\n",
            route, method, l.count);
        out += fmt::format("entitle_http_request_duration_seconds_sum{{route=\"{}\",method=\"{}\"}} {}\n",
                           route, method, l.sum);
        out += fmt::format("entitle_http_request_duration_seconds_count{{route=\"{}\",method=\"{}\"}} {}\n",
                           route, method, l.count);
    }
    out += "# HELP entitle_checkouts_total Lease checkouts by result.\n";
    out += "# TYPE entitle_checkouts_total counter\n";
    for (const auto& [result, n] : checkouts_) {
        out += fmt::format("entitle_checkouts_total{{result=\"{}\"}} {}\n", result, n);
    }
    out += "# HELP entitle_http_open_connections Client connections open now.\n";
    out += "# TYPE entitle_http_open_connections gauge\n";
    out += fmt::format("entitle_http_open_connections {}\n", open_connections());
    out += "# HELP entitle_http_refused_connections_total Connections closed at once because the connection limit was reached.\n";
    out += "# TYPE entitle_http_refused_connections_total counter\n";
    out += fmt::format("entitle_http_refused_connections_total {}\n",
                       refused_connections_.load(std::memory_order_relaxed));
    return out;
}

}  // namespace entitle::http
